"""Continuity (G7): objects taken before a reload behave as the newest code.

Two mechanisms, chosen by what CPython allows:

* **Classes keep their identity.** A new generation's class ``C`` is a new
  object; publishing updates the *first* class object in place to the new
  definition (its dict, bases, ABC registrations) and rewrites every reference
  to the new object (namespaces, registries, ``__class__`` cells, instances'
  ``__class__``) to the identity. ``isinstance``, ``except``, ``pickle``,
  ``singledispatch`` and dicts keyed by class therefore never see two classes.
* **Functions forward.** A function's ``__globals__`` is fixed at creation, so
  an old function object cannot simply take the new body. Instead its
  ``__code__`` becomes a small *forwarder* of the same kind (function,
  coroutine, generator, async generator) that calls its lineage's newest
  function, which runs against the newest globals, defaults and closure.
  Inside ``pinned()`` the forwarder resolves to the pinned generation's body.

Objects are matched by where they are defined (module, ``__qualname__`` and,
for ``functools.wraps`` wrappers, the code's ``co_qualname``), never by the
name they are bound to. Where continuity is impossible the new object simply
takes the old one's place and the reason is reported.

Every change is planned as ``(c_callable, *args)`` operations with their
undo, so ``_reload`` can publish them in the same single step as the
namespaces.
"""

from __future__ import annotations

import functools
import types
import weakref
from dataclasses import dataclass, field
from typing import Any

from . import _forwarders
from ._classes import (HAVE_GC, ClassState, apply_state, enum_incompatibility, incompatibility,
                       map_enum_members, merge_abc, snapshot)
from ._forwarders import ABSENT, KIND_NAMES, FunctionLineage, kind, version_ref, wrapped_operations
from ._operations import Plan, apply_atomically, mapped, nothing
from ._references import rewrite_references

__all__ = ["Definitions", "ClassState", "FunctionLineage", "Plan", "capture", "adopt", "plan", "forget"]

FunctionType = types.FunctionType


@dataclass(eq=False)
class Definitions:
    """The classes and functions one generation defines, found by walking its namespace."""

    classes: dict[str, type] = field(default_factory=dict)
    functions: dict[tuple[str, str], FunctionType] = field(default_factory=dict)
    caches: dict[tuple[str, str], Any] = field(default_factory=dict)
    codes: dict[tuple[str, str], types.CodeType] = field(default_factory=dict)
    wrapped: dict[tuple[str, str], Any] = field(default_factory=dict)  # each function's own __wrapped__, if any
    states: dict[str, ClassState] = field(default_factory=dict)
    # What each lineage resolved to before this generation was published, so
    # that rolling it back restores definitions the republished source lacks.
    previous_targets: dict[tuple[str, str], Any] = field(default_factory=dict)
    previous_states: dict[str, weakref.ref | None] = field(default_factory=dict)
    bodies: dict[tuple[str, str], FunctionType] = field(default_factory=dict)


class ClassLineage:
    """The identity of a class defined at one place: strong while defined, weak once the source drops it."""

    __slots__ = ("identity", "dormant", "state")

    def __init__(self, identity: type, state: ClassState | None = None) -> None:
        self.identity: type | None = identity
        self.dormant: weakref.ref | None = None
        # The ClassState last applied to the identity, held weakly: it lives as
        # long as the generation that defined it is kept.
        self.state: weakref.ref | None = weakref.ref(state) if state is not None else None

    def get(self) -> type | None:
        if self.identity is not None:
            return self.identity
        return self.dormant() if self.dormant is not None else None

    def revive(self, identity: type) -> None:
        self.identity, self.dormant = identity, None


class Lineages:
    """The continuity registry of one ``State``."""

    def __init__(self) -> None:
        self.classes: dict[tuple[str, str], ClassLineage] = {}
        self.functions: dict[tuple[str, tuple[str, str]], FunctionLineage] = {}
        # Every live functools.lru_cache wrapper ever made at one place: all
        # are cleared when the body behind them changes.
        self.caches: dict[tuple[str, tuple[str, str]], list[weakref.ref]] = {}
        # serial -> lineage for every lineage a forwarder may call. Forwarder
        # code refers to lineages through this table, never directly; an entry
        # goes when the lineage is forgotten or asleep and nothing forwards to it.
        self.forwarding: dict[int, FunctionLineage] = {}


