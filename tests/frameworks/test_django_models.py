"""Django models reloaded against a real SQLite file (issue 17), each scenario in a process of its own.

Before: every model edit was taken with ``RuntimeWarning: Model
'polls.question' was already registered. Reloading models is not advised as
it can lead to inconsistencies, most notably with related models``, and the
models pointing at the edited one kept reverse relations to the old class.

Django's settings and app registry are configured once per process, so each
test runs a small driver in a fresh interpreter that prints one JSON object;
the test asserts on it (the driver's output is shown when it fails).
"""

from __future__ import annotations

import json
import unittest

from tests.support import Sandbox

from .harness import require

SETTINGS = """\
SECRET_KEY = "only for the test"
INSTALLED_APPS = ["polls", "library"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %r}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

POLLS = """\
from django.db import models


class Question(models.Model):
    question_text = models.CharField(max_length=200)

    def shout(self):
        return self.question_text.upper()


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE)
    choice_text = models.CharField(max_length=200)
"""

LIBRARY = """\
from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    question = models.ForeignKey("polls.Question", on_delete=models.CASCADE, related_name="books")
"""

# The driver: set up Django with the finder installed, create the tables, hold instances, run the scenario.
DRIVER = """\
import json
import os
import sys
import warnings

sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
import versioned_import as vi

vi.install(roots=[os.getcwd()], exclude=["mysite.settings"])
import django

django.setup()
warnings.simplefilter("error", RuntimeWarning)  # "was already registered" fails the scenario
from django.apps import apps
from django.db import connection

import library.models
import polls.models

with connection.schema_editor() as editor:
    for model in (polls.models.Question, polls.models.Choice, library.models.Book):
        editor.create_model(model)
question = polls.models.Question.objects.create(question_text="why?")
question.choice_set.create(choice_text="because")
library.models.Book.objects.create(title="answers", question=question)
Question = polls.models.Question
out = {}


def edit(path, old, new):
    with open(path) as stream:
        text = stream.read()
    assert old in text, (path, old)
    with open(path, "w") as stream:
        stream.write(text.replace(old, new))


def state():
    Q = polls.models.Question
    return {
        "same_class": Q is Question,
        "isinstance": isinstance(question, Q),
        "registered": apps.get_model("polls", "question") is Q,
        "models": sorted(f"{m._meta.app_label}.{m.__name__}" for m in apps.get_models()),
        "related": sorted(r.get_accessor_name() for r in Q._meta.related_objects),
        "choice_points_at": polls.models.Choice._meta.get_field("question").remote_field.model is Q,
        "book_points_at": library.models.Book._meta.get_field("question").remote_field.model is Q,
        "choices": [c.choice_text for c in question.choice_set.all()],
        "books": [b.title for b in question.books.all()],
        "fresh": [q.question_text for q in Q.objects.all()],
    }


{scenario}
print(json.dumps(out))
"""

METHOD_EDIT = """\
edit("polls/models.py", "return self.question_text.upper()", "return self.question_text.upper() + '!'")
out["reloaded"] = list(vi.reload("polls.models").reloaded)
out["shout"] = question.shout()
out["state"] = state()
"""

COLUMN_ADDED = """\
with connection.cursor() as cursor:
    cursor.execute("ALTER TABLE polls_question ADD COLUMN votes integer NOT NULL DEFAULT 7")
edit("polls/models.py", "    question_text = models.CharField(max_length=200)\\n",
     "    question_text = models.CharField(max_length=200)\\n    votes = models.IntegerField(default=0)\\n")
vi.reload("polls.models")
out["votes"] = polls.models.Question.objects.get(pk=question.pk).votes
out["fields"] = [f.name for f in polls.models.Question._meta.get_fields()]
out["state"] = state()
"""

BROKEN_THEN_FIXED = """\
before = {key: dict(models) for key, models in apps.all_models.items()}
edit("polls/models.py", "    choice_text = models.CharField(max_length=200)\\n",
     "    choice_text = models.CharField(max_length=200)\\n\\n\\nraise RuntimeError('broken')\\n")
try:
    vi.reload("polls.models")
except vi.ReloadError as error:
    out["refused"] = str(error).splitlines()[0]
after = {key: dict(models) for key, models in apps.all_models.items()}
out["same_objects"] = before.keys() == after.keys() and all(
    before[k].keys() == after[k].keys() and all(before[k][n] is after[k][n] for n in before[k]) for k in before)
out["after_refusal"] = state()
edit("polls/models.py", "\\n\\nraise RuntimeError('broken')\\n", "")
edit("polls/models.py", "return self.question_text.upper()", "return 'fixed'")
vi.reload("polls.models")
out["shout"] = question.shout()
out["state"] = state()
"""

REPEATED = """\
for number in range(5):
    edit("polls/models.py", "def shout(self):\\n", f"def shout(self):\\n        # edit {{number}}\\n")
    vi.reload("polls.models")
edit("library/models.py", "max_length=200", "max_length=300")
out["reloaded_library"] = list(vi.reload("library.models").reloaded)
out["state"] = state()
"""


@require("django")
class DjangoModelsTest(Sandbox):
    def run_scenario(self, scenario: str) -> dict:
        self.write("mysite/__init__.py")
        self.write("mysite/settings.py", SETTINGS % f"{self.root}/db.sqlite3")
        for app, source in (("polls", POLLS), ("library", LIBRARY)):
            self.write(f"{app}/__init__.py")
            self.write(f"{app}/models.py", source)
        self.write("drive.py", DRIVER.replace("{scenario}", scenario))
        result = self.run_python("drive.py", timeout=120)
        self.assertProcessOK(result)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def assertCoherent(self, state: dict) -> None:
        self.assertEqual(state, {
            "same_class": True, "isinstance": True, "registered": True,
            "models": ["library.Book", "polls.Choice", "polls.Question"],
            "related": ["books", "choice_set"], "choice_points_at": True, "book_points_at": True,
            "choices": ["because"], "books": ["answers"], "fresh": ["why?"]})

    def test_a_method_edit_is_taken_without_the_already_registered_warning(self):
        out = self.run_scenario(METHOD_EDIT)
        self.assertEqual(out["reloaded"], ["polls.models", "library.models"],
                         "library's foreign key points at Question: re-executed with it")
        self.assertEqual(out["shout"], "WHY?!")
        self.assertCoherent(out["state"])

    def test_a_column_added_after_the_migration(self):
        out = self.run_scenario(COLUMN_ADDED)
        self.assertEqual(out["votes"], 7)
        self.assertIn("votes", out["fields"])
        self.assertCoherent(out["state"])

    def test_a_broken_edit_leaves_the_same_models_registered_then_the_fix_is_taken(self):
        out = self.run_scenario(BROKEN_THEN_FIXED)
        self.assertIn("reload of 'polls.models' refused", out["refused"])
        self.assertTrue(out["same_objects"])
        self.assertCoherent(out["after_refusal"])
        self.assertEqual(out["shout"], "fixed")
        self.assertCoherent(out["state"])

    def test_repeated_edits_and_an_edit_of_the_pointing_module(self):
        out = self.run_scenario(REPEATED)
        self.assertEqual(out["reloaded_library"], ["library.models"])
        self.assertCoherent(out["state"])


if __name__ == "__main__":
    unittest.main()
