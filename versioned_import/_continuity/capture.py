"""The namespace walk: which classes and functions a generation defines, and the key each is matched by."""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

from . import forwarders as _forwarders
from .lineages import Definitions
from .transplant import TRANSPLANT, call_version

__all__ = ["capture"]

FunctionType = types.FunctionType


def capture(module: str, namespace: dict[str, Any]) -> Definitions:
    """Find the classes and functions defined by ``module`` in ``namespace``.

    A function is matched across generations by its definition (qualified
    name) when that names one place in the source. Lambdas and functions made
    inside another function (a decorator's wrapper, a factory's closure) share
    such names, so they are matched by where the object sits instead: its
    slot in the namespace or a class, a ``functools.partial``'s function, a
    wrapper's ``__wrapped__`` or closure cell. What a decorator without
    ``functools.wraps`` decorated is only reachable through the wrapper's
    closure, so closures are followed too.
    """
    walk = _Walk(module)
    for name, value in list(namespace.items()):
        if name == "__builtins__":
            continue  # the interpreter's, never a table of this module's definitions
        walk.visit(value, name)
        # A table at module level (``HANDLERS = {"save": lambda ...}``, a list of
        # callbacks): its entries have slots too. Small ones only: the scan runs
        # at every reload.
        kind = type(value)
        if kind is dict and len(value) <= _TABLE_LIMIT:
            for key, entry in list(value.items()):
                if type(key) in (str, int):
                    walk.visit(entry, f"{name}[{key!r}]")
        elif (kind is list or kind is tuple) and len(value) <= _TABLE_LIMIT:
            for index, entry in enumerate(list(value)):
                walk.visit(entry, f"{name}[{index}]")
    return walk.found


class _Walk:
    """One walk of a namespace.

    A method, not a closure that calls itself: such a closure holds itself
    through its own cell, a cycle that would keep ``found`` (and the codes
    and bodies in it) alive until a collection, and with them, for one more
    collection, the namespaces tied to those codes (see ``_transplant``).
    """

    __slots__ = ("module", "found", "seen")

    def __init__(self, module: str) -> None:
        self.module = module
        self.found = Definitions()
        self.seen: set[int] = set()

    def visit(self, value: Any, slot: Any) -> None:
        # ``slot`` says where the value sits: a name, or (parent slot, text...) rendered only when a key needs it.
        if type(value) in _PLAIN or id(value) in self.seen:
            return  # the common case, decided without an attribute lookup
        module, found, seen, visit = self.module, self.found, self.seen, self.visit
        if isinstance(value, type):
            qualname = getattr(value, "__qualname__", "")
            if value.__module__ != module or "<locals>" in qualname or qualname in found.classes:
                return
            seen.add(id(value))
            found.classes[qualname] = value
            for name, member in list(value.__dict__.items()):
                if type(member) not in _PLAIN:
                    visit(member, (qualname, ".", name))
        elif isinstance(value, FunctionType):
            seen.add(id(value))
            key = _key(value, module, slot)
            if key is not None and key not in found.functions:
                found.functions[key] = value
                found.codes[key] = value.__code__
                found.bodies[key] = _forwarders.body(value, value.__code__)
                if _VERSIONED_CALLS:
                    found.versions[key] = call_version(value)
            wrapped = value.__dict__.get("__wrapped__")
            if wrapped is not None:
                visit(wrapped, (slot, ".__wrapped__", ""))
            closure = value.__closure__
            if closure:
                for name, cell in zip(value.__code__.co_freevars, closure):
                    try:
                        content = cell.cell_contents
                    except ValueError:
                        continue  # a cell not filled yet
                    if type(content) not in _PLAIN:
                        visit(content, (slot, ".<", name, ">"))
        elif isinstance(value, (classmethod, staticmethod)):
            visit(value.__func__, slot)
        elif isinstance(value, property):
            for name, accessor in (("fget", value.fget), ("fset", value.fset), ("fdel", value.fdel)):
                if accessor is not None:
                    visit(accessor, (slot, ".", name))
        elif type(value) is _LRU_WRAPPER:
            # functools.lru_cache / cache: a C wrapper whose cache must not outlive the body.
            seen.add(id(value))
            if getattr(value, "__module__", None) == module:
                found.caches[(getattr(value, "__qualname__", "?"), "cache")] = value
            visit(value.__wrapped__, slot)
        elif type(value) is functools.partial:
            seen.add(id(value))
            visit(value.func, (slot, ".func", ""))


_TABLE_LIMIT = 256
# Only 3.13 gives a function a call version worth keeping (see ``transplant.call_version``).
_VERSIONED_CALLS = sys.version_info[:2] == (3, 13) and TRANSPLANT


_LRU_WRAPPER = type(functools.lru_cache(maxsize=None)(lambda: None))
# Values that can never be, or hold, a definition: skipped at once.
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset,
                    types.ModuleType, types.BuiltinFunctionType})


def _render(slot: Any) -> str:
    """The text of a slot: a name, or a parent slot followed by the parts that say where in it."""
    if type(slot) is str:
        return slot
    return _render(slot[0]) + "".join(slot[1:])


def _key(function: FunctionType, module: str, slot: Any) -> tuple[str, str] | None:
    """Return the key that matches ``function`` across generations, or None if it is not ``module``'s.

    A functools.wraps wrapper copies __qualname__ from what it wraps; the
    code's own co_qualname tells the wrapper and the wrapped apart. A name
    shared by several definitions (``<lambda>``, ``<locals>``) is replaced by
    the slot, marked with ``@`` so it can never equal a qualified name. Such
    an object may come from a factory in another module (a decorator's
    wrapper): made while this module executed, it is matched here.
    """
    qualname = function.__qualname__
    if "<locals>" in qualname or qualname.endswith("<lambda>"):
        if function.__module__ != module and "<locals>" not in qualname:
            return None  # another module's own lambda, merely imported here
        return (f"@{_render(slot)}", function.__code__.co_qualname)
    if function.__module__ != module:
        return None
    return (qualname, function.__code__.co_qualname)


# -- first import -------------------------------------------------------------
