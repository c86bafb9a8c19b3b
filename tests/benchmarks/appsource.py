"""The realistic application of issue 18, generated as source text.

A package of 206 modules shaped like a web application::

    core/config.py      settings (never edited)
    core/registry.py    the process-wide registries: routes, event handlers, tasks, plugins, models (never edited)
    core/base.py        the hub: the model base class, fields, the registering decorators, constants
    models/m00..m49     a model class each on ``Base`` (some subclass or read another model), an enum, a dataclass
    schemas/c00..c19    dataclasses and an enum per model the API exposes
    services/s00..s59   a service class, a memoized function, an event handler and a task each
    handlers/h00..h14   event handlers wrapped by ``functools.wraps`` decorators
    views/v00..v49      routes and a plugin class each
    main.py             imports every handler and view

The decorators live in the hub and store what they decorate in containers
that ``core.registry`` created, so a reload's holder search must find new
functions and classes in objects older than the reload. Every module ends
with ``REVISION = "000000"``: an edit rewrites that line (same size, newer
modification time), so both ``versioned_import`` and ``importlib`` see new
source bytes.

Besides the sources, the generator records what each module does with every
app module it imports, at import time, so that a figure can estimate how many
dependents a reload would need to re-execute if it skipped the ones that only
bind classes and functions (which continuity carries over):

    ``bind``  binds the module, its classes or functions; uses them only inside function bodies
    ``call``  calls them at import time (a decorator, ``field()``, subclassing runs ``__init_subclass__``)
    ``read``  computes with one of its values at import time (a constant, a parent class's field map)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

MODELS, SCHEMAS, SERVICES, HANDLERS, VIEWS = 50, 20, 60, 15, 50
NOUNS = ("Product", "Order", "Customer", "Invoice", "Shipment", "Coupon", "Review", "Supplier", "Warehouse", "Refund")
EVENTS = ("created", "updated", "paid", "shipped", "cancelled")
PACKAGES = ("core", "models", "schemas", "services", "handlers", "views")

INIT = '"""{doc}"""\n'

CONFIG = '''\
"""Settings, read once at start-up."""

import os

DEBUG = os.environ.get("APP_DEBUG") == "1"
PAGE_SIZE = 25
DATABASE_PREFIX = "shop_"
FEATURES = frozenset({"search", "export", "webhooks"})
'''

REGISTRY = '''\
"""Process-wide registries that the decorators of other modules fill."""

import threading

ROUTES = {}    # (method, path) -> endpoint
HANDLERS = {}  # event -> [handler, ...]
TASKS = {}     # name -> runner
PLUGINS = {}   # kind -> {name: class}
MODELS = {}    # "module.qualname" -> model class
_lock = threading.Lock()


def subscribe(event, handler):
    """Add ``handler`` to ``event``, replacing an earlier definition of the same function."""
    key = (handler.__module__, handler.__qualname__)
    with _lock:
        handlers = HANDLERS.setdefault(event, [])
        for index, existing in enumerate(handlers):
            if (existing.__module__, existing.__qualname__) == key:
                handlers[index] = handler
                break
        else:
            handlers.append(handler)


def dispatch(event, payload):
    return [handler(payload) for handler in HANDLERS.get(event, ())]


def resolve(method, path):
    return ROUTES[(method, path)]
'''

HUB = '''\
"""The hub: the model base class, fields, the registering decorators, constants."""

from __future__ import annotations

import dataclasses
import enum
import functools

from APP.core import config, registry

VERSION = "2.7.1"
TABLE_PREFIX = config.DATABASE_PREFIX
DEFAULT_PAGE_SIZE = config.PAGE_SIZE
MAX_RETRIES = 3


class Status(enum.Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclasses.dataclass(frozen=True)
class Field:
    kind: type
    default: object = None
    required: bool = False
    name: str = ""

    def clean(self, value):
        if value is None:
            if self.required:
                raise ValueError(f"{self.name} is required")
            return self.default
        return value if isinstance(value, self.kind) else self.kind(value)


def field(kind, default=None, required=False):
    return Field(kind, default, required)


class Base:
    table = ""
    fields: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = {name: dataclasses.replace(value, name=name) for name, value in vars(cls).items()
               if isinstance(value, Field)}
        cls.fields = {**cls.fields, **own}
        cls.table = vars(cls).get("table") or TABLE_PREFIX + cls.__name__.lower()
        registry.MODELS[f"{cls.__module__}.{cls.__qualname__}"] = cls

    def __init__(self, **values):
        for name, spec in self.fields.items():
            setattr(self, name, spec.clean(values.get(name)))

    def to_dict(self):
        return {name: getattr(self, name) for name in self.fields}

    def __repr__(self):
        return f"<{type(self).__name__} {self.to_dict()}>"


def route(path, methods=("GET",)):
    """Register the view under ``path`` for each method."""
    def decorate(view):
        @functools.wraps(view)
        def endpoint(request, **params):
            request.setdefault("route", path)
            return view(request, **params)
        for method in methods:
            registry.ROUTES[(method, path)] = endpoint
        return endpoint
    return decorate


def on(event):
    """Subscribe the function to ``event``."""
    def decorate(handler):
        registry.subscribe(event, handler)
        return handler
    return decorate


def task(name, retries=MAX_RETRIES):
    """Register a background task, retried ``retries`` times."""
    def decorate(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            for attempt in range(retries):
                try:
                    return function(*args, **kwargs)
                except Exception:
                    if attempt == retries - 1:
                        raise
        registry.TASKS[name] = run
        return run
    return decorate


def plugin(kind):
    """Register the class as a plugin of ``kind``."""
    def decorate(cls):
        registry.PLUGINS.setdefault(kind, {})[cls.__qualname__] = cls
        return cls
    return decorate
'''

MODEL = '''\
"""Model {i}: {cls} records and their summaries."""

from __future__ import annotations

import dataclasses
import enum

from APP.core.base import DEFAULT_PAGE_SIZE, Base, Status, field
{imports}
PAGE_SIZE = {page_size}
INDEX_NAME = "idx_{lower}"


class {cls}Kind(enum.Enum):
    STANDARD = 1
    EXPRESS = 2
    BULK = 3


class {cls}({parent}):
    name = field(str, required=True)
    quantity = field(int, default=0)
    price = field(float, default={price})
    status = field(Status, default=Status.DRAFT)
    kind = field({cls}Kind, default={cls}Kind.STANDARD)

    def total(self):
        return self.quantity * self.price

    @property
    def active(self):
        return self.status is Status.ACTIVE

    @classmethod
    def create(cls, name, **values):
        return cls(name=name, **values)
{extra}

@dataclasses.dataclass
class {cls}Summary:
    count: int = 0
    total: float = 0.0
    names: list = dataclasses.field(default_factory=list)

    def add(self, item):
        self.count += 1
        self.total += item.total()
        self.names.append(item.name)
        return self


def summarize(items):
    summary = {cls}Summary()
    for item in items:
        summary.add(item)
    return summary


def page(items, number=0, size=PAGE_SIZE):
    return list(items)[number * size:(number + 1) * size]
'''

SCHEMA = '''\
"""Schemas {c}: what the API sends and receives for {cls}."""

from __future__ import annotations

import dataclasses
import enum

from APP.models.{model} import {cls}, {cls}Kind
{fields}

class Format(enum.Enum):
    JSON = "json"
    CSV = "csv"


@dataclasses.dataclass(frozen=True)
class {cls}Out:
    name: str
    quantity: int = 0
    status: str = "draft"

    @classmethod
    def from_model(cls, item):
        return cls(item.name, item.quantity, item.status.value)


@dataclasses.dataclass
class {cls}In:
    name: str
    quantity: int = 1
    kind: str = "standard"

    def to_model(self):
        return {cls}.create(self.name, quantity=self.quantity, kind={cls}Kind[self.kind.upper()])


Out, In = {cls}Out, {cls}In
'''

SERVICE = '''\
"""Service {j}: operations on {cls}."""

from __future__ import annotations

import functools
import logging

from APP.core import config
from APP.core.base import Status, on, task
from APP.models import {model_a}, {model_b}
from APP.models.{model_a} import {cls}
{imports}
log = logging.getLogger(__name__)
RESOURCE = "{resource}"
BATCH = config.PAGE_SIZE * 4
LIMIT = {limit}


def memoize(function):
    cache = {{}}

    @functools.wraps(function)
    def wrapper(*args):
        if args not in cache:
            cache[args] = function(*args)
        return cache[args]
    wrapper.cache = cache
    return wrapper


class {cls}Service{j}:
    model = {cls}

    def __init__(self):
        self.store = {{}}

    def create(self, name, **values):
        item = self.model.create(name, **values)
        self.store[name] = item
        return item

    def active(self):
        return [item for item in self.store.values() if item.status is Status.ACTIVE][:LIMIT]

    def report(self):
        return {model_b}.summarize({other})


@memoize
def quote_{j}(quantity, price):
    return round(quantity * price * 1.2, 2)


@on("{event}")
def on_{event_name}_{j}(payload):
    log.debug("%s: %s", "{event}", payload)
    return SERVICE.create(payload.get("name", "unnamed"))


@task("services.s{j:02d}.reindex")
def reindex_{j}(batch=BATCH):
    return len(SERVICE.store) // max(batch, 1)


SERVICE = {cls}Service{j}()
'''

HANDLER = '''\
"""Event handlers {h}: notifications and the audit trail."""

from __future__ import annotations

import functools
import logging

from APP.core import registry
from APP.core.base import on
from APP.services import {services}

log = logging.getLogger(__name__)
AUDIT = []


def audited(function):
    @functools.wraps(function)
    def wrapper(payload):
        AUDIT.append((function.__name__, payload.get("name")))
        return function(payload)
    return wrapper
{handlers}

def replay(events):
    return [registry.dispatch(event, payload) for event, payload in events]
'''

HANDLER_FUNCTION = '''

@on("{event}")
@audited
def notify_{service}(payload):
    log.info("notify %s", payload)
    return {service}.SERVICE.report()
'''

VIEW = '''\
"""API views {k}: {noun} endpoints."""

from __future__ import annotations

import functools

from APP.core.base import plugin, route
from APP.schemas import {schema}
from APP.services import {service_a}, {service_b}

PREFIX = {prefix}


def paginated(view):
    @functools.wraps(view)
    def wrapper(request, **params):
        result = view(request, **params)
        size = int(request.get("size", 25))
        return result[:size] if isinstance(result, list) else result
    return wrapper


@route(PREFIX + "/", methods=("GET",))
@paginated
def list_{k}(request):
    return [{schema}.Out.from_model(item) for item in {service_a}.SERVICE.active()]


@route(PREFIX + "/<name>", methods=("GET",))
def detail_{k}(request, name):
    item = {service_a}.SERVICE.store.get(name)
    return None if item is None else {schema}.Out.from_model(item)


@route(PREFIX + "/", methods=("POST",))
def create_{k}(request):
    item = {service_a}.SERVICE.create(request["name"], quantity=int(request.get("quantity", 1)))
    {service_b}.quote_{j_b}(item.quantity, 1.0)
    return {schema}.Out.from_model(item)


@plugin("serializer")
class Serializer{k}:
    fields = ("name", "quantity", "status")

    def dump(self, item):
        return {{name: getattr(item, name) for name in self.fields}}
'''

MAIN = '''\
"""The application: importing every handler and view registers every route, handler and task."""

from __future__ import annotations

from APP.core import registry
{imports}

def handle(method, path, request=None):
    return registry.resolve(method, path)(request or {{}})


def routes():
    return sorted(registry.ROUTES)


ROUTE_COUNT = len(registry.ROUTES)
'''

REVISION = 'REVISION = "{:06d}"\n'


@dataclass
class App:
    """A generated application: where it is, its modules, and what each one does with the app modules it imports."""

    name: str
    directory: str  # the sys.path entry
    sources: dict[str, str] = field(default_factory=dict)  # module -> source, without its REVISION line
    uses: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> {imported app module: bind/call/read}
    revisions: dict[str, int] = field(default_factory=dict)
    # Source files are dated a month back (a real one is not "racily clean"), one second later per revision:
    # importlib's bytecode check compares the modification time, in whole seconds, and the size.
    epoch: float = field(default_factory=lambda: time.time() - 30 * 86400)

    @property
    def main(self) -> str:
        return f"{self.name}.main"

    def module(self, short: str) -> str:
        """The full name of ``short`` (``"views.v00"`` -> ``"shop.views.v00"``)."""
        return f"{self.name}.{short}"

    def path(self, module: str) -> str:
        parts = module.split(".")
        if len(parts) == 1 or (len(parts) == 2 and parts[1] in PACKAGES):
            return os.path.join(self.directory, *parts, "__init__.py")
        return os.path.join(self.directory, *parts) + ".py"

    def dependents(self, module: str) -> set[str]:
        """Every module that imports ``module``, directly or not."""
        found: set[str] = set()
        frontier = [module]
        while frontier:
            current = frontier.pop()
            for importer, imported in self.uses.items():
                if current in imported and importer not in found:
                    found.add(importer)
                    frontier.append(importer)
        return found

    def must_rerun(self, module: str, kinds: Iterable[str]) -> set[str]:
        """``module`` and every dependent that uses a re-executed module at import time in one of ``kinds``."""
        kinds = set(kinds)
        rerun = {module}
        grew = True
        while grew:
            grew = False
            for importer, imported in self.uses.items():
                if importer not in rerun and any(imported.get(m) in kinds for m in rerun):
                    rerun.add(importer)
                    grew = True
        return rerun

    def edit(self, module: str) -> None:
        """Give ``module`` new source bytes: the next revision, same size, a newer modification time."""
        self.revisions[module] += 1
        self._write(module, self.revisions[module])

    def _write(self, module: str, revision: int) -> None:
        path = self.path(module)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(self.sources[module] + REVISION.format(revision))
        then = self.epoch + revision
        os.utime(path, (then, then))


def _model_class(i: int) -> str:
    return f"{NOUNS[i % len(NOUNS)]}{i:02d}"


def write_app(directory: str, name: str) -> App:
    """Write the application as package ``name`` under ``directory``; return its description."""
    app = App(name, directory)

    def add(short: str, source: str, uses: dict[str, str] | None = None) -> None:
        module = app.module(short) if short else name
        app.sources[module] = source.replace("APP.", f"{name}.")
        app.uses[module] = {app.module(k): v for k, v in (uses or {}).items()}

    add("", INIT.format(doc="A generated shop application."))
    for package in PACKAGES:
        add(package, INIT.format(doc=f"The application's {package}."))
    add("core.config", CONFIG)
    add("core.registry", REGISTRY)
    add("core.base", HUB, {"core.config": "read", "core.registry": "bind"})

    for i in range(MODELS):
        cls, head = _model_class(i), i - i % 5
        uses = {"core.base": "read"}  # DEFAULT_PAGE_SIZE; field() and Base.__init_subclass__ are calls too
        imports, parent, page_size, extra = "", "Base", f"DEFAULT_PAGE_SIZE * {i % 3 + 1}", ""
        if i % 5:
            imports = f"from APP.models import m{head:02d}\n"
            if i % 5 in (1, 2):  # a subclass: Base.__init_subclass__ copies the parent's field map
                parent, uses[f"models.m{head:02d}"] = f"m{head:02d}.{_model_class(head)}", "read"
            elif i % 5 == 3:  # a constant computed from the other model's
                page_size, uses[f"models.m{head:02d}"] = f"m{head:02d}.PAGE_SIZE + {i}", "read"
            else:  # the other model used inside a function only
                uses[f"models.m{head:02d}"] = "bind"
                extra = (f"\n    def related(self):\n        return m{head:02d}.{_model_class(head)}"
                         f".create(self.name, quantity=self.quantity)\n")
        add(f"models.m{i:02d}", MODEL.format(i=i, cls=cls, lower=cls.lower(), imports=imports, parent=parent,
                                             page_size=page_size, price=float(i % 9 + 1), extra=extra), uses)

    for c in range(SCHEMAS):
        model = (c * 5 + 2) % MODELS
        fields, kind = "", "bind"
        if c % 2 == 0:  # the model's field names, computed at import time
            fields, kind = f"\nFIELDS = tuple({_model_class(model)}.fields)\n", "read"
        add(f"schemas.c{c:02d}", SCHEMA.format(c=c, cls=_model_class(model), model=f"m{model:02d}", fields=fields),
            {f"models.m{model:02d}": kind})

    for j in range(SERVICES):
        a, b = j % MODELS, (j * 7 + 3) % MODELS
        uses = {"core.base": "call", f"models.m{a:02d}": "bind", f"models.m{b:02d}": "bind"}
        imports, other, limit = "", "SERVICE.store.values()", "100"
        if j % 3 == 0:  # a constant computed from the model's
            limit, uses[f"models.m{a:02d}"] = f"m{a:02d}.PAGE_SIZE * 2", "read"
        if j % 4 == 3:  # another service, used inside a method
            imports, other = f"from APP.services import s{j - 1:02d}\n", f"s{j - 1:02d}.SERVICE.store.values()"
            uses[f"services.s{j - 1:02d}"] = "bind"
        cls, event = _model_class(a), EVENTS[j % len(EVENTS)]
        add(f"services.s{j:02d}", SERVICE.format(
            j=j, cls=cls, model_a=f"m{a:02d}", model_b=f"m{b:02d}", imports=imports, other=other, limit=limit,
            resource=f"{cls.lower()}s", event=f"{cls.lower()}.{event}", event_name=event), uses)

    for h in range(HANDLERS):
        services = [f"s{j:02d}" for j in range(4 * h, 4 * h + 4)]
        handlers = "".join(HANDLER_FUNCTION.format(event=f"{_model_class(int(s[1:]) % MODELS).lower()}.paid", service=s)
                           for s in services)
        add(f"handlers.h{h:02d}", HANDLER.format(h=h, services=", ".join(services), handlers=handlers),
            {"core.base": "call", **{f"services.{s}": "bind" for s in services}})

    for k in range(VIEWS):
        a, b, c = k % SERVICES, (k + 29) % SERVICES, k % SCHEMAS
        uses = {"core.base": "call", f"schemas.c{c:02d}": "bind", f"services.s{a:02d}": "bind",
                f"services.s{b:02d}": "bind"}
        prefix = f'"/api/{NOUNS[k % len(NOUNS)].lower()}{k}"'
        if k % 2 == 0:  # the path comes from the service's constant
            prefix, uses[f"services.s{a:02d}"] = f'"/api/" + s{a:02d}.RESOURCE + "{k}"', "read"
        add(f"views.v{k:02d}", VIEW.format(k=k, noun=NOUNS[k % len(NOUNS)], schema=f"c{c:02d}", service_a=f"s{a:02d}",
                                            service_b=f"s{b:02d}", j_b=b, prefix=prefix), uses)

    imported = [f"handlers.h{h:02d}" for h in range(HANDLERS)] + [f"views.v{k:02d}" for k in range(VIEWS)]
    lines = []
    for package in ("handlers", "views"):
        names = [m.split(".")[1] for m in imported if m.startswith(package + ".")]
        for start in range(0, len(names), 10):
            lines.append(f"from APP.{package} import {', '.join(names[start:start + 10])}\n")
    add("main", MAIN.format(imports="".join(lines)), dict.fromkeys(imported, "bind"))

    for package in (name, *(f"{name}.{p}" for p in PACKAGES)):
        os.makedirs(os.path.join(directory, *package.split(".")), exist_ok=True)
    for module in app.sources:
        app.revisions[module] = 0
        app._write(module, 0)
    return app
