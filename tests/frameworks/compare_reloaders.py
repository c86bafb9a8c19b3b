"""Save to first response with the new code: versioned_import next to each framework's own reloader, in one run.

    python -m tests.frameworks.compare_reloaders [--edits N]

For each framework the same project is served twice, on 127.0.0.1: through
the recipe of docs/frameworks.md (versioned_import's watcher at its default
settings, no restart), and with the framework's own reloader (uvicorn
``--reload``, werkzeug's reloader under ``flask --debug run``, Django's
autoreloader under ``runserver``, gunicorn ``--reload``), which restart the
process or the worker. Each sample writes a new version of the view and
requests the page every 5 ms until the new text comes back (refused
connections while a server restarts count as "not yet"). Wall-clock
seconds; the table gives the median and the largest of the samples.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import threading
import time

from .harness import REPO, Server, free_port, request

PYTHON = sys.executable

VIEWS = 'def home():\n    return "version {number}"\n'
FLASK_WEB = """\
from flask import Flask

from . import views

app = Flask(__name__)


@app.get("/")
def home():
    return views.home()
"""
FASTAPI_API = """\
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from . import views

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
def home():
    return views.home()
"""
SERVE = """\
import os

import versioned_import as vi

vi.install(roots=[os.path.dirname(os.path.abspath(__file__))], watch=True)
app = vi.{adapter}("shop.{module}:app")
"""
DJANGO_VIEWS = 'from django.http import HttpResponse\n\n\ndef home(request):\n    return HttpResponse("version {number}")\n'
DJANGO_FILES = {
    "mysite/__init__.py": "",
    "mysite/settings.py": """\
        SECRET_KEY = "only for the benchmark"
        DEBUG = True
        ALLOWED_HOSTS = ["127.0.0.1"]
        INSTALLED_APPS = ["polls"]
        MIDDLEWARE = []
        ROOT_URLCONF = "mysite.urls"
        DATABASES = {}
        """,
    "mysite/serve.py": 'import versioned_import as vi\n\napplication = vi.wsgi_app("mysite.wsgi:application")\n',
    "mysite/wsgi.py": """\
        import os
        from django.core.wsgi import get_wsgi_application
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        application = get_wsgi_application()
        """,
    "mysite/urls.py": 'from django.urls import path\n\nfrom polls import views\n\nurlpatterns = [path("", views.home)]\n',
    "polls/__init__.py": "",
}
MANAGE = """\
import os
import sys

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
if {versioned}:
    import versioned_import as vi

    vi.install(roots=[BASE_DIR], exclude=["mysite.settings"], watch=True)
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


class Project:
    def __init__(self) -> None:
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="vi-reloaders-"))

    def write(self, relative: str, text: str) -> str:
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(textwrap.dedent(text))
        return path

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _measure(project: Project, command: list[str], port: int, views: str, template: str, edits: int) -> list[float]:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([project.root, REPO]), PYTHONUNBUFFERED="1")
    server = Server(command, project.root, environment)
    pause = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while request(port)[1] != "version 0":
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not start:\n{server.output()}")
            pause.wait(0.05)
        pause.wait(1.5)  # past the first stat scans of polling reloaders
        samples = []
        for number in range(1, edits + 1):
            expected = f"version {number}"
            with open(views, "w", encoding="utf-8") as stream:
                stream.write(template.format(number=number))
            saved = time.perf_counter()
            deadline = saved + 60
            while request(port)[1] != expected:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{' '.join(command)}: version {number} never served:\n{server.output()}")
                pause.wait(0.005)
            samples.append(time.perf_counter() - saved)
            pause.wait(1.2)  # edits come apart, as a person's saves do, and restarts settle
        return samples
    finally:
        server.stop()


