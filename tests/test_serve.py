"""The WSGI and ASGI entry points (G15): real servers on 127.0.0.1 serve the newest application object.

The app modules build their application object the way Flask and FastAPI
do: a new object, with its own route table, each time the module executes.
Without the adapter a server keeps the first one, and a route added by an
edit is never served; with it, every request runs the app of the generation
current when it started, inside ``pinned()``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import unittest

import versioned_import as vi
from tests.servers import ASGIServer, WSGIServer, get
from tests.support import Sandbox
from versioned_import._core import state as _registry
from versioned_import._runtime import frameworks as _frameworks

VIEWS = """\
def home():
    return {text!r}
"""

WSGI_APP = """\
import sv_views


class App:
    def __init__(self, routes):
        self.routes = routes
        self.config = {{}}

    def __call__(self, environ, start_response):
        handler = self.routes.get(environ["PATH_INFO"])
        if handler is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no route"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [handler().encode()]


app = App({{"/": sv_views.home{extra}}})
"""

ASGI_APP = """\
import sv_views


class State:  # as Starlette's: attributes kept in a dict of its own

    def __init__(self):
        object.__setattr__(self, "_state", {{}})

    def __getattr__(self, name):
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self._state[name] = value


class App:
    def __init__(self, routes):
        self.routes = routes
        self.state = State()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.state.started_by = id(self)
                    scope["state"]["pool"] = "the pool"
                    await send({{"type": "lifespan.startup.complete"}})
                elif message["type"] == "lifespan.shutdown":
                    await send({{"type": "lifespan.shutdown.complete"}})
                    return
        handler = self.routes.get(scope["path"])
        if handler is None:
            await send({{"type": "http.response.start", "status": 404, "headers": []}})
            await send({{"type": "http.response.body", "body": b"no route"}})
            return
        await receive()
        body = handler().encode()
        if scope["path"] == "/state":
            body = (f"{{getattr(self.state, 'started_by', None) is not None}} {{scope['state'].get('pool')}} "
                    f"{{self.state.routes_at_import}}").encode()
        await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}})
        await send({{"type": "http.response.body", "body": body}})


