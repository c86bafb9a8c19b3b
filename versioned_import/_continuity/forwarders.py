"""Forwarders: how a function object taken before a reload runs the newest code while a pin needs it.

Publishing makes every held function of a lineage run a small forwarder of
the same kind (function, coroutine, generator, async generator) that calls
the lineage's *body* — a private twin of the newest definition, with the
newest globals, defaults and closure — or, inside ``pinned()``, the pinned
generation's body. Once no reader views another generation, the held
function is transplanted instead (``_transplant``); in the portable mode it
keeps forwarding.
"""

from __future__ import annotations

import itertools
import operator
import types
import warnings
import weakref
from collections.abc import Callable
from inspect import CO_ASYNC_GENERATOR, CO_COROUTINE, CO_GENERATOR, CO_ITERABLE_COROUTINE
from typing import Any

from .._core.proxy import view

__all__ = ["FunctionLineage", "Newest", "version_ref", "entry", "shown", "show_operations", "SHOWN", "kind",
           "KIND_NAMES", "meta", "own_code", "body", "forwarder", "wrapped_operations", "ABSENT"]

FunctionType = types.FunctionType


class FunctionLineage:
    """Every function object ever defined at one place; forwarders call ``resolve()``.

    ``current`` is the *body* of the published definition: a private twin of
    the function the newest generation made, never handed to anyone, so that
    it can be called without itself ever forwarding. ``versions`` are the
    objects callers hold (the identity and any object that escaped the
    reference rewrite), each with the code it runs on its own. Invariant
    after every publish: every live version either runs a forwarder carrying
    ``meta`` (the file, first line and names of the current code) or runs
    its own definition, which is the current one. Once no pinned reader
    needs another generation, ``settle`` turns forwarders into transplants
    (``_transplant``): the version becomes the current definition itself.
    """

    __slots__ = ("module", "key", "proxy_id", "current", "generation", "head", "versions", "meta", "dormant", "sleep",
                 "serial", "table", "forgotten", "newest", "identity", "__weakref__")

    def __init__(self, module: str, key: tuple[str, str], proxy_id: int, table: dict[int, Any]) -> None:
        self.module = module
        self.key = key
        self.proxy_id = proxy_id
        self.current: FunctionType | None = None
        self.generation: Any = None
        # (current, generation) as one object: resolve() reads it in one step,
        # so a publish landing between two reads cannot pair a newer function
        # with an older generation. Every publish writes it with the other two.
        self.head: tuple[FunctionType | None, Any] = (None, None)
        # (function, its own code, its generation, its own shown attributes):
        # the function and generation weak, so an old version lives exactly
        # as long as somebody still holds it; see ``entry``.
        self.versions: list[tuple[weakref.ref[FunctionType], types.CodeType, weakref.ref[Any] | None,
                                  tuple[Any, ...]]] = []
        self.meta: tuple[Any, ...] | None = None
        # Set when the newest source no longer defines the function and nothing
        # forwards to it: the last definition is then only held weakly, so its
        # generation can die with it.
        self.dormant: weakref.ref[Any] | None = None
        self.sleep: Any = None  # set while the source no longer defines it
        self.serial = next(_serials)
        # The forwarding table of this lineage's state: serial -> lineage, for
        # every lineage a forwarder may call (see forwarder()).
        self.table = table
        self.forgotten = False
        self.newest = Newest(self)
        # The object callers were given for this definition (weak): a new
        # generation's function is replaced by it everywhere, so that
        # identity, pickling and weakly held callbacks see one function.
        self.identity: weakref.ref[FunctionType] | None = None

    def target(self) -> FunctionType | None:
        """Return the body of the newest definition, held strongly, or (dormant) made from its identity.

        A lineage is dormant only once nothing forwards, so the identity then
        runs that very definition on its own; a twin of it is what forwarders
        would call.
        """
        if self.current is not None:
            return self.current
        identity = self.dormant() if self.dormant is not None else None
        return body(identity, own_code(self, identity)) if identity is not None else None

    def version_died(self, _: weakref.ref[Any]) -> None:
        """Once the source dropped the function, the last old version dying lets it go too."""
        if self.generation is None and self.current is not None and self.sleep is not None:
            self.sleep(self)
        self.release_if_unused()

    def forwarders_alive(self) -> bool:
        """Whether some live version runs a forwarder (rather than a definition of its own)."""
        for reference, code, *_ in self.versions:
            version = reference()
            if version is not None and version.__code__ is not code:
                return True
        return False

    def release_if_unused(self) -> None:
        """Drop the forwarding entry once no forwarder can call it and the registry no longer needs it."""
        if (self.forgotten or self.current is None) and not self.forwarders_alive():
            self.table.pop(self.serial, None)

    def resolve(self) -> FunctionType:
        """Return the function a forwarder should call in the caller's view."""
        current, generation = self.head
        world = view.get()
        if world is not None:
            pinned = world.generations.get(self.proxy_id)
            if pinned is not None and pinned is not generation:
                definitions = pinned.continuity
                body = definitions.bodies.get(self.key) if definitions is not None else None
                if body is not None:
                    pinned_body: FunctionType = body
                    return pinned_body
        # A forwarder exists only while its lineage has a target: the None is never returned.
        return current if current is not None else self.target()  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<lineage {self.module}.{self.key[0]}>"