def _lineages(state: Any) -> Lineages:
    if state.lineages is None:
        state.lineages = Lineages()
    return state.lineages


# -- capture ------------------------------------------------------------------

def capture(module: str, namespace: dict[str, Any]) -> Definitions:
    """Find the classes and functions defined by ``module`` in ``namespace``."""
    found = Definitions()
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if type(value) in _PLAIN or id(value) in seen:
            return  # the common case, decided without an attribute lookup
        if isinstance(value, type):
            qualname = getattr(value, "__qualname__", "")
            if value.__module__ != module or "<locals>" in qualname or qualname in found.classes:
                return
            seen.add(id(value))
            found.classes[qualname] = value
            for member in list(value.__dict__.values()):
                visit(member)
        elif isinstance(value, FunctionType):
            seen.add(id(value))
            # Lambdas share one qualname, so they cannot be matched by definition.
            if value.__module__ == module and "<locals>" not in value.__qualname__ \
                    and not value.__qualname__.endswith("<lambda>"):
                key = _key(value)
                if key not in found.functions:
                    found.functions[key] = value
                    found.codes[key] = value.__code__
                    found.wrapped[key] = value.__dict__.get("__wrapped__", ABSENT)
            wrapped = value.__dict__.get("__wrapped__")
            if wrapped is not None:
                visit(wrapped)
        elif isinstance(value, (classmethod, staticmethod)):
            visit(value.__func__)
        elif isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                if accessor is not None:
                    visit(accessor)
        elif type(value) is _LRU_WRAPPER:
            # functools.lru_cache / cache: a C wrapper whose cache must not outlive the body.
            seen.add(id(value))
            if getattr(value, "__module__", None) == module:
                found.caches[(getattr(value, "__qualname__", "?"), "cache")] = value
            visit(value.__wrapped__)

    for value in list(namespace.values()):
        visit(value)
    return found


_LRU_WRAPPER = type(functools.lru_cache(maxsize=None)(lambda: None))
# Values that can never be, or hold, a definition: skipped at once.
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset,
                    types.ModuleType, types.BuiltinFunctionType})


def _key(function: FunctionType) -> tuple[str, str]:
    # A functools.wraps wrapper copies __qualname__ from what it wraps; the
    # code's own co_qualname tells the wrapper and the wrapped apart.
    return (function.__qualname__, function.__code__.co_qualname)


# -- first import -------------------------------------------------------------

def adopt(state: Any, module: str, generation: Any) -> None:
    """Start the lineages of a first import's definitions."""
    lineages = _lineages(state)
    definitions: Definitions = generation.continuity
    proxy_id = id(state.records[module].proxy)
    for qualname, cls in definitions.classes.items():
        definitions.states[qualname] = snapshot(cls, cls, {})
        lineages.classes[(module, qualname)] = ClassLineage(cls, definitions.states[qualname])
    _adopt_caches(lineages, module, definitions)
    for key, function in definitions.functions.items():
        lineage = FunctionLineage(module, key, proxy_id, lineages.forwarding)
        lineage.current = function
        lineage.generation = generation
        lineage.head = (function, generation)
        lineage.versions.append((version_ref(function, lineage), function.__code__, weakref.ref(generation)))
        lineage.meta = _forwarders.meta(function.__code__)
        lineages.functions[(module, key)] = lineage
    definitions.classes = {}


def _adopt_caches(lineages: Lineages, module: str, definitions: Definitions) -> None:
    for key, cache in definitions.caches.items():
        try:
            reference = weakref.ref(cache)
        except TypeError:
            continue  # a cache-like object without weakref support: cleared via its generation only
        lineages.caches.setdefault((module, key), []).append(reference)


