"""WSGI and ASGI entry points that serve the newest application object (G15).

A server holds one application object for its whole life, but re-executing
the module that built it (``app = Flask(__name__)``, ``app = FastAPI()``)
makes a new one that no server holds: routes added by an edit would never be
served. ``wsgi_app("pkg.web:app")`` and ``asgi_app("pkg.api:app")`` return
one stable callable to give the server instead. On every request it enters
``pinned()``, reads the application object from the versioned module (so the
request sees the generation current when it started, and a refused reload
leaves the previous app serving), and calls it.

The adapter stands in for the app: attribute reads go to the newest app
object, attribute writes (``flask run`` sets ``app.debug``) are applied to it
and replayed on every newer one, and ``isinstance(adapter, Flask)`` holds,
so framework command lines that check what they load accept it. ASGI
lifespan events go to the app current at start-up, whose ``state``
(Starlette's ``app.state``) every newer app object then shares.
"""

from __future__ import annotations

import importlib
import threading
import types
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from .._core.pins import hold, pinned, release, viewing
from .._core.proxy import World, view
from .._core.state import state
from .._errors import NotVersionedError
from .._runtime import frameworks as _frameworks

__all__ = ["wsgi_app", "asgi_app"]

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ASGIApplication = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                           Awaitable[None]]


class _Target:
    """Where an application object lives: ``'pkg.module:attr'`` or ``'pkg.module:factory()'``."""

    def __init__(self, target: object, caller: str) -> None:
        if not isinstance(target, str):
            raise TypeError(f"{caller}() takes a 'package.module:attribute' string, not {type(target).__name__}")
        module_name, colon, attribute = target.partition(":")
        self.factory = attribute.endswith("()")
        attribute = attribute[:-2] if self.factory else attribute
        if not (colon and all(part.isidentifier() for part in module_name.split("."))
                and all(part.isidentifier() for part in attribute.split("."))):
            raise ValueError(f"{caller}({target!r}): give 'package.module:attribute' or 'package.module:factory()', "
                             f"e.g. {caller}('app.main:app')")
        self.text = target
        self.path = tuple(attribute.split("."))
        self.module = importlib.import_module(module_name)
        if not self.factory and state.record_for(self.module) is None:
            raise NotVersionedError(
                f"{caller}({target!r}) refused: {module_name!r} is not a versioned module, so no reload could "
                f"reach the server — call versioned_import.install(roots=[...]) before the first import of "
                f"{module_name!r} (see docs/frameworks.md)", module=module_name)
        self._lock = threading.Lock()
        self._built: tuple[World, object, object] | None = None

    def resolve(self) -> Any:
        """Return the application object for the generations this thread or task sees."""
        found: Any = self.module
        for part in self.path:
            found = getattr(found, part)
        if not self.factory:
            return found
        # A factory builds the app from whatever modules it imports, so the app
        # is rebuilt once per published world (every publish makes a new one).
        world = view.get() or state.world
        built = self._built
        if built is None or built[0] is not world or built[1] is not found:
            with self._lock:
                built = self._built
                if built is None or built[0] is not world or built[1] is not found:
                    built = self._built = (world, found, found())
        return built[2]


