"""App factories are part of the reload's transaction (G4, G15): a factory that raises refuses the reload.

``wsgi_app("pkg.mod:create()")`` builds the application object inside the
transaction, on the reloading thread, once the new generations executed. An
edit that imports fine but makes the factory raise is refused like a module
raising at import: one refusal line, ``on_reload`` told, ``ReloadError`` whose
cause is the factory's exception, and the previous app keeps serving every
request. Rollback serves the earlier app object again without calling the
factory.
"""

from __future__ import annotations

import gc
import logging
import traceback
import weakref

import versioned_import as vi
from tests.servers import ASGIServer, WSGIServer, get
from tests.support import Sandbox
from versioned_import import _reload
from versioned_import._core import state as _registry

VIEWS = """\
BROKEN = {broken!r}


def home():
    return {text!r}
"""

# The factory imports when called, as app factories do; every call and every app it made is counted.
FACTORY = """\
import weakref

calls = []
made = []


def create():
    import sv_views

    calls.append(1)
    if sv_views.BROKEN:
        raise RuntimeError("the factory cannot build the app: " + sv_views.BROKEN)
    text = sv_views.home()
{app}
    made.append(weakref.ref(app))
    return app
"""

WSGI_APP = """\
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text.encode()]
"""

ASGI_APP = """\
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rpartition(".")[2]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": text.encode()})
"""


class FactoryBehaviour:
    """Both adapters; the test classes say how to serve and which app the factory makes."""

    APP: str

    def setUp(self) -> None:
        super().setUp()
        self.edit_views("home v1")
        self.factory_path = self.write("sv_factory.py", FACTORY.format(app=self.APP))
        self.install()
        import sv_factory

        self.factory = sv_factory
        self.reports: list[vi.ReloadReport] = []
        self.addCleanup(vi.on_reload(self.reports.append))

    def serve(self):
        raise NotImplementedError

    def edit_views(self, text: str, broken: str | None = None) -> None:
        self.write("sv_views.py", VIEWS.format(text=text, broken=broken))

    def requests_during(self, port: int, action) -> list[tuple[int, str]]:
        """Request ``/`` over and over on another thread while ``action()`` runs here; return every answer."""
        return self.repeat_during(lambda: get(port), action, 20)

    def refusals_logged(self) -> list[str]:
        return [r.getMessage() for r in self.logged if r.levelno >= logging.ERROR]

    def test_a_factory_that_raises_refuses_the_reload_and_the_previous_app_serves_every_request(self):
        with self.serve() as server:
            self.assertEqual(get(server.port), (200, "home v1"))
            calls = len(self.factory.calls)
            self.edit_views("home v2", broken="no database")  # imports fine; the factory raises with it
            caught: list[vi.ReloadError] = []

            def refused():
                with self.assertRaises(vi.ReloadError) as context:
                    vi.reload_changed()
                caught.append(context.exception)

            answers = self.requests_during(server.port, refused)
            self.assertGreaterEqual(len(answers), 20)
            self.assertEqual(set(answers), {(200, "home v1")})
            # The factory ran once, inside the refused transaction, not once per request.
            self.assertEqual(len(self.factory.calls), calls + 1)

            (error,) = caught
            self.assertEqual((error.module, error.path), ("sv_factory", self.factory_path))
            self.assertIsInstance(error.__cause__, RuntimeError)
            frames = traceback.extract_tb(error.__cause__.__traceback__)
            self.assertEqual((frames[-1].filename, frames[-1].name), (self.factory_path, "create"))
            self.assertIn("app factory 'sv_factory:create()'", str(error))
            self.assertIn("no database", str(error))
            self.assertEqual([r.error for r in self.reports], [error])
            self.assertEqual(len(self.refusals_logged()), 1, self.refusals_logged())
            self.assertEqual(vi.generation("sv_views"), 1)  # nothing was published

            # The fix is served, built once in its transaction.
            self.edit_views("home v3")
            self.assertEqual(vi.reload_changed().reloaded, ("sv_views",))
            self.assertEqual(get(server.port), (200, "home v3"))
            self.assertEqual(get(server.port), (200, "home v3"))
            self.assertEqual(len(self.factory.calls), calls + 2)

    def test_rollback_serves_the_earlier_app_object_without_calling_the_factory(self):
        adapter = self.adapter()
        with self.serve(adapter) as server:
            first = self.factory.made[-1]()
            self.edit_views("home v2")
            vi.reload("sv_views")
            self.assertEqual(get(server.port), (200, "home v2"))
            calls = len(self.factory.calls)
            vi.rollback("sv_views")
            self.assertEqual(get(server.port), (200, "home v1"))
            self.assertEqual(len(self.factory.calls), calls)
            self.assertIs(adapter._latest, first)

    def test_an_edit_that_breaks_the_factory_module_itself_is_refused(self):
        with self.serve() as server:
            source = FACTORY.format(app=self.APP).replace("calls.append(1)", "calls.append(1)\n    1 / 0")
            self.write("sv_factory.py", source)
            with self.assertRaises(vi.ReloadError) as caught:
                vi.reload_changed()
            self.assertIsInstance(caught.exception.__cause__, ZeroDivisionError)
            self.assertIn("1 / 0", str(caught.exception))  # the offending line of the new source
            self.assertEqual(vi.generation("sv_factory"), 1)
            self.assertEqual(get(server.port), (200, "home v1"))

    def test_a_staged_reload_builds_the_app_and_an_abandoned_one_drops_it(self):
        adapter = self.adapter()
        self.edit_views("home v2")
        staged = _reload.stage(_registry.state, ["sv_views"])
        built = self.factory.made[-1]
        staged.abandon()
        gc.collect()
        self.assertIsNone(built(), "the app built for an abandoned reload is still held")
        with self.serve(adapter) as server:
            self.assertEqual(get(server.port), (200, "home v1"))
        # A two-step reload (coordinated over workers) is refused at its first step, before any publish.
        self.edit_views("home v2", broken="no cache")
        with self.assertRaises(vi.ReloadError):
            _reload.stage(_registry.state, ["sv_views"])
        self.assertEqual(vi.generation("sv_views"), 1)

    def test_a_dropped_adapter_takes_no_part_in_later_reloads(self):
        adapter = weakref.ref(self.adapter())
        gc.collect()
        self.assertIsNone(adapter())
        calls = len(self.factory.calls)
        self.edit_views("home v2", broken="nobody serves this")
        self.assertEqual(vi.reload("sv_views").reloaded, ("sv_views",))
        self.assertEqual(len(self.factory.calls), calls)
        self.assertEqual(_registry.state.stage_hooks, [])


class WSGIFactoryTest(FactoryBehaviour, Sandbox):
    APP = WSGI_APP

    def adapter(self):
        return vi.wsgi_app("sv_factory:create()")

    def serve(self, adapter=None):
        return WSGIServer(adapter or self.adapter())


class ASGIFactoryTest(FactoryBehaviour, Sandbox):
    APP = ASGI_APP

    def adapter(self):
        return vi.asgi_app("sv_factory:create()")

    def serve(self, adapter=None):
        return ASGIServer(adapter or self.adapter())
