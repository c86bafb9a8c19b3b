"""Flask: ``flask run`` (werkzeug's server) and gunicorn, with the recipe of docs/frameworks.md."""

from __future__ import annotations

import unittest

from .harness import PYTHON, free_port, require
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


if __name__ == "__main__":
    unittest.main()
