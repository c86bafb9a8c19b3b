"""FastAPI under uvicorn (and under ``python -m versioned_import run``): the recipe of docs/frameworks.md."""

from __future__ import annotations

import json
import unittest

from .harness import PYTHON, free_port, require
from .scenario import EditScenario

SERVE = """\
import os

import versioned_import as vi

vi.install(roots=[os.path.dirname(os.path.abspath(__file__))], watch=True)
app = vi.asgi_app("shop.api:app")
"""

VIEWS = """\
def home():
    return {text!r}
{broken}"""

MODELS = """\
from pydantic import BaseModel


class Item(BaseModel):
    name: str
{fields}"""

API = """\
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

import versioned_import as vi

from . import views
from .models import Item


@asynccontextmanager
async def lifespan(app):
    app.state.started = "started"
    yield {{"pool": "the pool"}}


app = FastAPI(lifespan=lifespan)


@app.get("/", response_class=PlainTextResponse)
def home():
    return views.home()


@app.post("/items", response_model=Item)
def create(item: Item):
    return item


@app.get("/state", response_class=PlainTextResponse)
def state(request: Request):
    return f"{{request.app.state.started}} {{request.state.pool}}"


@app.post("/_rollback/{{name}}")
def rollback(name: str):
    return vi.rollback(name)
{extra}"""

NEW_ROUTE = """

@app.get("/new", response_class=PlainTextResponse)
def new():
    return "a new route"
"""


@require("fastapi", "uvicorn", "pydantic")
class FastAPITest(EditScenario):
    views_module = "shop.views"

    def setUp(self) -> None:
        super().setUp()
        self.write("serve.py", SERVE)
        self.write("shop/__init__.py", "")
        self.write_views("home v1")
        self.write("shop/models.py", MODELS.format(fields=""))
        self.write_app(new_route=False)

    def write_views(self, text: str, broken: bool = False) -> None:
        self.write("shop/views.py", VIEWS.format(text=text, broken="\ndef broken(:\n" if broken else ""))

    def write_app(self, new_route: bool) -> None:
        self.write("shop/api.py", API.format(extra=NEW_ROUTE if new_route else ""))

    def uvicorn(self, *prefix: str) -> None:
        port = free_port()
        self.start(PYTHON, *prefix, "-m", "uvicorn", "serve:app", "--host", "127.0.0.1", "--port", str(port),
                   port=port)

    def test_uvicorn_serves_every_edit(self):
        self.uvicorn()
        self.run_edits()

    def test_under_the_run_command(self):
        self.uvicorn("-m", "versioned_import", "run")
        self.run_edits()

    def test_an_added_pydantic_field_reaches_validation_response_model_and_openapi(self):
        self.uvicorn()
        item = json.dumps({"name": "tea", "price": 2.5}).encode()
        headers = {"Content-Type": "application/json"}
        self.assertEqual(json.loads(self.get("/items", method="POST", body=item, headers=headers)[1]),
                         {"name": "tea"})
        self.write("shop/models.py", MODELS.format(fields="    price: float\n"))
        self.wait_for("the new field in /openapi.json", lambda: "price" in self.get("/openapi.json")[1])
        schema = json.loads(self.get("/openapi.json")[1])["components"]["schemas"]["Item"]
        self.assertEqual(set(schema["properties"]), {"name", "price"})
        self.assertEqual(set(schema["required"]), {"name", "price"})
        status, body = self.get("/items", method="POST", body=item, headers=headers)
        self.assertEqual((status, json.loads(body)), (200, {"name": "tea", "price": 2.5}))  # response_model
        status, body = self.get("/items", method="POST", body=b'{"name": "tea"}', headers=headers)
        self.assertEqual(status, 422, body)  # request validation
        self.assertIn("price", body)

    def test_lifespan_state_survives_a_new_app_object(self):
        self.uvicorn()
        self.assertEqual(self.get("/state"), (200, "started the pool"))
        self.write_app(new_route=True)
        self.wait_for("the added route", lambda: self.get("/new") == (200, "a new route"))
        self.assertEqual(self.get("/state"), (200, "started the pool"))


if __name__ == "__main__":
    unittest.main()