def forget(state: Any, module: str) -> None:
    """Drop the lineages of ``module`` (on unload); forwarders already made keep working."""
    lineages = _lineages(state)
    for key in [k for k in lineages.classes if k[0] == module]:
        del lineages.classes[key]
    doomed = [lineages.functions.pop(k) for k in [k for k in lineages.functions if k[0] == module]]
    # Lineages a replaced class left behind are no longer registered, but may
    # still be in the forwarding table: they go too.
    doomed += [lineage for lineage in lineages.forwarding.values()
               if lineage.module == module and all(lineage is not other for other in doomed)]
    for lineage in doomed:
        key = (module, lineage.key)
        lineage.forgotten = True
        # An unloaded module is forgotten entirely: every version held
        # elsewhere runs its own code again (what its own generation defined),
        # and nothing of the library keeps the lineage or its generations alive.
        for reference, code, _ in lineage.versions:
            version = reference()
            if version is not None and version.__code__ is not code:
                version.__code__ = code
                operation, _ = wrapped_operations(version, _own_wrapped(version, key[1], lineage))
                operation[0](*operation[1:])
        lineage.versions = []
        lineage.current = None
        lineage.head = (None, None)
        lineage.table.pop(lineage.serial, None)
    for key in [k for k in lineages.caches if k[0] == module]:
        del lineages.caches[key]


# -- planning a publish -------------------------------------------------------


def plan(state: Any, triples: list[tuple[Any, Any, Any]], republish: bool = False) -> Plan:
    """Plan publishing ``(record, old_generation, new_generation)`` triples.

    With ``republish`` the new generations were published before (rollback):
    their class states are re-applied and their functions become current
    again; nothing new exists, so nothing is rewritten.
    """
    from ._reload import Replaced

    lineages = _lineages(state)
    result = Plan()
    mapping: dict[int, tuple[Any, Any]] = {}  # id(new object) -> (new object, identity)
    continued: list[tuple[str, str, type, type, Any]] = []
    restarted: list[tuple[str, str]] = []  # (module, "Class.") of replaced classes
    fresh: list[tuple[str, str, type, Any]] = []

    for record, old, new in triples:
        module = record.name
        definitions: Definitions = new.continuity
        if republish:
            for qualname, class_state in definitions.states.items():
                lineage = lineages.classes.get((module, qualname))
                if lineage is not None:
                    result._after.append(lambda lineage=lineage, state=class_state: (
                        lineage.revive(state.identity), setattr(lineage, "state", weakref.ref(state))))
                apply_state(result, class_state)
            if old is not None and old.continuity is not None:
                # Classes the rolled-back generation continued but the republished one
                # does not define go back to the state they had before it.
                for qualname, reference in old.continuity.previous_states.items():
                    lineage = lineages.classes.get((module, qualname))
                    previous = reference() if reference is not None else None
                    if qualname not in definitions.states and previous is not None and lineage is not None:
                        apply_state(result, previous)
                        result._after.append(lambda lineage=lineage, reference=reference:
                                             setattr(lineage, "state", reference))
            continue
        for qualname, cls in definitions.classes.items():
            lineage = lineages.classes.get((module, qualname))
            identity = lineage.get() if lineage is not None else None
            if identity is None or identity is cls:
                fresh.append((module, qualname, cls, new))
                continue
            reason = (incompatibility(identity, cls) or enum_incompatibility(identity, cls)
                      or _bases_incompatibility(identity, cls, lineages, module))
            if reason is not None:
                result.replaced.append(Replaced(module, qualname, reason))
                fresh.append((module, qualname, cls, new))
                restarted.append((module, qualname + "."))
                continue
            mapping[id(cls)] = (cls, identity)
            continued.append((module, qualname, identity, cls, new))
        _report_kind_changes(result, module, old, definitions, Replaced)

    # Bases before subclasses: a new source may invert a hierarchy, and each
    # __bases__ assignment is checked against the classes as they are then.
    continued.sort(key=lambda item: len(item[3].__mro__))
    fresh.sort(key=lambda item: len(item[2].__mro__))
    for module, qualname, identity, cls, new in continued:
        map_enum_members(result, mapping, identity, cls)
    for module, qualname, identity, cls, new in continued:
        class_state = snapshot(cls, identity, mapping)
        new.continuity.states[qualname] = class_state
        lineage = lineages.classes[(module, qualname)]
        new.continuity.previous_states[qualname] = lineage.state
        result._after.append(lambda lineage=lineage, state=class_state: setattr(lineage, "state", weakref.ref(state)))
        apply_state(result, class_state)
        merge_abc(result, identity, cls, mapping)
    for module, qualname, cls, new in fresh:
        class_state = snapshot(cls, cls, mapping)
        new.continuity.states[qualname] = class_state
        if class_state.bases != cls.__bases__:
            result.add((type.__setattr__, cls, "__bases__", class_state.bases),
                       (type.__setattr__, cls, "__bases__", cls.__bases__))
        # Bookkeeping changes only once the publish succeeded (see Plan.committed).
        result._after.append(lambda key=(module, qualname), cls=cls, state=class_state:
                             lineages.classes.__setitem__(key, ClassLineage(cls, state)))

    for record, old, new in triples:
        # Old instances of a replaced class keep it, so its methods keep their
        # code: the new methods start lineages of their own.
        prefixes = tuple(prefix for module, prefix in restarted if module == record.name)
        _plan_functions(result, lineages, record, old, new, mapping, republish, Replaced, prefixes)
        if republish and old is not None and old.continuity is not None:
            _restore_dropped_definitions(result, lineages, record.name, old.continuity, new.continuity)
        _plan_dormancy(result, lineages, record.name, old, new)
        if not republish:
            new.continuity.classes = {}
    if mapping:
        own = {id(continued), id(fresh), *(id(item) for item in continued), *(id(item) for item in fresh)}
        rewrite_references(result, mapping, triples, own)
    return result


