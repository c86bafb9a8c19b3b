"""Flask-SQLAlchemy (``db.Model``, served through ``vi.wsgi_app``) and SQLModel (``table=True``) reloaded (issue 17).

Both map through SQLAlchemy's declarative registries, so the SQLAlchemy entry
covers them. Before, every model edit was refused ("Table 'user' is already
defined for this MetaData instance").
"""

from __future__ import annotations

import gc
import sys
import unittest

import versioned_import as vi

from .harness import require
from .orm import ORMSandbox, registry_state, warm_up_sqlalchemy

warm_up_sqlalchemy()
for _name in ("flask", "flask_sqlalchemy", "werkzeug.test", "sqlmodel"):
    try:  # imported before any sandbox: see warm_up_sqlalchemy
        __import__(_name)
    except ImportError:
        pass

EXTENSIONS = """\
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
GREETING = "hello "
"""

FLASK_MODELS = """\
from extensions import GREETING, db


class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(30), nullable=False)
    posts = db.relationship("Post", back_populates="user")

    def greet(self):
        return GREETING + self.name
"""

POSTS = """\
from extensions import db


class Post(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(50), nullable=False)
    user_id = db.Column(db.ForeignKey("user.id"), nullable=False)
    user = db.relationship("User", back_populates="posts")

    def line(self):
        return self.title + " by " + self.user.name
"""

FLASK_APP = """\
from flask import Flask

import models
import posts
from extensions import db

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = {url!r}
db.init_app(app)


@app.get("/users")
def users():
    return ", ".join(user.greet() for user in db.session.scalars(db.select(models.User).order_by(models.User.id)))


@app.get("/posts")
def all_posts():
    return ", ".join(post.line() for post in db.session.scalars(db.select(posts.Post).order_by(posts.Post.id)))
"""

SERVE = """\
import versioned_import as vi

application = vi.wsgi_app("app:app")
"""


@require("flask_sqlalchemy", "flask")
class FlaskSQLAlchemyTest(ORMSandbox):
    def setUp(self) -> None:
        super().setUp()
        from werkzeug.test import Client

        self.write("extensions.py", EXTENSIONS)
        self.write("models.py", FLASK_MODELS)
        self.write("posts.py", POSTS)
        self.write("app.py", FLASK_APP.format(url=self.url))
        self.write("serve.py", SERVE)
        import app
        import serve

        with app.app.app_context():
            app.db.create_all()
            ann = app.models.User(name="ann")
            app.db.session.add_all([ann, app.posts.Post(title="first", user=ann)])
            app.db.session.commit()
        self.client = Client(serve.application)
        self.addCleanup(self.dispose)

    def dispose(self) -> None:
        app = sys.modules.get("app")
        if app is not None:
            with app.app.app_context():
                app.db.engine.dispose()

    def get(self, path: str) -> str:
        response = self.client.get(path)
        self.assertEqual(response.status_code, 200, response.get_data(as_text=True))
        return response.get_data(as_text=True)

    def test_a_method_edit_is_served(self):
        self.assertEqual(self.get("/users"), "hello ann")
        self.replace("models.py", "return GREETING + self.name", "return GREETING.upper() + self.name")
        report = vi.reload("models")
        self.assertIn("posts", report.reloaded, "posts.py's relationship names User: re-executed with it")
        self.assertEqual(self.get("/users"), "HELLO ann")
        self.assertEqual(self.get("/posts"), "first by ann")

    def test_an_edit_of_the_extensions_module_the_models_import(self):
        self.replace("extensions.py", 'GREETING = "hello "', 'GREETING = "hi "')
        report = vi.reload("extensions")
        self.assertLessEqual({"extensions", "models", "posts", "app"}, set(report.reloaded))
        self.assertEqual(self.get("/users"), "hi ann")
        self.assertEqual(self.get("/posts"), "first by ann")

    def test_a_column_added_after_the_migration(self):
        self.migrate("ALTER TABLE user ADD COLUMN nickname VARCHAR(30)", "UPDATE user SET nickname = 'annie'")
        self.replace("models.py", "    posts = db.relationship",
                     "    nickname = db.Column(db.String(30))\n    posts = db.relationship")
        self.replace("models.py", "return GREETING + self.name", "return GREETING + self.nickname")
        vi.reload("models")
        self.assertEqual(self.get("/users"), "hello annie")

    def test_the_target_of_a_relationship_in_another_module_edited(self):
        self.replace("posts.py", '" by "', '" written by "')
        report = vi.reload("posts")
        self.assertIn("models", report.reloaded, "User.posts names Post: re-executed with it")
        self.assertEqual(self.get("/posts"), "first written by ann")
        models, posts = sys.modules["models"], sys.modules["posts"]
        self.assertIs(models.User.posts.property.mapper, posts.Post.__mapper__)

    def test_a_broken_edit_changes_nothing_and_the_fix_is_served(self):
        db = sys.modules["extensions"].db
        before = registry_state(db.Model)
        self.replace("models.py", "        return GREETING + self.name\n",
                     "        return GREETING + self.name\n\n\nraise RuntimeError('broken')\n")
        self.refused("models")
        gc.collect()
        self.assertEqual(registry_state(db.Model), before)
        self.assertEqual(self.get("/users"), "hello ann")
        self.write("models.py", FLASK_MODELS.replace("GREETING + self.name", "GREETING + self.name + '!'"))
        vi.reload("models")
        self.assertEqual(self.get("/users"), "hello ann!")
        self.assertEqual(len(db.Model.registry.mappers), 2)


