"""Flask: ``flask run`` (werkzeug's server) and gunicorn, with the recipe of docs/frameworks.md."""

from __future__ import annotations

import json
import os
import subprocess
import unittest

from .harness import PYTHON, WAIT, free_port, require
from .scenario import EditScenario

SERVE = """\
import os

import versioned_import as vi

vi.install(roots=[os.path.dirname(os.path.abspath(__file__))], watch=True)
app = vi.wsgi_app("shop.web:app")
"""

VIEWS = """\
def home():
    return {text!r}
{broken}"""

WEB = """\
from flask import Flask

import versioned_import as vi

from . import views

app = Flask(__name__)


@app.get("/")
def home():
    return views.home()


@app.post("/_rollback/<name>")
def rollback(name):
    return str(vi.rollback(name))
{extra}"""

NEW_ROUTE = """

@app.get("/new")
def new():
    return "a new route"
"""


class FlaskProject(EditScenario):
    views_module = "shop.views"

    def setUp(self) -> None:
        super().setUp()
        self.write("serve.py", SERVE)
        self.write("shop/__init__.py", "")
        self.write_views("home v1")
        self.write_app(new_route=False)

    def write_views(self, text: str, broken: bool = False) -> None:
        self.write("shop/views.py", VIEWS.format(text=text, broken="\ndef broken(:\n" if broken else ""))

    def write_app(self, new_route: bool) -> None:
        self.write("shop/web.py", WEB.format(extra=NEW_ROUTE if new_route else ""))


@require("flask", "werkzeug")
class FlaskRunTest(FlaskProject):
    def test_flask_run_serves_every_edit(self):
        port = free_port()
        # No --debug: werkzeug's reloader would restart the process instead.
        self.start(PYTHON, "-m", "flask", "--app", "serve:app", "run", "--port", str(port), port=port)
        self.run_edits()


@require("flask", "gunicorn")
class GunicornTest(FlaskProject):
    workers = 2

    def test_two_gunicorn_workers_each_serve_every_edit(self):
        port = free_port()
        self.start(PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(self.workers),
                   "serve:app", port=port)
        # A rollback asked of one worker reaches only that worker: not part of this scenario.
        self.run_edits(rollback=False)


FACTORY_PACKAGE = """\
from flask import Flask


def create_app():
    from . import views  # as app factories do: blueprints and views imported when called

    if views.DATABASE is None:
        raise RuntimeError("no DATABASE configured")
    app = Flask(__name__)
    app.add_url_rule("/", "home", views.home)
    return app
"""

FACTORY_VIEWS = """\
DATABASE = {database!r}


def home():
    return {text!r}
"""


@require("flask", "werkzeug")
class FlaskFactoryTest(FlaskProject):
    """``wsgi_app("shop:create_app()")``: a factory that raises on an edit refuses it; the previous app serves."""

    def test_a_factory_that_raises_leaves_the_previous_app_serving(self):
        self.write("shop/__init__.py", FACTORY_PACKAGE)
        self.write("shop/views.py", FACTORY_VIEWS.format(database="sqlite://", text="home v1"))
        self.write("serve.py", SERVE.replace('"shop.web:app"', '"shop:create_app()"'))
        port = free_port()
        self.start(PYTHON, "-m", "flask", "--app", "serve:app", "run", "--port", str(port), port=port)
        self.assertEqual(self.get("/"), (200, "home v1"))

        # The module imports fine; the factory raises with it. Requests flow meanwhile: every one is
        # answered by the previous app, until and after the refusal line.
        mark = len(self.server.lines)
        self.write("shop/views.py", FACTORY_VIEWS.format(database=None, text="home v2"))
        answers = self.answers_while("/", lambda: any("refused" in line for line in self.server.lines[mark:]))
        answers += [self.get("/") for _ in range(20)]
        self.assertEqual(set(answers), {(200, "home v1")}, self.server.output())
        refusals = [line for line in self.server.lines[mark:] if "refused" in line]
        self.assertEqual(len(refusals), 1, self.server.output())
        self.assertIn("RuntimeError: no DATABASE configured", refusals[0])

        self.write("shop/views.py", FACTORY_VIEWS.format(database="sqlite://", text="home v3"))
        self.serve_new_code("the fixed edit", "/", (200, "home v3"))


PRELOAD_CONF = """\
import os

import versioned_import as vi

# Executed by the master before --preload imports the app (docs/processes.md).
vi.install(roots=[os.path.dirname(os.path.abspath(__file__))], control=True)
preload_app = True
workers = 2
"""

PRELOAD_SERVE = """\
import versioned_import as vi

app = vi.wsgi_app("shop.web:app")
"""


@require("flask", "gunicorn")
class GunicornPreloadTest(FlaskProject):
    """gunicorn --preload: workers fork from a master holding the code; one command moves all of them."""

    workers = 2

    def environment(self) -> dict[str, str]:
        environment = super().environment()
        environment["VERSIONED_IMPORT_RUNTIME_DIR"] = os.path.join(self.root, "run")
        return environment

    def control(self, *arguments: str) -> tuple[int, dict]:
        done = subprocess.run([PYTHON, "-m", "versioned_import", *arguments, "--pid", str(self.server.process.pid),
                               "--json"], env=self.environment(), capture_output=True, text=True, timeout=WAIT)
        try:
            return done.returncode, json.loads(done.stdout)
        except ValueError:
            self.fail(f"no JSON from {arguments}: {done.stdout!r} {done.stderr!r}\n{self.server.output()}")

    def test_one_command_reloads_the_master_and_every_worker(self):
        self.write("gunicorn.conf.py", PRELOAD_CONF)
        self.write("serve.py", PRELOAD_SERVE)
        port = free_port()
        self.start(PYTHON, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                   "serve:app", port=port)
        self.assertEqual(self.get("/"), (200, "home v1"))
        self.wait_for("both workers' channels", lambda: len(self.control("status")[1].get("processes", [])) == 3)

        self.write_views("home v2")
        self.write_app(new_route=True)
        status, result = self.control("reload")
        self.assertEqual((status, result["outcome"]), (0, "published"), result)
        self.assertEqual(len(result["processes"]), 3, result)  # the master and both workers
        self.serve_new_code("the edit, in every worker", "/", (200, "home v2"))
        self.serve_new_code("the added route, in every worker", "/new", (200, "a new route"))

        # A syntax error is refused everywhere: every worker keeps serving the previous code.
        self.write_views("home v3", broken=True)
        status, result = self.control("reload")
        self.assertEqual((status, result["outcome"]), (1, "refused"), result)
        answers = {self.get("/") for _ in range(8 * self.workers)}
        self.assertEqual(answers, {(200, "home v2")})
        status, result = self.control("status")
        self.assertTrue(result["consistent"], result)


if __name__ == "__main__":
    unittest.main()