class Newest:
    """A forwarded function's ``__wrapped__``: its lineage's newest definition, for ``inspect``.

    The forwarder's own signature is ``(*args, **kwargs)``; ``inspect.signature``
    and ``inspect.unwrap`` (so ``inspect.getsource``) follow ``__wrapped__`` to
    this object, which answers for the newest definition at the moment asked.
    """

    __slots__ = ("lineage",)

    def __init__(self, lineage: FunctionLineage) -> None:
        self.lineage = lineage

    @property
    def __wrapped__(self) -> FunctionType | None:
        return self.lineage.target()

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(self.lineage.target())  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.lineage.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<newest definition of {self.lineage.module}.{self.lineage.key[0]}>"


ABSENT = object()

# The attributes a forwarding version shows of the definition it forwards to
# (``inspect``, ``typing.get_type_hints`` and frameworks read them), restored
# when it runs a definition of its own again.
SHOWN = ("__defaults__", "__kwdefaults__", "__annotations__", "__doc__", "__dict__")


shown: Callable[[FunctionType], tuple[Any, ...]] = operator.attrgetter(*SHOWN)  # one C call


def entry(function: FunctionType, lineage: FunctionLineage, code: types.CodeType, generation: Any) -> tuple[Any, ...]:
    """A ``versions`` entry: ``function`` running ``code`` (of ``generation``) with the attributes it has now."""
    return (version_ref(function, lineage), code, weakref.ref(generation) if generation is not None else None,
            shown(function))


def show_operations(version: FunctionType, values: tuple[Any, ...],
                    newest: Newest | None = None) -> tuple[list[Any], list[Any]]:
    """Plan ``version`` showing ``values`` (as ``shown`` returns them), with the undo.

    With ``newest``, the version forwards: it gets a copy of the attributes,
    whose ``__wrapped__`` (unless the definition has one of its own, as a
    functools.wraps wrapper does) names the newest definition.
    """
    do, undo = [], []
    for name, value in zip(SHOWN, values):
        if newest is not None and name == "__dict__":
            value = dict(value)
            value.setdefault("__wrapped__", newest)
        elif newest is not None and name in ("__annotations__", "__kwdefaults__") and value is not None:
            value = dict(value)  # its own copy: the body's must never change
        do.append((setattr, version, name, value))
        undo.append((setattr, version, name, getattr(version, name)))
    return do, undo


