"""Whether a re-executed module defines what its previous generation did, name by name (G6, and class states).

Dependents of a module need re-running only when something their
import-time code used changed. What changed is decided here by comparing
the new namespace with the published one, the way continuity will carry it
over: a new class or function stands for the identity it is continued as
(``resolve``), and is unchanged when its definition is (code, defaults,
closure contents, attributes; a class's bases, metaclass and every
attribute), values compare by value, and anything else mutable at module
level — an instance, a list, a registry — is a new object, so changed.

A class attribute whose new value is a container equal to the identity's
current one, and that nothing but the new class holds, is *kept*: the class
state leaves the identity's own object in place (``pipeline.snapshot``), so
that a dependent holding it, or a method reading it, sees no change.
Attributes that are new objects equal to the old ones but cannot be kept (a
function's ``cache`` dict its closure shares) are *moved*: a dependent that
loads one by name at import time re-runs.

Where the comparison cannot tell (a budget of visited objects, a kind it
does not know), it says "changed": the price of a wrong "changed" is one
re-execution, of a wrong "unchanged" a stale dependent.
"""

from __future__ import annotations

import enum
import functools
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .holders import bases_of, dict_of, is_user_class

__all__ = ["Changes", "Comparison"]

FunctionType = types.FunctionType

# Compared with ==: immutable values whose equality is their content.
_VALUES = frozenset({int, float, complex, str, bytes, bool, type(None), type(Ellipsis), type(NotImplemented), range,
                     slice, re.Pattern})
_CONTAINERS = frozenset({dict, list, set})
_LAYOUT_KEYS = frozenset({"__dict__", "__weakref__", "_abc_impl"})
_FUNCTION_ATTRIBUTES = ("__doc__", "__name__", "__qualname__", "__module__")
_BUDGET = 20_000


@dataclass(eq=False)
class Changes:
    """What a module's new generation changed: names, attributes moved to new objects, class attributes kept."""

    names: set[str] = field(default_factory=set)
    # Module-level containers and instances that are new objects equal to the old ones: code that bound the
    # old object must run again, code that reads the name through the module sees the same content.
    rebound: set[str] = field(default_factory=set)
    moved: set[str] = field(default_factory=set)
    kept: dict[str, set[str]] = field(default_factory=dict)  # class qualname -> attribute names
    objects: set[int] = field(default_factory=set)  # ids of the identities whose definition changed