def _restore_dropped_definitions(result: Plan, lineages: Lineages, module: str, dropped: Definitions,
                                 republished: Definitions) -> None:
    """A rollback undoes what the dropped generation did to definitions the republished one lacks."""
    for key in dropped.functions:
        if key in republished.functions:
            continue
        lineage = lineages.functions.get((module, key))
        reference = dropped.previous_targets.get(key)
        target = reference() if reference is not None else None
        if lineage is not None and target is not None and lineage.current is not target:
            result.add((setattr, lineage, "current", target), (setattr, lineage, "current", lineage.current))
            result.add((setattr, lineage, "generation", None), (setattr, lineage, "generation", lineage.generation))
            result.add((setattr, lineage, "head", (target, None)), (setattr, lineage, "head", lineage.head))


def _own_wrapped(version: FunctionType, key: tuple[str, str], lineage: FunctionLineage) -> Any:
    """Return what ``version.__wrapped__`` was before it was forwarded (``ABSENT`` if nothing)."""
    for reference, _, generation_ref in lineage.versions:
        if reference() is version:
            generation = generation_ref()
            if generation is not None and generation.continuity is not None:
                return generation.continuity.wrapped.get(key, ABSENT)
    current = version.__dict__.get("__wrapped__", ABSENT)
    return ABSENT if isinstance(current, _forwarders.Newest) else current


def _plan_dormancy(result: Plan, lineages: Lineages, module: str, old: Any, new: Any) -> None:
    """Let definitions the published generation lacks stop pinning old generations (G10)."""
    definitions: Definitions = new.continuity
    result._after.append(lambda: _settle(lineages, module, definitions))


def _settle(lineages: Lineages, module: str, definitions: Definitions) -> None:
    for key, lineage in list(lineages.functions.items()):
        if key[0] == module and key[1] not in definitions.functions:
            _sleep_function(lineages, key, lineage)
    for key, lineage in list(lineages.classes.items()):
        if key[0] == module and key[1] not in definitions.states:
            _sleep_class(lineages, key, lineage)


def _sleep_function(lineages: Lineages, key: tuple, lineage: FunctionLineage) -> None:
    current = lineage.current
    if current is None:
        return
    lineage.generation = None
    lineage.head = (current, None)
    lineage.sleep = lambda lineage: _sleep_function(lineages, key, lineage)
    if any(r() is not None and r() is not current for r, _, _ in lineage.versions):
        return  # an older version still forwards to it; version_died calls again when the last one goes
    lineage.current = None
    lineage.head = (None, None)
    lineage.sleep = None
    lineage.release_if_unused()

    def gone(_: object) -> None:
        if lineages.functions.get(key) is lineage and lineage.current is None:
            del lineages.functions[key]

    lineage.dormant = weakref.ref(current, gone)


