"""The edits every framework test makes to a running server, and what each must serve meanwhile."""

from __future__ import annotations

from .harness import FrameworkCase


class EditScenario(FrameworkCase):
    """Subclasses write the project and start its server; ``run_edits`` drives the same edits for all.

    ``write_views(text, broken=False)`` writes the module holding the home
    view; ``write_app(new_route)`` the module that builds the app (or the
    URLs); ``views_module`` names the first for rollback.
    """

    views_module: str
    workers = 1

    def write_views(self, text: str, broken: bool = False) -> None:
        raise NotImplementedError

    def write_app(self, new_route: bool) -> None:
        raise NotImplementedError

    def serve_new_code(self, what: str, path: str, expected: tuple[int, str]) -> None:
        self.wait_for(what, lambda: self.get(path) == expected, consecutive=4 * self.workers)

    def refusals(self, after: int) -> int:
        return sum("[versioned_import] refused:" in line for line in self.server.lines[after:])

    def run_edits(self, rollback: bool = True) -> None:
        self.assertEqual(self.get("/"), (200, "home v1"))

        self.write_views("home v2")
        self.serve_new_code("the edited view body", "/", (200, "home v2"))

        self.assertEqual(self.get("/new")[0], 404)
        self.write_app(new_route=True)
        self.serve_new_code("the added route", "/new", (200, "a new route"))

        # A syntax error while requests flow: every answer comes from the previous code.
        mark = len(self.server.lines)
        self.write_views("home v3", broken=True)
        answers = self.answers_while("/", lambda: self.refusals(mark) >= self.workers)
        self.assertEqual(set(answers), {(200, "home v2")}, self.server.output())

        self.write_views("home v4")
        self.serve_new_code("the fixed view", "/", (200, "home v4"))
        self.assertEqual(self.get("/new"), (200, "a new route"))

        if rollback:
            status, body = self.get(f"/_rollback/{self.views_module}", method="POST")
            self.assertEqual(status, 200, body)
            self.assertEqual(self.get("/"), (200, "home v2"))

        # One line per publish and per refusal, each printed once (a worker that started late may have
        # imported an edited file as its first generation: at least the three edits of one worker).
        self.assertGreaterEqual(sum("[versioned_import] reloaded" in line for line in self.server.lines), 3,
                                self.server.output())
        self.assert_one_line_each("[versioned_import]", processes=self.workers)