class Comparison:
    """Compare new objects of one module with the objects they are continued as.

    ``resolve(new)`` returns the identity a new class or function of the
    module is continued as (None if it starts afresh); ``body(identity)`` the
    function whose code the identity currently runs. ``affected`` holds the
    ids of objects whose behaviour changed in this reload already: such an
    object is never unchanged.
    """

    def __init__(self, resolve: Callable[[Any], Any], body: Callable[[Any], Any], affected: set[int]) -> None:
        self.resolve = resolve
        self.body = body
        self.affected = affected
        self.changes = Changes()
        self._memo: dict[tuple[int, int], bool] = {}
        self._budget = _BUDGET

    def namespace(self, new: dict[str, Any], old: dict[str, Any]) -> Changes:
        """Compare two namespaces name by name; return (and keep) the changes."""
        changes = self.changes
        for name in new.keys() | old.keys():
            if name not in new or name not in old:
                changes.names.add(name)
                continue
            value, before = new[name], old[name]
            if value is before:
                if id(before) in self.affected:
                    changes.names.add(name)
                continue
            kind = type(value)
            if kind in _CONTAINERS or (is_user_class(kind) and not isinstance(value, (type, enum.Enum))):
                # A new object a dependent may have bound: never the same one, but maybe the same content.
                (changes.rebound if self.same(value, before) else changes.names).add(name)
                continue
            if not self.same(value, before):
                changes.names.add(name)
                if isinstance(before, (type, FunctionType)):
                    changes.objects.add(id(before))
        return changes

    def same(self, new: Any, old: Any) -> bool:
        """Whether ``new`` (of the new generation) says what ``old`` (its counterpart, continued) says."""
        if new is old:
            return id(old) not in self.affected
        key = (id(new), id(old))
        known = self._memo.get(key)
        if known is not None:
            return known
        self._budget -= 1
        if self._budget < 0:
            return False
        self._memo[key] = True  # a cycle compares as the same until shown otherwise
        result = self._same(new, old)
        self._memo[key] = result
        return result

    def _same(self, new: Any, old: Any) -> bool:
        kind = type(new)
        if kind in _VALUES:
            return type(old) is kind and (new == old or (new != new and old != old))  # NaN equals itself here
        if issubclass(kind, type):
            return self.resolve(new) is old and id(old) not in self.affected and self._class(new, old)
        if kind is FunctionType:
            return self.resolve(new) is old and id(old) not in self.affected and self._function(new, old)
        if kind is not type(old) and self.resolve(kind) is not type(old):
            return False
        compare = _KINDS.get(kind)
        if compare is not None:
            return compare(self, new, old)
        if is_user_class(kind):
            return self._instance(new, old)
        return False

    def _sequence(self, new: Any, old: Any) -> bool:
        return len(new) == len(old) and all(self.same(a, b) for a, b in zip(new, old))

    def _dict(self, new: dict[Any, Any], old: dict[Any, Any]) -> bool:
        if len(new) != len(old):
            return False
        for key, value in new.items():
            counterpart = key if type(key) in _VALUES else self.resolve(key)
            if counterpart is None or counterpart not in old or not self.same(value, old[counterpart]):
                return False
        return True

    def _set(self, new: Any, old: Any) -> bool:
        if not all(type(item) in _VALUES for item in new):
            return False
        return bool(new == old)

    def _instance(self, new: Any, old: Any) -> bool:
        state, before = getattr(new, "__dict__", None), getattr(old, "__dict__", None)
        if (state is None) != (before is None):
            return False
        if state is not None and (type(state) is not dict or type(before) is not dict or not self._dict(state, before)):
            return False
        for owner in type(old).__mro__:
            for slot in _slots(owner):
                if self._slot(new, slot) != self._slot(old, slot) or \
                        not self.same(getattr(new, slot, None), getattr(old, slot, None)):
                    return False
        return True

    @staticmethod
    def _slot(value: Any, name: str) -> bool:
        return hasattr(value, name)

    def _function(self, new: FunctionType, identity: FunctionType) -> bool:
        body = self.body(identity)
        if new.__code__ != body.__code__:
            return False
        if not self.same(new.__defaults__, body.__defaults__) or not self.same(new.__kwdefaults__, body.__kwdefaults__):
            return False
        if (new.__closure__ is None) != (body.__closure__ is None):
            return False
        for cell, before in zip(new.__closure__ or (), body.__closure__ or ()):
            if not self.same(_contents(cell), _contents(before)):
                return False
        if any(getattr(new, name) != getattr(body, name) for name in _FUNCTION_ATTRIBUTES):
            return False
        if not self.same(new.__annotations__, body.__annotations__):
            return False
        attributes, previous = new.__dict__, {k: v for k, v in body.__dict__.items() if k != "__wrapped__"
                                              or "__wrapped__" in new.__dict__}
        if attributes.keys() != previous.keys():
            return False
        for name, value in attributes.items():
            before = previous[name]
            if type(value) in _CONTAINERS and value is not before:
                if not self.same(value, before):
                    return False
                self.changes.moved.add(name)  # the identity takes the new object: who held the old one must re-run
            elif not self.same(value, before):
                return False
        return True

    def _class(self, new: type, identity: type) -> bool:
        metaclass = type(new)
        if metaclass is not type(identity) and self.resolve(metaclass) is not type(identity):
            return False
        bases, previous = bases_of(new), bases_of(identity)
        if len(bases) != len(previous) or any(b is not p and self.resolve(b) is not p for b, p in zip(bases, previous)):
            return False
        attributes, current = dict_of(new), dict_of(identity)
        names = attributes.keys() - _LAYOUT_KEYS
        if names != current.keys() - _LAYOUT_KEYS:
            return False
        kept: set[str] = set()
        for name in names:
            value, before = attributes[name], current[name]
            if type(value) is types.MemberDescriptorType:
                continue  # a slot: the layout, compared through __slots__
            if type(value) in _CONTAINERS and value is not before:
                if not self.same(value, before):
                    return False
                # The class dict, this frame's ``value`` and getrefcount's argument: nothing else holds it.
                if sys.getrefcount(value) <= 3:
                    kept.add(name)
                else:
                    self.changes.moved.add(name)
            elif not self.same(value, before):
                return False
        if kept:
            self.changes.kept.setdefault(new.__qualname__, set()).update(kept)
        return True


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


_EMPTY = object()


def _slots(owner: type) -> tuple[str, ...]:
    slots = dict_of(owner).get("__slots__", ()) if owner is not object else ()
    if isinstance(slots, str):
        return (slots,)
    return tuple(name for name in slots if name not in ("__dict__", "__weakref__"))


def _method(comparison: Comparison, new: Any, old: Any) -> bool:
    return comparison.same(new.__func__, old.__func__)


def _property(comparison: Comparison, new: property, old: property) -> bool:
    return all(comparison.same(getattr(new, name), getattr(old, name)) for name in ("fget", "fset", "fdel", "__doc__"))


def _partial(comparison: Comparison, new: functools.partial[Any], old: functools.partial[Any]) -> bool:
    return comparison.same(new.func, old.func) and comparison._sequence(new.args, old.args) and \
        comparison._dict(new.keywords, old.keywords)


def _frozenset(comparison: Comparison, new: frozenset[Any], old: frozenset[Any]) -> bool:
    return comparison._set(new, old)


def _mapping_proxy(comparison: Comparison, new: types.MappingProxyType[Any, Any],
                   old: types.MappingProxyType[Any, Any]) -> bool:
    return comparison._dict(dict(new), dict(old))


_KINDS: dict[type, Callable[[Comparison, Any, Any], bool]] = {
    tuple: Comparison._sequence,
    list: Comparison._sequence,
    dict: Comparison._dict,
    set: Comparison._set,
    frozenset: _frozenset,
    classmethod: _method,
    staticmethod: _method,
    property: _property,
    functools.partial: _partial,
    types.MappingProxyType: _mapping_proxy,
}