def _sleep_class(lineages: Lineages, key: tuple, lineage: ClassLineage) -> None:
    identity = lineage.identity
    if identity is None:
        return

    def gone(_: object) -> None:
        if lineages.classes.get(key) is lineage and lineage.identity is None:
            del lineages.classes[key]

    lineage.identity, lineage.dormant = None, weakref.ref(identity, gone)


def _report_kind_changes(result: Plan, module: str, old: Any, definitions: Definitions, Replaced: Any) -> None:
    if old is None or old.continuity is None:
        return
    previous: Definitions = old.continuity
    function_names = {key[0] for key in definitions.functions}
    for qualname in previous.states:
        if qualname not in definitions.classes and qualname in function_names:
            result.replaced.append(Replaced(module, qualname, "a class became a function: the function takes its "
                                            "place; existing instances keep the old class"))
    for key in previous.functions:
        if key[0] == key[1] and key not in definitions.functions and key[0] in definitions.classes:
            result.replaced.append(Replaced(module, key[0], "a function became a class: the class takes its "
                                            "place; references to the old function keep the old code"))


def _bases_incompatibility(identity: type, new: type, lineages: Lineages, module: str) -> str | None:
    """Probe whether CPython accepts the new bases on the identity, in one step nobody else can observe."""
    bases = []
    for base in new.__bases__:
        lineage = lineages.classes.get((module, base.__qualname__)) if base.__module__ == module else None
        identity_of_base = lineage.get() if lineage is not None else None
        bases.append(identity_of_base if identity_of_base is not None else base)
    bases = tuple(bases)
    if bool(identity.__base__.__flags__ & HAVE_GC) != bool(new.__base__.__flags__ & HAVE_GC):
        # CPython refuses this __bases__ assignment ("deallocator differs"),
        # e.g. a class that derived from object alone now derives from a class.
        return (f"its base changed from {identity.__base__.__qualname__} to {new.__base__.__qualname__}, which "
                "CPython cannot apply to an existing class; existing instances keep the old class")
    if bases == identity.__bases__ or any(base is identity or identity in base.__mro__ for base in bases):
        return None  # unchanged, or an inverted hierarchy that only works once the bases are continued too
    try:
        apply_atomically([(type.__setattr__, identity, "__bases__", bases),
                          (type.__setattr__, identity, "__bases__", identity.__bases__)],
                         [(type.__setattr__, identity, "__bases__", identity.__bases__), (nothing,)])
    except TypeError as error:
        return f"its new base classes cannot be applied in place ({error}); existing instances keep the old class"
    return None


# -- functions ------------------------------------------------------------------

