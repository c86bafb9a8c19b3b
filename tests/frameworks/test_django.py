"""Django: ``manage.py runserver --noreload`` with the recipe of docs/frameworks.md."""

from __future__ import annotations

import os
import threading
import unittest

from .harness import PYTHON, WAIT, free_port, require
from .scenario import EditScenario

MANAGE = """\
import os
import sys

BASE_DIR = os.path.dirname(os.path.abspath(__file__))


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    import versioned_import as vi

    # Before Django imports the project: settings are read once, so they stay a plain module.
    vi.install(roots=[BASE_DIR], exclude=["mysite.settings"], watch="runserver" in sys.argv)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
"""

SETTINGS = """\
SECRET_KEY = "only for the test"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["polls"]
MIDDLEWARE = ["mysite.gate.Gate"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.serve.application"
DATABASES = {}
USE_TZ = True
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True}]
"""

SERVE = """\
import versioned_import as vi

application = vi.wsgi_app("mysite.wsgi:application")
"""

WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
"""

GATE = """\
import os
import time


# Holds a request that names a file in X-Hold until that file's .go exists (before URL resolution).
class Gate:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        hold = request.headers.get("X-Hold")
        if hold:
            open(hold + ".held", "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(hold + ".go") and time.monotonic() < deadline:
                time.sleep(0.01)
        return self.get_response(request)
"""

VIEWS = """\
from django.http import HttpResponse
from django.template import engines

import versioned_import as vi


def home(request):
    return HttpResponse({text!r})


def tagged(request, tag):
    return HttpResponse(engines["django"].from_string("{{% load shoptags %}}{{% " + tag + " 'hi' %}}").render())


def rollback(request, name):
    return HttpResponse(str(vi.rollback(name)))
{broken}"""

URLS = """\
from django.http import HttpResponse
from django.urls import path

from polls import views

urlpatterns = [
    path("", views.home),
    path("tagged/<str:tag>", views.tagged),
    path("_rollback/<str:name>", views.rollback),
{extra}]
"""

TAGS = """\
from django import template

register = template.Library()


@register.simple_tag
def shout(text):
    return text.upper() + "!"
{added}"""

WHISPER = """

@register.simple_tag
def whisper(text):
    return text.lower() + "..."
"""


@require("django")
class DjangoRunserverTest(EditScenario):
    views_module = "polls.views"

    def setUp(self) -> None:
        super().setUp()
        self.write("manage.py", MANAGE)
        self.write("mysite/__init__.py", "")
        self.write("mysite/settings.py", SETTINGS)
        self.write("mysite/serve.py", SERVE)
        self.write("mysite/wsgi.py", WSGI)
        self.write("mysite/gate.py", GATE)
        self.write("polls/__init__.py", "")
        self.write("polls/templatetags/__init__.py", "")
        self.write("polls/templatetags/shoptags.py", TAGS.format(added=""))
        self.write_views("home v1")
        self.write_app(new_route=False)
        port = free_port()
        self.start(PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}", port=port)

    def write_views(self, text: str, broken: bool = False) -> None:
        self.write("polls/views.py", VIEWS.format(text=text, broken="\ndef broken(:\n" if broken else ""))

    def write_app(self, new_route: bool) -> None:
        extra = '    path("new", lambda request: HttpResponse("a new route")),\n' if new_route else ""
        self.write("mysite/urls.py", URLS.format(extra=extra))

    def test_runserver_serves_every_edit_and_added_url(self):
        self.run_edits()

    def test_a_request_that_started_before_the_publish_leaves_no_old_urls_cached(self):
        # A request pinned to the old code resolves its URL after the publish dropped the resolver: it
        # builds a new resolver from the old urlpatterns. That cache must not outlive the request.
        self.assertEqual(self.get("/new")[0], 404)
        hold = os.path.join(self.root, "hold")
        answer: list[tuple[int, str]] = []
        held = threading.Thread(target=lambda: answer.append(self.get("/new", headers={"X-Hold": hold})))
        held.start()
        self.addCleanup(held.join, WAIT)
        self.wait_for("the request to be held", lambda: os.path.exists(hold + ".held"))
        mark = len(self.server.lines)
        self.write_app(new_route=True)
        self.wait_for_line("reloaded mysite.urls", after=mark)
        open(hold + ".go", "w").close()
        held.join(WAIT)
        self.assertEqual(answer, [(404, answer[0][1])], "the held request runs the code it started with")
        self.wait_for("the added route", lambda: self.get("/new") == (200, "a new route"))

    def test_a_tag_added_to_a_template_tag_library_reaches_the_templates(self):
        # The template engine keeps the tag libraries it loaded: without a refresh, the new tag stays unknown.
        self.assertEqual(self.get("/tagged/shout"), (200, "HI!"))
        self.assertEqual(self.get("/tagged/whisper")[0], 500)
        self.write("polls/templatetags/shoptags.py", TAGS.format(added=WHISPER))
        self.wait_for("the added template tag", lambda: self.get("/tagged/whisper") == (200, "hi..."))
        self.assertEqual(self.get("/tagged/shout"), (200, "HI!"))


if __name__ == "__main__":
    unittest.main()