def _flask(edits: int) -> list[tuple[str, list[float]]]:
    results = []
    for label, reloader in (("versioned_import (flask run)", False), ("flask --debug (werkzeug reloader)", True)):
        project = Project()
        try:
            project.write("shop/__init__.py", "")
            views = project.write("shop/views.py", VIEWS.format(number=0))
            project.write("shop/web.py", FLASK_WEB)
            project.write("serve.py", SERVE.format(adapter="wsgi_app", module="web"))
            port = free_port()
            target = "shop.web:app" if reloader else "serve:app"
            command = [PYTHON, "-m", "flask", "--app", target] + (["--debug"] if reloader else [])
            command += ["run", "--port", str(port)]
            results.append((label, _measure(project, command, port, views, VIEWS, edits)))
        finally:
            project.remove()
    return results


def _fastapi(edits: int) -> list[tuple[str, list[float]]]:
    results = []
    for label, reloader in (("versioned_import (uvicorn)", False), ("uvicorn --reload", True)):
        project = Project()
        try:
            project.write("shop/__init__.py", "")
            views = project.write("shop/views.py", VIEWS.format(number=0))
            project.write("shop/api.py", FASTAPI_API)
            project.write("serve.py", SERVE.format(adapter="asgi_app", module="api"))
            port = free_port()
            target = "shop.api:app" if reloader else "serve:app"
            command = [PYTHON, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
            command += ["--reload"] if reloader else []
            results.append((label, _measure(project, command, port, views, VIEWS, edits)))
        finally:
            project.remove()
    return results


def _django(edits: int) -> list[tuple[str, list[float]]]:
    results = []
    for label, reloader in (("versioned_import (runserver --noreload)", False), ("Django autoreload (runserver)", True)):
        project = Project()
        try:
            for relative, text in DJANGO_FILES.items():
                project.write(relative, text)
            views = project.write("polls/views.py", DJANGO_VIEWS.format(number=0))
            project.write("manage.py", MANAGE.format(versioned=not reloader))
            # The restarting reloader serves Django's own handler; versioned_import serves it through the adapter.
            with open(project.write("mysite/settings.py", DJANGO_FILES["mysite/settings.py"]), "a") as stream:
                stream.write(f"WSGI_APPLICATION = {'mysite.wsgi.application' if reloader else 'mysite.serve.application'!r}\n")
            port = free_port()
            command = [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}"] + ([] if reloader else ["--noreload"])
            results.append((label, _measure(project, command, port, views, DJANGO_VIEWS, edits)))
        finally:
            project.remove()
    return results


def _gunicorn(edits: int) -> list[tuple[str, list[float]]]:
    results = []
    for label, reloader in (("versioned_import (gunicorn)", False), ("gunicorn --reload", True)):
        project = Project()
        try:
            project.write("shop/__init__.py", "")
            views = project.write("shop/views.py", VIEWS.format(number=0))
            project.write("shop/web.py", FLASK_WEB)
            project.write("serve.py", SERVE.format(adapter="wsgi_app", module="web"))
            port = free_port()
            command = [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
            command += ["--reload", "shop.web:app"] if reloader else ["serve:app"]
            results.append((label, _measure(project, command, port, views, VIEWS, edits)))
        finally:
            project.remove()
    return results


FRAMEWORKS = {"Flask": _flask, "FastAPI": _fastapi, "Django": _django, "gunicorn (Flask app)": _gunicorn}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.frameworks.compare_reloaders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=9, help="samples per server (default: 9)")
    options = parser.parse_args(argv)
    print(f"save -> first response with the new code, {options.edits} edits each; Python "
          f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for framework, measure in FRAMEWORKS.items():
        for label, samples in measure(options.edits):
            rows.append((framework, label, statistics.median(samples), max(samples)))
            print(f"  {framework}: {label}: median {statistics.median(samples) * 1000:.0f} ms", flush=True)
    print()
    print("| framework | server | median | max |")
    print("| --- | --- | --- | --- |")
    for framework, label, median, largest in rows:
        print(f"| {framework} | {label} | {median * 1000:.0f} ms | {largest * 1000:.0f} ms |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