def _plan_functions(result: Plan, lineages: Lineages, record: Any, old: Any, new: Any,
                    mapping: dict[int, tuple[Any, Any]], republish: bool, Replaced: Any,
                    restart: tuple[str, ...] = ()) -> None:
    module = record.name
    definitions: Definitions = new.continuity
    proxy_id = id(record.proxy)
    for key, function in definitions.functions.items():
        if not republish and mapping and function.__defaults__:
            defaults = tuple(mapped(v, mapping) for v in function.__defaults__)
            if any(a is not b for a, b in zip(defaults, function.__defaults__)):
                result.add((setattr, function, "__defaults__", defaults),
                           (setattr, function, "__defaults__", function.__defaults__))
        lineage = lineages.functions.get((module, key))
        if lineage is None or (restart and key[0].startswith(restart)):
            if lineage is not None:
                # The replaced class's methods keep their lineage for the old instances;
                # unregistered, it is released once nothing forwards to it.
                result._after.append(lambda orphan=lineage: (setattr(orphan, "forgotten", True),
                                                              orphan.release_if_unused()))
            lineage = FunctionLineage(module, key, proxy_id, lineages.forwarding)
            result._after.append(lambda k=(module, key), lineage=lineage: lineages.functions.__setitem__(k, lineage))
        own_code = definitions.codes[key]
        if not republish:
            target = lineage.target()
            definitions.previous_targets[key] = weakref.ref(target) if target is not None else None
        if function.__code__ is not own_code:  # republished after being forwarded
            result.add((setattr, function, "__code__", own_code), (setattr, function, "__code__", function.__code__))
            result.add(*wrapped_operations(function, definitions.wrapped.get(key, ABSENT)))
        meta = _forwarders.meta(own_code)
        entry = (version_ref(function, lineage), own_code, weakref.ref(new))
        versions = lineage.versions
        current = lineage.target()
        if current is not None and current is not function and kind(_forwarders.own_code(lineage, current)) != kind(own_code):
            was = KIND_NAMES.get(kind(_forwarders.own_code(lineage, current)))
            result.replaced.append(Replaced(module, key[0], f"it changed from a {was} to a "
                                            f"{KIND_NAMES.get(kind(own_code))}; references taken earlier "
                                            "keep the old code"))
            # The old versions leave the lineage and run their own code again.
            for reference, code, _ in versions:
                version = reference()
                if version is not None and version is not function and version.__code__ is not code:
                    result.add((setattr, version, "__code__", code), (setattr, version, "__code__", version.__code__))
                    result.add(*wrapped_operations(version, _own_wrapped(version, key, lineage)))
            kept = [entry]
        else:
            if lineage.meta == meta:
                # Every older version already forwards with the right
                # metadata: only the version current until now must start.
                candidates = [v for v in versions[-1:] if v[0]() is current] or \
                    [v for v in versions if v[0]() is current]
                kept = [v for v in versions if v[0]() is not None]  # drop the dead: they pin code objects
            else:
                candidates = kept = [v for v in versions if v[0]() is not None]
            for reference, code, generation_ref in candidates:
                version = reference()
                if version is None or version is function:
                    continue
                # Made only if a reader is pinned when the publish happens (see Plan.make_bodies).
                result.bodies.append((generation_ref, key, version, code))
                forwarder = _forwarders.forwarder(lineage, code, own_code, len(version.__closure__ or ()))
                result.add((setattr, version, "__code__", forwarder), (setattr, version, "__code__", version.__code__))
                if "__wrapped__" not in version.__dict__ or isinstance(version.__dict__["__wrapped__"], _forwarders.Newest):
                    # A functools.wraps wrapper keeps its own __wrapped__ (the inner function, itself forwarded).
                    result.add(*wrapped_operations(version, lineage.newest))
            if republish:  # the function is an old version becoming current again
                kept = [v for v in kept if v[0]() is not function]
            kept.append(entry)
        result.add((setattr, lineage, "current", function), (setattr, lineage, "current", lineage.current))
        result.add((setattr, lineage, "dormant", None), (setattr, lineage, "dormant", lineage.dormant))
        result.add((setattr, lineage, "sleep", None), (setattr, lineage, "sleep", lineage.sleep))
        result.add((setattr, lineage, "generation", new), (setattr, lineage, "generation", lineage.generation))
        result.add((setattr, lineage, "head", (function, new)), (setattr, lineage, "head", lineage.head))
        result._after.append(lambda lineage=lineage, kept=kept, meta=meta: (
            setattr(lineage, "versions", kept), setattr(lineage, "meta", meta)))
    # No cache may serve a result computed by a body that is no longer current.
    for key in definitions.caches:
        live = [r for r in lineages.caches.get((module, key), ()) if r() is not None]
        for reference in live:
            cache = reference()
            # A republished wrapper may hold results its stale callers computed with the newer body.
            if cache is not None and (republish or cache is not definitions.caches[key]):
                result.add((cache.cache_clear,), (nothing,))
        if not republish:
            live.append(weakref.ref(definitions.caches[key]))
        result._after.append(lambda k=(module, key), live=live: lineages.caches.__setitem__(k, live))


# -- rewriting references to new objects ----------------------------------------