class _Adapter:
    """What the WSGI and ASGI adapters share: resolving, adopting new app objects, standing in for them."""

    def __init__(self, target: str, caller: str) -> None:
        object.__setattr__(self, "_target", _Target(target, caller))
        object.__setattr__(self, "_caller", caller)
        object.__setattr__(self, "_assigned", {})
        object.__setattr__(self, "_latest", None)
        object.__setattr__(self, "_origin", None)
        object.__setattr__(self, "_adopting", threading.Lock())
        with pinned():
            self._app()  # a wrong target fails at start-up, not at the first request

    def _app(self) -> Any:
        app = self._target.resolve()
        if app is not self._latest:
            self._adopt(app)
        return app

    def _adopt(self, app: Any) -> None:
        """Prepare an app object the adapter has not served yet: carry state over, replay attribute writes."""
        with self._adopting:
            if app is self._latest:
                return
            if self._origin is None:
                object.__setattr__(self, "_origin", app)
            elif app is not self._origin:
                self._carry(self._origin, app)
            for name, value in self._assigned.items():
                setattr(app, name, value)
            _frameworks.serving(app)
            object.__setattr__(self, "_latest", app)

    def _carry(self, origin: Any, app: Any) -> None:
        """Hand what the first app object owns to a newer one (nothing for WSGI)."""

    # -- standing in for the application object --------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol lookups (copy, pickle, await) are about the adapter itself
        return getattr(self._app(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        with self._adopting:
            self._assigned[name] = value
        setattr(self._app(), name, value)

    def __delattr__(self, name: str) -> None:
        with self._adopting:
            self._assigned.pop(name, None)
        delattr(self._app(), name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        # isinstance(adapter, Flask) holds, as `flask run` requires. A plain
        # function app keeps our class: servers inspect functions' code objects.
        app = self._latest
        if app is None or isinstance(app, (types.FunctionType, types.MethodType)):
            return type(self)
        return type(app)

    def __repr__(self) -> str:
        return f"<versioned_import.{self._caller}({self._target.text!r}) serving {self._latest!r}>"


class _WSGIAdapter(_Adapter):
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # The pin lasts until the server closes the response body (PEP 3333),
        # so a streamed body runs the code the request started with.
        world = hold()
        try:
            with viewing(world):
                body: Iterable[bytes] = self._app()(environ, start_response)
        except BaseException:
            release(world)
            raise
        if world is None:
            return body
        if isinstance(body, (list, tuple)):
            release(world)  # nothing of the app runs any more
            return body
        if world is not state.world:
            # A publish landed during the call: a streamed body may keep the pin
            # for long, so caches the app refilled from old code go now.
            state.notify_stale_reader_done()
        return _PinnedBody(body, world)


class _PinnedBody:
    """A WSGI response body iterated and closed inside the request's pin, which it releases on close."""

    def __init__(self, body: Iterable[bytes], world: World) -> None:
        self._body = body
        self._iterator: Iterator[bytes] | None = None
        self._world: World | None = world

    def __iter__(self) -> _PinnedBody:
        return self

    def __next__(self) -> bytes:
        with viewing(self._world):
            if self._iterator is None:
                self._iterator = iter(self._body)
            return next(self._iterator)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                with viewing(self._world):
                    close()
        finally:
            world, self._world = self._world, None
            release(world)

    def __del__(self) -> None:
        # A server that never closes the body must not keep the pin (and old generations) forever.
        world, self._world = self._world, None
        release(world)


class _ASGIAdapter(_Adapter):
    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope.get("type") == "lifespan":
            # Not pinned: the lifespan lasts as long as the server, and a pin that
            # long would keep every module on the slower view path.
            await self._app()(scope, receive, send)
            return
        with pinned():  # one HTTP request, or one websocket connection
            app = self._app()
            await app(scope, receive, send)

    def _carry(self, origin: Any, app: Any) -> None:
        # Starlette's app.state holds what the lifespan start-up made (pools,
        # clients): the new app object shares the first one's. What the new
        # code itself put there at import time (Starlette keeps it in
        # State._state) is merged in first, so it is not lost.
        kept = getattr(origin, "state", None)
        fresh = getattr(app, "state", None)
        if kept is None or fresh is kept or type(fresh) is not type(kept):
            return
        ours, theirs = getattr(kept, "_state", None), getattr(fresh, "_state", None)
        if type(ours) is dict and type(theirs) is dict:
            ours.update(theirs)
        app.state = kept


def wsgi_app(target: str) -> WSGIApplication:
    """Return a WSGI application that serves the newest application object of ``target``.

    ``target`` is ``'package.module:attribute'`` (the module must be
    versioned: ``install()`` first) or ``'package.module:factory()'``, called
    again after every publish. Give the result to the server (gunicorn,
    werkzeug, ``flask run``, Django's ``WSGI_APPLICATION``, wsgiref): each
    request runs inside ``pinned()`` until its body is closed, with the app
    object of the generation current when it started, so routes added by an
    edit are served and a refused reload leaves the previous app serving.
    Attribute reads and writes on the result go to the newest app object.
    See docs/frameworks.md.
    """
    return _WSGIAdapter(target, "wsgi_app")


def asgi_app(target: str) -> ASGIApplication:
    """Return an ASGI application that serves the newest application object of ``target``.

    As ``wsgi_app``, for uvicorn, hypercorn or daphne: each HTTP request and
    each websocket connection runs inside ``pinned()`` with the app object of
    the generation current when it started. Lifespan events go to the app
    object current at start-up; newer app objects share its ``state``
    (``app.state``), and the server's lifespan state (``scope["state"]``)
    reaches every request as before. See docs/frameworks.md.
    """
    return _ASGIAdapter(target, "asgi_app")
