"""docs/examples/wsgi_service works as docs/embedding.md says: edit routes.py, reload, the next response is new."""

import importlib
import io
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import unittest
import urllib.request
from wsgiref.util import setup_testing_defaults

import versioned_import as vi
from tests.support import REPO, Sandbox

EXAMPLE = os.path.join(REPO, "docs", "examples", "wsgi_service")
WAIT = 10.0  # bound on every wait for the server process (seconds), never a timing


def edited(source: str) -> str:
    """The edit a reader would make: new text on '/', and a new page."""
    assert "Hello from the first version of routes.py" in source
    source = source.replace("Hello from the first version of routes.py", "Hello from the edited routes.py")
    return source.replace('    "/stats": stats,\n', '    "/stats": stats,\n    "/version": lambda environ: "2\\n",\n')


class ExampleCase(Sandbox):
    def setUp(self):
        super().setUp()
        self.service = os.path.join(self.root, "wsgi_service")
        shutil.copytree(EXAMPLE, self.service, ignore=shutil.ignore_patterns("__pycache__"))
        self.routes_path = os.path.join(self.service, "routes.py")
        importlib.invalidate_caches()

    def edit_routes(self, change) -> None:
        with open(self.routes_path, encoding="utf-8") as stream:
            source = stream.read()
        with open(self.routes_path, "w", encoding="utf-8") as stream:
            stream.write(change(source))
        importlib.invalidate_caches()


class InProcessTest(ExampleCase):
    def get(self, app, path):
        environ = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = path
        environ["wsgi.errors"] = io.StringIO()
        answer = {}

        def start_response(status, headers):
            answer["status"], answer["headers"] = status, headers

        body = b"".join(app(environ, start_response)).decode("utf-8")
        return answer["status"], body

    def test_edit_reload_and_the_next_response_is_new(self):
        sys.path.insert(0, self.service)
        import serve

        app = serve.make_app(watch=False)
        self.assertEqual(self.get(app, "/"), ("200 OK", "Hello from the first version of routes.py\n"))
        self.assertEqual(self.get(app, "/version")[0], "404 Not Found")

        self.edit_routes(edited)
        report = vi.reload("routes")
        self.assertEqual(report.reloaded, ("routes",))
        self.assertEqual(self.get(app, "/"), ("200 OK", "Hello from the edited routes.py\n"))
        # The route table was rebuilt by the on_reload subscriber.
        self.assertEqual(self.get(app, "/version"), ("200 OK", "2\n"))
        # The counters crossed the reload through __reload__(old): '/' was served twice.
        status, stats = self.get(app, "/stats")
        self.assertEqual(status, "200 OK")
        self.assertIn("/ 2\n", stats)

        # A broken edit is refused and the service keeps answering with the last good code.
        self.edit_routes(lambda source: source + "\ndef broken(:\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload_changed()
        self.assertEqual(self.get(app, "/"), ("200 OK", "Hello from the edited routes.py\n"))
        self.assertEqual(self.get(app, "/version"), ("200 OK", "2\n"))


class ServerProcessTest(ExampleCase):
    def test_serve_py_takes_an_edit_without_a_restart(self):
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([REPO, environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        process = subprocess.Popen(
            [sys.executable, "serve.py", "0"], cwd=self.service, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(process.kill)
        lines = queue.Queue()
        errors = []  # stderr is drained too: wsgiref logs every request there
        readers = [threading.Thread(target=lambda stream=stream, sink=sink: [sink(line) for line in stream], daemon=True)
                   for stream, sink in ((process.stdout, lines.put), (process.stderr, errors.append))]
        for reader in readers:
            reader.start()
        try:
            banner = lines.get(timeout=WAIT)
        except queue.Empty:
            process.kill()
            process.wait(WAIT)
            self.fail("serve.py printed nothing\n" + "".join(errors))
        self.assertIn("serving http://127.0.0.1:", banner)
        url = banner.split()[1]

        def get(path):
            try:
                with urllib.request.urlopen(url.rstrip("/") + path, timeout=WAIT) as response:
                    return response.read().decode("utf-8")
            except urllib.error.HTTPError as error:
                return f"HTTP {error.code}"

        self.assertEqual(get("/"), "Hello from the first version of routes.py\n")
        self.edit_routes(edited)
        # The watcher picks the edit up: poll, with a bound, for the new response.
        deadline = time.monotonic() + WAIT
        pause = threading.Event()
        # The new route appears once serve.py's on_reload subscriber has rebuilt its table, just after
        # the publish that already serves the new text of "/": wait for both.
        while get("/") != "Hello from the edited routes.py\n" or get("/version") != "2\n":
            if time.monotonic() > deadline or process.poll() is not None:
                self.fail("the running server never served the edited routes.py")
            pause.wait(0.05)
        self.assertRegex(get("/stats"), r"(?m)^/ \d+$")

        # A broken edit: logged with file and line (no logging set up: one line on stderr),
        # and the service keeps answering with the last good code.
        self.edit_routes(lambda source: source + "\ndef broken(:\n")
        deadline = time.monotonic() + WAIT
        while not any("routes.py:" in line and "SyntaxError" in line for line in errors):
            if time.monotonic() > deadline or process.poll() is not None:
                self.fail("the refused edit was never logged\n" + "".join(errors))
            pause.wait(0.05)
        self.assertEqual(get("/"), "Hello from the edited routes.py\n")

        # Not SIGINT: wsgiref's handler swallows a KeyboardInterrupt that lands while it finishes a request.
        process.terminate()
        process.wait(WAIT)
        for reader in readers:
            reader.join(WAIT)  # they end at end of file, once the server has exited
        process.stdout.close()
        process.stderr.close()
        err = "".join(errors)
        self.assertNotIn("Traceback", err)  # wsgiref prints one for any request the app failed


class StateIdiomTest(Sandbox):
    """embedding.md, section 4: the old NameError idiom restarts empty; __reload__(old) carries state."""

    def test_name_error_idiom_resets_and_reload_hook_carries(self):
        self.write("emb_state.py", """\
            try:
                cache
            except NameError:
                cache = {}

            kept = {}


            def __reload__(old):
                global kept
                kept = old.kept
        """)
        self.install()
        import emb_state

        emb_state.cache["a"] = 1
        emb_state.kept["a"] = 1
        vi.reload("emb_state")
        self.assertEqual(emb_state.cache, {})
        self.assertEqual(emb_state.kept, {"a": 1})

        # A hook that raises refuses the reload: the old generation and its state stay live.
        self.write("emb_state.py", "kept = {}\n\n\ndef __reload__(old):\n    raise ValueError('incompatible state')\n")
        with self.assertRaises(vi.ReloadError) as refused:
            vi.reload("emb_state")
        self.assertIsInstance(refused.exception.__cause__, ValueError)
        self.assertEqual(vi.generation("emb_state"), 2)
        self.assertEqual(emb_state.kept, {"a": 1})


if __name__ == "__main__":
    unittest.main()