HEROES_TEAMS = """\
from typing import Optional

from sqlmodel import Field, Relationship, SQLModel


class Team(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str
    heroes: list["Hero"] = Relationship(back_populates="team")

    def describe(self):
        return "team " + self.name
"""

HEROES = """\
from typing import Optional

from sqlmodel import Field, Relationship, SQLModel

from teams import Team


class Hero(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str
    team_id: Optional[int] = Field(default=None, foreign_key="team.id")
    team: Optional[Team] = Relationship(back_populates="heroes")

    def describe(self):
        return "hero " + self.name
"""


@require("sqlmodel")
class SQLModelTest(ORMSandbox):
    def setUp(self) -> None:
        super().setUp()
        from sqlmodel import Session, SQLModel, create_engine, select

        self.addCleanup(self.forget_default_registry)
        self.write("teams.py", HEROES_TEAMS)
        self.write("heroes.py", HEROES)
        import heroes
        import teams

        self.teams, self.heroes, self.SQLModel, self.select = teams, heroes, SQLModel, select
        self.engine = create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        SQLModel.metadata.create_all(self.engine)
        self.session = Session(self.engine)
        self.addCleanup(self.session.close)
        team = teams.Team(name="avengers")
        self.session.add(heroes.Hero(name="ann", team=team))
        self.session.commit()
        self.hero = self.session.exec(select(heroes.Hero)).one()
        self.team = self.hero.team

    def forget_default_registry(self) -> None:
        # SQLModel maps every table=True class in one registry and MetaData for the whole process.
        from sqlmodel import SQLModel
        from sqlmodel.main import default_registry

        default_registry.dispose()
        SQLModel.metadata.clear()

    def test_a_method_edit(self):
        self.replace("heroes.py", '"hero "', '"superhero "')
        report = vi.reload("heroes")
        self.assertIn("teams", report.reloaded, "Team.heroes names Hero: re-executed with it")
        self.assertEqual(self.hero.describe(), "superhero ann")
        self.assertIsInstance(self.hero, self.heroes.Hero)
        self.assertIs(self.hero.team, self.team)
        self.assertEqual(self.team.describe(), "team avengers")
        self.assertEqual([h.name for h in self.team.heroes], ["ann"])
        self.session.add(self.heroes.Hero(name="bob", team=self.team))
        self.session.commit()
        self.assertEqual([h.describe() for h in self.session.exec(self.select(self.heroes.Hero))],
                         ["superhero ann", "superhero bob"])

    def test_an_edit_of_the_module_the_models_import(self):
        self.replace("teams.py", '"team "', '"the team "')
        report = vi.reload("teams")
        self.assertEqual(set(report.reloaded), {"teams", "heroes"})
        self.assertEqual(self.hero.team.describe(), "the team avengers")
        self.assertEqual(sorted(self.SQLModel.metadata.tables), ["hero", "team"])
        (fk,) = self.heroes.Hero.__table__.c.team_id.foreign_keys
        self.assertIs(fk.column.table, self.teams.Team.__table__)

    def test_a_column_added_after_the_migration(self):
        self.migrate("ALTER TABLE hero ADD COLUMN age INTEGER", "UPDATE hero SET age = 30")
        self.replace("heroes.py", "    name: str\n", "    name: str\n    age: Optional[int] = None\n")
        vi.reload("heroes")
        self.assertEqual(self.hero.age, 30)
        self.session.add(self.heroes.Hero(name="kid", age=9))
        self.session.commit()
        self.assertEqual(sorted(h.age for h in self.session.exec(self.select(self.heroes.Hero))), [9, 30])

    def test_a_broken_edit_changes_nothing_and_the_fix_is_taken(self):
        from sqlmodel.main import default_registry

        class Holder:
            registry = default_registry
            metadata = self.SQLModel.metadata

        before = registry_state(Holder)
        self.replace("heroes.py", '        return "hero " + self.name\n',
                     '        return "hero " + self.name\n\n\nraise RuntimeError("broken")\n')
        self.refused("heroes")
        gc.collect()
        self.assertEqual(registry_state(Holder), before)
        self.assertEqual(self.hero.describe(), "hero ann")
        self.write("heroes.py", HEROES.replace('"hero "', '"fixed "'))
        vi.reload("heroes")
        self.assertEqual(self.hero.describe(), "fixed ann")
        self.assertEqual(len(default_registry.mappers), 2)


if __name__ == "__main__":
    unittest.main()