def wrapped_operations(version: FunctionType, value: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Plan setting ``version.__wrapped__`` to ``value`` (``ABSENT``: removing it), with the undo."""
    attributes = version.__dict__
    before = attributes.get("__wrapped__", ABSENT)
    do = (attributes.pop, "__wrapped__", None) if value is ABSENT else (dict.__setitem__, attributes, "__wrapped__", value)
    undo = (attributes.pop, "__wrapped__", None) if before is ABSENT else \
        (dict.__setitem__, attributes, "__wrapped__", before)
    return do, undo


def version_ref(function: FunctionType, lineage: FunctionLineage) -> weakref.ref[FunctionType]:
    """A weak reference to a version that tells its lineage when it dies, without keeping the lineage alive."""
    owner = weakref.ref(lineage)

    def died(_: weakref.ref[FunctionType]) -> None:
        alive = owner()
        if alive is not None:
            alive.version_died(_)

    return weakref.ref(function, died)


def kind(code: types.CodeType) -> int:
    return code.co_flags & (CO_COROUTINE | CO_GENERATOR | CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE)


KIND_NAMES = {0: "function", CO_COROUTINE: "coroutine function", CO_GENERATOR: "generator function",
               CO_ASYNC_GENERATOR: "async generator function"}


def meta(code: types.CodeType) -> tuple[Any, ...]:
    return (code.co_filename, code.co_firstlineno, code.co_name, code.co_qualname)


def own_code(lineage: FunctionLineage, function: FunctionType) -> types.CodeType:
    """Return the code ``function`` ran before it was forwarded (the newest entry is checked first)."""
    for reference, code, *_ in reversed(lineage.versions):
        if reference() is function:
            own: types.CodeType = code
            return own
    return function.__code__


def body(version: FunctionType, code: types.CodeType) -> FunctionType:
    """Return a private twin of ``version`` running ``code``: what forwarders and pinned readers call.

    The twin has its own copy of the attributes, so that what is set on a
    version held elsewhere (a forwarder's ``__wrapped__``) never reaches it.
    """
    body = FunctionType(code, version.__globals__, version.__name__, version.__defaults__, version.__closure__)
    body.__kwdefaults__ = version.__kwdefaults__
    body.__qualname__ = version.__qualname__
    body.__dict__ = {k: v for k, v in version.__dict__.items() if not isinstance(v, Newest)}
    body.__doc__ = version.__doc__
    body.__module__ = version.__module__
    body.__annotations__ = version.__annotations__
    if hasattr(version, "__type_params__"):  # 3.12+
        body.__type_params__ = version.__type_params__  # type: ignore[attr-defined,unused-ignore]
    return body


_PLACEHOLDER = "__versioned_import_lineage__"
_SERIAL_PLACEHOLDER = 918_273_645
_serials = itertools.count(1)
_TEMPLATES = {
    0: "def forward(*args, **kwargs): return {p}({s}).resolve()(*args, **kwargs){keep}",
    CO_COROUTINE: "async def forward(*args, **kwargs): return (await {p}({s}).resolve()(*args, **kwargs)){keep}",
    CO_GENERATOR: "def forward(*args, **kwargs): return (yield from {p}({s}).resolve()(*args, **kwargs)){keep}",
    CO_ASYNC_GENERATOR: """\
async def forward(*args, **kwargs):
    inner = {p}({s}).resolve()(*args, **kwargs){keep}
    try:
        value = await inner.__anext__()
    except StopAsyncIteration:
        return
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            await inner.aclose()
            raise
        except BaseException as exc:
            try:
                value = await inner.athrow(exc)
            except StopAsyncIteration:
                return
        else:
            try:
                value = await (inner.__anext__() if sent is None else inner.asend(sent))
            except StopAsyncIteration:
                return
""",
}
_template_cache: dict[tuple[int, int], types.CodeType] = {}


def _template(kind: int, cells: int) -> types.CodeType:
    """Compile the forwarder for ``kind`` with ``cells`` unused free variables.

    ``func.__code__`` may only be replaced by code with as many free
    variables as the function has closure cells, so wrappers (closures) get a
    forwarder with the same number of never-read cells.
    """
    cached = _template_cache.get((kind, cells))
    if cached is not None:
        return cached
    names = [f"_cell{i}" for i in range(cells)]
    keep = f" if 1 else ({', '.join(names)},)" if cells else ""
    body = _TEMPLATES.get(kind, _TEMPLATES[0]).format(p=repr(_PLACEHOLDER), s=_SERIAL_PLACEHOLDER, keep=keep)
    lines = ["def outer():"]
    lines += [f"    {name} = None" for name in names]
    lines += ["    " + line for line in body.splitlines()]
    lines.append("    return forward")
    namespace: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "'str' object is not callable": replaced below
        compiled = compile("\n".join(lines), "<versioned_import forwarder>", "exec", dont_inherit=True)
    exec(compiled, namespace)
    code: types.CodeType = namespace["outer"]().__code__
    assert len(code.co_freevars) == cells, (kind, cells, code.co_freevars)
    _template_cache[(kind, cells)] = code
    return code


def forwarder(lineage: FunctionLineage, own: types.CodeType, target: types.CodeType, cells: int) -> types.CodeType:
    template = _template(kind(own), cells)
    # The code holds the lookup and a number, never the lineage itself: the
    # collector cannot see through code objects, so a lineage referenced from
    # code could keep dead generations alive in a cycle it never detects.
    lineage.table[lineage.serial] = lineage
    consts = tuple(lineage.table.__getitem__ if c == _PLACEHOLDER
                   else lineage.serial if (type(c) is int and c == _SERIAL_PLACEHOLDER) else c
                   for c in template.co_consts)
    # Named and placed like the newest code, so tracebacks and inspect show the source that runs.
    return template.replace(co_consts=consts, co_name=target.co_name, co_qualname=target.co_qualname,
                            co_filename=target.co_filename, co_firstlineno=target.co_firstlineno)
