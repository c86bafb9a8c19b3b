"""WSGI and ASGI entry points that serve the newest application object (G15).

A server holds one application object for its whole life, but re-executing
the module that built it (``app = Flask(__name__)``, ``app = FastAPI()``)
makes a new one that no server holds: routes added by an edit would never be
served. ``wsgi_app("pkg.web:app")`` and ``asgi_app("pkg.api:app")`` return
one stable callable to give the server instead. On every request it enters
``pinned()``, reads the application object from the versioned module (so the
request sees the generation current when it started, and a refused reload
leaves the previous app serving), and calls it. A factory target
(``"pkg.app:create_app()"``) is called inside every reload's transaction,
before anything is published (``_Factory``), so a factory that raises
refuses the reload like module code raising.

The adapter stands in for the app: attribute reads go to the newest app
object, attribute writes (``flask run`` sets ``app.debug``) are applied to it
and replayed on every newer one, and ``isinstance(adapter, Flask)`` holds,
so framework command lines that check what they load accept it. ASGI
lifespan events go to the app current at start-up, whose ``state``
(Starlette's ``app.state``) every newer app object then shares.
"""

from __future__ import annotations

import importlib
import logging
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from .._core.pins import hold, pinned, release, viewing
from .._core.proxy import World, view
from .._core.state import Generation, StageRefusal, state
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
        self.module_name = module_name
        self.module = importlib.import_module(module_name)
        if not self.factory and state.record_for(self.module) is None:
            raise NotVersionedError(
                f"{caller}({target!r}) refused: {module_name!r} is not a versioned module, so no reload could "
                f"reach the server — call versioned_import.install(roots=[...]) before the first import of "
                f"{module_name!r} (see docs/frameworks.md)", module=module_name)
        self._factory = _Factory(self) if self.factory else None

    def find(self) -> Any:
        """Return the attribute the target names (the app, or the factory), as this thread or task sees it."""
        found: Any = self.module
        for part in self.path:
            found = getattr(found, part)
        return found

    def resolve(self) -> Any:
        """Return the application object for the generations this thread or task sees."""
        if self._factory is None:
            return self.find()
        return self._factory.app_for(view.get() or state.world)


class _Built:
    """An app object a factory built, and the generations it was built from (``id(proxy)`` -> generation)."""

    __slots__ = ("app", "generations")

    def __init__(self, app: object, generations: Mapping[int, Generation]) -> None:
        self.app = app
        self.generations = generations

    def serves(self, world: World) -> bool:
        """Whether a reader of ``world`` sees the code this app was built from (modules imported since aside)."""
        seen = world.generations
        return all(seen.get(key, generation) is generation for key, generation in self.generations.items())

    def possible(self) -> bool:
        """Whether a world may still serve it: each of its generations is current, or kept for a rollback."""
        for key, generation in self.generations.items():
            record = state.by_proxy.get(key)
            if record is not None and record.current is not generation and generation not in record.history:
                return False
        return True


class _Factory:
    """A factory target's app objects: built inside each reload's transaction, one served per world.

    The factory is called on the reloading thread, inside the staging view,
    once the new generations executed (a ``StageHook``): when it raises, the
    reload is refused like a module raising at import, nothing is published,
    and the previous app keeps serving. A reader is served the app built from
    the generations its world holds: after a publish the one built in that
    transaction, after a rollback the earlier one again, without calling the
    factory. Only a world no transaction built for (the first request, a
    rollback to a mix never served together) calls it outside a transaction.
    """

    def __init__(self, target: _Target) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._built: list[_Built] = []  # oldest first
        self._by_world: weakref.WeakKeyDictionary[World, _Built] = weakref.WeakKeyDictionary()
        self._staged: _Built | None = None
        with state.lock:
            state.stage_hooks.append(_WeakHook(self))

    def build(self, generations: Mapping[int, Generation]) -> _Built:
        """Call the factory as the current view sees the code; the app with what it was built from."""
        return _Built(self.target.find()(), generations)

    def app_for(self, world: World) -> Any:
        built = self._by_world.get(world)
        if built is not None:
            return built.app
        with self._lock:
            built = self._by_world.get(world)
            if built is None:
                self._prune()
                built = next((b for b in reversed(self._built) if b.serves(world)), None)
                if built is None:
                    built = self._build_outside(world)
                self._by_world[world] = built
        return built.app

    def _build_outside(self, world: World) -> _Built:
        """Build for a world no transaction built for (caller holds the lock); a failure keeps the newest app."""
        generations = dict(world.generations)
        try:
            built = self.build(generations)
        except Exception:
            if not self._built:
                raise  # the first app: wsgi_app() fails at start-up, naming the error
            logging.getLogger("versioned_import").exception(
                "the app factory %s raised; the previous app object keeps serving", self.target.text)
            return self._built[-1]
        self._built.append(built)
        return built

    def _prune(self) -> None:
        """Drop the apps no world can serve any more (caller holds the lock); the newest always stays."""
        with state.lock:  # histories change under it
            self._built = [b for b in self._built[:-1] if b.possible()] + self._built[-1:]

    # -- the StageHook, through _WeakHook -------------------------------------------------

    def stage(self, generations: Mapping[int, Generation]) -> None:
        try:
            built = self.build(generations)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: as module code raising at import
            module = self.target.module
            raise StageRefusal(self.target.module_name, getattr(module, "__file__", None),
                               f"the app factory {self.target.text!r} raised with the new code, so the previous "
                               "app keeps serving; fix the error and reload again") from exc
        with self._lock:
            self._prune()
            self._built.append(built)
            self._staged = built

    def abandoned(self) -> None:
        with self._lock:
            staged, self._staged = self._staged, None
            self._built = [b for b in self._built if b is not staged]


class _WeakHook:
    """The stage hook of a factory target, for as long as its adapter lives."""

    def __init__(self, factory: _Factory) -> None:
        self._factory = weakref.ref(factory, self._gone)
        self._text = factory.target.text

    def _gone(self, _: object) -> None:
        with state.lock:
            if self in state.stage_hooks:
                state.stage_hooks.remove(self)

    def stage(self, generations: Mapping[int, Generation]) -> None:
        factory = self._factory()
        if factory is not None:
            factory.stage(generations)

    def abandoned(self) -> None:
        factory = self._factory()
        if factory is not None:
            factory.abandoned()

    def __repr__(self) -> str:
        return f"<app factory {self._text!r}>"


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
    inside every reload's transaction (one that raises refuses the reload).
    Give the result to the server (gunicorn,
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