app = App({{"/": sv_views.home, "/state": sv_views.home{extra}}})
app.state.routes_at_import = len(app.routes)
"""

NEW_ROUTE = ', "/new": lambda: "a new route"'


class ServeBehaviour:
    """Both adapters take the same edits; the test classes say how to serve and which app source to use."""

    APP: str

    def setUp(self) -> None:
        super().setUp()
        self.write("sv_views.py", VIEWS.format(text="home v1"))
        self.write("sv_app.py", self.APP.format(extra=""))
        self.install()
        import sv_app  # noqa: F401

    def serve(self):
        raise NotImplementedError

    def edit_views(self, text: str) -> None:
        self.write("sv_views.py", VIEWS.format(text=text))

    def requests_during(self, port: int, action, path: str = "/") -> list[tuple[int, str]]:
        """Request ``path`` over and over on another thread while ``action()`` runs here; return every answer."""
        return self.repeat_during(lambda: get(port, path), action, 5)

    def test_edits_routes_refusals_fixes_and_rollback_reach_the_server(self):
        with self.serve() as server:
            port = server.port
            self.assertEqual(get(port), (200, "home v1"))

            # Edit a body: the app module is a dependent of the views, so a new app object is built and served.
            self.edit_views("home v2")
            self.assertEqual(vi.reload_changed().reloaded, ("sv_views", "sv_app"))
            self.assertEqual(get(port), (200, "home v2"))

            # Add a route: a new app object with a new route table.
            self.assertEqual(get(port, "/new")[0], 404)
            self.write("sv_app.py", self.APP.format(extra=NEW_ROUTE))
            vi.reload_changed()
            self.assertEqual(get(port, "/new"), (200, "a new route"))

            # A syntax error while requests flow: refused, and every request is answered by the previous code.
            self.edit_views("home v3")
            self.write("sv_views.py", VIEWS.format(text="home v3") + "def broken(:\n")

            def refused():
                with self.assertRaises(vi.ReloadError):
                    vi.reload_changed()

            answers = self.requests_during(port, refused)
            self.assertGreaterEqual(len(answers), 5)
            self.assertEqual(set(answers), {(200, "home v2")})

            # Fix it: the next request runs the fixed code, and the added route is still there.
            self.edit_views("home v4")
            vi.reload_changed()
            self.assertEqual(get(port), (200, "home v4"))
            self.assertEqual(get(port, "/new"), (200, "a new route"))

            # Roll back the last reload (the fixed views and the app it rebuilt): the previous app object serves.
            vi.rollback("sv_app")
            self.assertEqual(get(port), (200, "home v2"))
            self.assertEqual(get(port, "/new")[0], 200)  # the generation before had the route too

    def test_the_watcher_brings_an_added_route_to_the_server(self):
        vi.watch(interval=0.05)
        with self.serve() as server:
            self.assertEqual(get(server.port, "/new")[0], 404)
            self.write("sv_app.py", self.APP.format(extra=NEW_ROUTE))
            self.wait_until(lambda: get(server.port, "/new")[0] == 200, "the added route to be served")
            self.assertEqual(get(server.port, "/new"), (200, "a new route"))


class WSGITest(ServeBehaviour, Sandbox):
    APP = WSGI_APP

    def serve(self):
        return WSGIServer(vi.wsgi_app("sv_app:app"))

    def test_the_adapter_stands_in_for_the_newest_app_object(self):
        import sv_app

        adapter = vi.wsgi_app("sv_app:app")
        self.assertIsInstance(adapter, sv_app.App)  # what `flask run` checks of what it loads
        self.assertIs(adapter.routes, sv_app.app.routes)
        adapter.debug = True  # as `flask run` does: applied now, and to every newer app object
        self.assertTrue(sv_app.app.debug)
        first = sv_app.app
        self.write("sv_app.py", self.APP.format(extra=NEW_ROUTE))
        vi.reload("sv_app")
        environ = {"PATH_INFO": "/new", "REQUEST_METHOD": "GET"}
        self.assertEqual(list(adapter(environ, lambda status, headers: None)), [b"a new route"])
        self.assertIsNot(sv_app.app, first)
        self.assertTrue(sv_app.app.debug)
        self.assertIn("sv_app:app", repr(adapter))

    def test_a_streamed_body_runs_the_code_its_request_started_with(self):
        self.write("sv_stream.py", """\
            import sv_views

            def app(environ, start_response):
                start_response("200 OK", [])
                def body():
                    yield sv_views.home().encode()
                    yield b" then "
                    yield sv_views.home().encode()
                return body()
        """)
        import sv_stream  # noqa: F401

        adapter = vi.wsgi_app("sv_stream:app")
        body = adapter({"PATH_INFO": "/"}, lambda status, headers: None)
        parts = [next(body)]
        self.edit_views("home v2")
        vi.reload("sv_views")  # published half-way through the response
        parts += list(body)
        body.close()
        self.assertEqual(b"".join(parts), b"home v1 then home v1")
        self.assertEqual(b"".join(adapter({"PATH_INFO": "/"}, lambda s, h: None)), b"home v2 then home v2")
        self.assertEqual(_registry.state.pinned_stale, set(), "a closed body still holds its pin")

    def test_a_factory_target_is_rebuilt_after_every_publish(self):
        self.write("sv_factory.py", """\
            calls = []

            def create():
                import sv_views  # imported when called, as app factories do
                calls.append(1)
                text = sv_views.home()
                def app(environ, start_response):
                    start_response("200 OK", [])
                    return [text.encode()]
                return app
        """)
        import sv_factory

        adapter = vi.wsgi_app("sv_factory:create()")
        call = lambda: b"".join(adapter({"PATH_INFO": "/"}, lambda s, h: None))  # noqa: E731
        self.assertEqual((call(), call()), (b"home v1", b"home v1"))
        self.assertEqual(len(sv_factory.calls), 1)
        self.edit_views("home v2")
        vi.reload("sv_views", dependents=False)
        self.assertEqual((call(), call()), (b"home v2", b"home v2"))
        self.assertEqual(len(sv_factory.calls), 2)

    def test_targets_are_checked_at_start_up(self):
        for target in ("sv_app", "sv_app:", ":app", "sv_app:a-b", "sv app:app", "sv_app:app()x"):
            with self.subTest(target=target), self.assertRaises(ValueError):
                vi.wsgi_app(target)
        with self.assertRaises(TypeError):
            vi.wsgi_app(42)
        with self.assertRaises(AttributeError):
            vi.wsgi_app("sv_app:missing")
        with self.assertRaises(ModuleNotFoundError):
            vi.wsgi_app("sv_not_there:app")
        with self.assertRaises(vi.NotVersionedError) as caught:
            vi.wsgi_app("json:dumps")  # never versioned: a reload could never reach the server
        self.assertIn("install", str(caught.exception))


class ASGITest(ServeBehaviour, Sandbox):
    APP = ASGI_APP

    def serve(self):
        return ASGIServer(vi.asgi_app("sv_app:app"))

    def test_lifespan_state_survives_a_new_app_object(self):
        import sv_app

        with self.serve() as server:
            self.assertEqual(get(server.port, "/state"), (200, "True the pool 2"))
            first = sv_app.app
            self.write("sv_app.py", self.APP.format(extra=NEW_ROUTE))
            vi.reload("sv_app")
            self.assertIsNot(sv_app.app, first)
            # The new app object never ran the start-up; it shares the state of the one that did,
            # with what the new code put there at import time merged in.
            self.assertEqual(get(server.port, "/state"), (200, "True the pool 3"))
            self.assertIs(sv_app.app.state, first.state)
        self.assertEqual([m["type"] for m in server.lifespan_messages],
                         ["lifespan.startup.complete", "lifespan.shutdown.complete"])

    def test_each_request_and_websocket_connection_is_pinned(self):
        self.write("sv_ws.py", """\
            import sv_views

            async def app(scope, receive, send):
                await send({"type": scope["type"] + ".first", "text": sv_views.home()})
                await receive()  # a reload publishes here
                await send({"type": scope["type"] + ".second", "text": sv_views.home()})
        """)
        import sv_ws  # noqa: F401

        adapter = vi.asgi_app("sv_ws:app")

        async def connection(kind):
            sent = []
            go = asyncio.Event()

            async def receive():
                await go.wait()
                return {"type": "websocket.receive"}

            async def send(message):
                sent.append(message["text"])

            task = asyncio.create_task(adapter({"type": kind}, receive, send))
            while not sent:
                await asyncio.sleep(0)
            return task, go, sent

        async def main():
            results = {}
            for kind in ("http", "websocket"):
                self.edit_views(f"{kind} v1")
                vi.reload("sv_views")
                task, go, sent = await connection(kind)
                self.edit_views(f"{kind} v2")
                vi.reload("sv_views")
                go.set()
                await asyncio.wait_for(task, 60)
                results[kind] = sent
            return results

        results = asyncio.run(main())
        self.assertEqual(results, {"http": ["http v1", "http v1"], "websocket": ["websocket v1", "websocket v1"]})
        self.assertEqual(_registry.state.pinned_stale, set())

    def test_cached_openapi_documents_of_served_apps_are_dropped_on_publish(self):
        import sv_app

        adapter = vi.asgi_app("sv_app:app")  # noqa: F841  (the adapter registers the app it serves)
        sv_app.app.openapi_schema = {"paths": {"/": {}}}
        if "fastapi" not in sys.modules:
            # A stand-in: the refresher only asks whether the framework is loaded.
            sys.modules["fastapi"] = type(sys)("fastapi")
        self.edit_views("home v2")
        vi.reload("sv_views", dependents=False)
        self.assertIsNone(sv_app.app.openapi_schema)


class FrameworkCachesTest(Sandbox):
    def test_no_framework_is_touched_unless_it_is_loaded(self):
        self.write("fc_mod.py", "VALUE = 1\n")
        self.install()
        import fc_mod  # noqa: F401

        loaded = {name for name in _frameworks.REFRESHERS if name in sys.modules}
        vi.reload("fc_mod")
        self.assertEqual({name for name in _frameworks.REFRESHERS if name in sys.modules}, loaded)

    @unittest.skipIf("django" in sys.modules, "the real Django is loaded in this process")
    def test_django_url_and_template_caches_are_dropped_on_publish(self):
        # A stand-in django package (real files, first on sys.path) that counts what is called.
        self.write("django/__init__.py", "CALLS = []\n")
        self.write("django/urls.py", "import django\n\ndef clear_url_caches():\n    django.CALLS.append('urls')\n")
        self.write("django/template/__init__.py", """\
            class _Engines:
                pass

            engines = _Engines()
            engines.templates = "cached"
        """)
        self.write("django/template/engine.py", """\
            import functools
            import django

            class Engine:
                @staticmethod
                @functools.lru_cache
                def get_default():
                    django.CALLS.append('engine built')
        """)
        import django
        import django.template
        import django.template.engine
        import django.urls

        self.write("fc_views.py", "VALUE = 1\n")
        self.install()
        import fc_views  # noqa: F401

        django.template.engine.Engine.get_default()
        vi.reload("fc_views")
        self.assertEqual(django.CALLS[:2], ["engine built", "urls"])
        self.assertNotIn("templates", vars(django.template.engines))
        self.assertEqual(django.template.engines._engines, {})
        django.template.engine.Engine.get_default()
        self.assertEqual(django.CALLS, ["engine built", "urls", "engine built"])


    @unittest.skipIf("django" in sys.modules, "the real Django is loaded in this process")
    def test_a_reader_of_older_code_leaves_no_cache_behind(self):
        # A request pinned before a publish may rebuild the dropped URL cache from the old urlpatterns
        # (Django resolves after the middleware): the caches go again when it ends, and only then.
        self.write("django/__init__.py", "CALLS = []\n")
        self.write("django/urls.py", "import django\n\ndef clear_url_caches():\n    django.CALLS.append('urls')\n")
        import django
        import django.urls

        self.write("fc_urls.py", "VALUE = 1\n")
        self.install()
        import fc_urls  # noqa: F401

        with vi.pinned():
            pass
        self.assertEqual(django.CALLS, [])  # a reader of the current code changes nothing
        with vi.pinned():
            vi.reload("fc_urls")
            self.assertEqual(django.CALLS, ["urls"])
        self.assertEqual(django.CALLS, ["urls", "urls"])
        with vi.pinned():
            pass
        self.assertEqual(django.CALLS, ["urls", "urls"])


class ShapesFrameworksHoldTest(Sandbox):
    """References shaped as frameworks keep them, found when a reload rewrites references to a class."""

    def test_a_tuple_holding_a_metaclass_and_the_class(self):
        # pydantic keeps tuples like (type, Model) where a reload finds them; `type.__subclasses__`
        # must then be asked about the metaclass too, `type` itself included.
        self.write("sh_registry.py", "PAIRS = []\n")
        source = "import sh_registry\n\nclass Item:\n    def kind(self):\n        return {}\n\n" \
                 "sh_registry.PAIRS.append((type, Item))\n"
        self.write("sh_model.py", source.format(1))
        self.install()
        import sh_model
        import sh_registry

        kept = sh_model.Item
        self.write("sh_model.py", source.format(2))
        vi.reload("sh_model", dependents=False)
        self.assertIs(sh_model.Item, kept)
        self.assertEqual([pair[1]().kind() for pair in sh_registry.PAIRS], [2, 2])


class LogLinesTest(Sandbox):
    SCRIPT = """\
        import logging, os, sys
        import versioned_import as vi
        {configure}
        vi.install()
        import lg_mod
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lg_mod.py")
        open(path, "w").write("VALUE = 2\\n")
        vi.reload("lg_mod")
        open(path, "w").write("VALUE = (\\n")
        try:
            vi.reload("lg_mod")
        except vi.ReloadError:
            pass
        vi.rollback("lg_mod")
    """

    def run_script(self, configure: str = ""):
        self.write("lg_mod.py", "VALUE = 1\n")
        self.write("lg_main.py", self.SCRIPT.format(configure=configure))
        result = self.run_python("lg_main.py")
        self.assertProcessOK(result)
        return [line for line in result.stderr.splitlines() if line.strip()]

    def test_without_logging_configured_one_stderr_line_each(self):
        lines = self.run_script()
        self.assertEqual(len(lines), 3, lines)
        published, refused, rolled_back = lines
        self.assertTrue(all(line.startswith("[versioned_import] ") for line in lines), lines)
        self.assertIn("reloaded lg_mod (gen 2) in", published)
        self.assertIn(f"refused: {os.path.join(self.root, 'lg_mod.py')}:1: SyntaxError", refused)
        self.assertIn("rolled back lg_mod (gen", rolled_back)

    def test_configured_logging_gets_the_lines_and_nothing_else_prints(self):
        lines = self.run_script("logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s %(message)s')")
        self.assertEqual(len(lines), 3, lines)
        self.assertTrue(lines[0].startswith("INFO versioned_import reloaded lg_mod"), lines)
        self.assertTrue(lines[1].startswith("ERROR versioned_import refused: "), lines)
        self.assertTrue(lines[2].startswith("INFO versioned_import rolled back lg_mod"), lines)

    def test_configured_at_warning_shows_refusals_only(self):
        lines = self.run_script("logging.basicConfig()")
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("ERROR:versioned_import:refused: "), lines)

    def test_a_record_carries_the_report_and_the_full_error(self):
        self.write("lg_rec.py", "VALUE = 1\n")
        self.install()
        import lg_rec  # noqa: F401

        self.write("lg_rec.py", "VALUE = (\n")
        with self.assertLogs("versioned_import", logging.INFO) as logs, self.assertRaises(vi.ReloadError) as caught:
            vi.reload("lg_rec")
        (record,) = logs.records
        self.assertIs(record.error, caught.exception)
        self.assertFalse(record.report.ok)
        self.assertNotIn("\n", record.getMessage())


if __name__ == "__main__":
    unittest.main()
