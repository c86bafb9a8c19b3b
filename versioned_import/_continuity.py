"""Continuity (G7): objects taken before a reload behave as the newest code.

Two mechanisms, chosen by what CPython allows:

* **Classes keep their identity.** A new generation's class ``C`` is a new
  object; publishing updates the *first* class object in place to the new
  definition (its dict, bases, ABC registrations) and rewrites every reference
  to the new object (namespaces, registries, ``__class__`` cells, instances'
  ``__class__``) to the identity. ``isinstance``, ``except``, ``pickle``,
  ``singledispatch`` and dicts keyed by class therefore never see two classes.
* **Functions keep their identity too.** The new generation's function is
  replaced everywhere by the object callers already hold (same rewrite as
  classes). Publishing gives that object a small *forwarder* as its code
  (``_forwarders``: it calls its lineage's body, or inside ``pinned()`` the
  pinned generation's body); once no reader views another generation,
  ``Lineages.settle`` transplants the newest definition into it
  (``_transplant``), so it *is* that function: code, globals, closure,
  defaults and all.

Objects are matched by where they are defined (module, ``__qualname__`` and,
for ``functools.wraps`` wrappers, the code's ``co_qualname``), never by the
name they are bound to; lambdas and closures, whose names are shared, by
their slot. Where continuity is impossible the new object simply takes the
old one's place and the reason is reported.

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
from ._forwarders import KIND_NAMES, SHOWN, FunctionLineage, entry, kind, show_operations, shown
from ._transplant import TRANSPLANT, call_version, running_codes, transplant_operations
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
    states: dict[str, ClassState] = field(default_factory=dict)
    # What each lineage resolved to before this generation was published, so
    # that rolling it back restores definitions the republished source lacks.
    previous_targets: dict[tuple[str, str], Any] = field(default_factory=dict)
    previous_states: dict[str, weakref.ref | None] = field(default_factory=dict)
    bodies: dict[tuple[str, str], FunctionType] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)  # see _transplant.call_version


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
        # Lineages whose versions may still forward: ``settle`` transplants them.
        self.unsettled: set[FunctionLineage] = set()

    def settle(self, state: Any, record: Any) -> None:
        """Make every version of ``record``'s lineages that forwards the current definition itself.

        Called whenever views are refreshed (after a publish, when a stale
        pin ends). Only in fast mode (``_transplant.TRANSPLANT``), and only
        while no reader needs another generation of the module: a pinned
        reader calling a held function must reach its pinned body, which a
        forwarder does and a transplant cannot.
        """
        if not TRANSPLANT or not self.unsettled:
            return
        pending = [lineage for lineage in self.unsettled if lineage.proxy_id == id(record.proxy)]
        if not pending or state.needs_view(record):
            return
        do: list[tuple] = []
        undo: list[tuple] = []
        finishers = []
        updates = []
        for lineage in pending:
            body = lineage.current
            if body is None:
                continue
            generation = lineage.head[1]
            generator_kind = kind(body.__code__) != 0
            definitions = generation.continuity if generation is not None else None
            made_version = definitions.versions.get(lineage.key, 0) if definitions is not None else 0
            if definitions is not None and definitions.bodies.get(lineage.key) is not body:
                made_version = 0  # not this generation's own body (a restored one): no version known
            for index, (reference, code, generation_ref, _) in enumerate(lineage.versions):
                version = reference()
                if version is None or version.__code__ is code:
                    continue  # gone, or running a definition of its own
                steps, back, finish, new_code = transplant_operations(version, body, code, generator_kind,
                                                                      made_version)
                do.extend(steps)
                undo.extend(back)
                finishers.append(finish)
                own = weakref.ref(generation) if generation is not None else generation_ref
                updates.append((lineage, index, reference, new_code, own))
        try:
            if do:
                apply_atomically(do, undo)
        finally:
            running = running_codes() if finishers else None
            for finish in finishers:
                finish(running)
        for lineage, index, reference, new_code, own in updates:
            version = reference()
            if version is not None:
                lineage.versions[index] = (reference, new_code, own, shown(version))
        for lineage in pending:
            self.unsettled.discard(lineage)
            if lineage.sleep is not None and lineage.generation is None:
                lineage.sleep(lineage)
            lineage.release_if_unused()


def class_identity(state: Any, cls: type) -> type:
    """Return the object ``cls``'s definition is continued as (``cls`` itself if it is not continued)."""
    lineage = _lineages(state).classes.get((cls.__module__, cls.__qualname__))
    identity = lineage.get() if lineage is not None else None
    return identity if identity is not None else cls


def _lineages(state: Any) -> Lineages:
    if state.lineages is None:
        state.lineages = Lineages()
    return state.lineages


# -- capture ------------------------------------------------------------------

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
    found = Definitions()
    seen: set[int] = set()

    def visit(value: Any, slot: str) -> None:
        if type(value) in _PLAIN or id(value) in seen:
            return  # the common case, decided without an attribute lookup
        if isinstance(value, type):
            qualname = getattr(value, "__qualname__", "")
            if value.__module__ != module or "<locals>" in qualname or qualname in found.classes:
                return
            seen.add(id(value))
            found.classes[qualname] = value
            for name, member in list(value.__dict__.items()):
                visit(member, f"{qualname}.{name}")
        elif isinstance(value, FunctionType):
            seen.add(id(value))
            key = _key(value, module, slot)
            if key is not None and key not in found.functions:
                found.functions[key] = value
                found.codes[key] = value.__code__
                found.bodies[key] = _forwarders.body(value, value.__code__)
                found.versions[key] = call_version(value)
            wrapped = value.__dict__.get("__wrapped__")
            if wrapped is not None:
                visit(wrapped, f"{slot}.__wrapped__")
            for name, cell in zip(value.__code__.co_freevars, value.__closure__ or ()):
                try:
                    content = cell.cell_contents
                except ValueError:
                    continue  # a cell not filled yet
                visit(content, f"{slot}.<{name}>")
        elif isinstance(value, (classmethod, staticmethod)):
            visit(value.__func__, slot)
        elif isinstance(value, property):
            for name, accessor in (("fget", value.fget), ("fset", value.fset), ("fdel", value.fdel)):
                if accessor is not None:
                    visit(accessor, f"{slot}.{name}")
        elif type(value) is _LRU_WRAPPER:
            # functools.lru_cache / cache: a C wrapper whose cache must not outlive the body.
            seen.add(id(value))
            if getattr(value, "__module__", None) == module:
                found.caches[(getattr(value, "__qualname__", "?"), "cache")] = value
            visit(value.__wrapped__, slot)
        elif type(value) is functools.partial:
            seen.add(id(value))
            visit(value.func, f"{slot}.func")

    for name, value in list(namespace.items()):
        visit(value, name)
        # A table at module level (``HANDLERS = {"save": lambda ...}``, a list of
        # callbacks): its entries have slots too. Small ones only: the scan runs
        # at every reload.
        kind = type(value)
        if kind is dict and len(value) <= _TABLE_LIMIT:
            for key, entry in list(value.items()):
                if type(key) in (str, int):
                    visit(entry, f"{name}[{key!r}]")
        elif (kind is list or kind is tuple) and len(value) <= _TABLE_LIMIT:
            for index, entry in enumerate(list(value)):
                visit(entry, f"{name}[{index}]")
    return found


_TABLE_LIMIT = 256


_LRU_WRAPPER = type(functools.lru_cache(maxsize=None)(lambda: None))
# Values that can never be, or hold, a definition: skipped at once.
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset,
                    types.ModuleType, types.BuiltinFunctionType})


def _key(function: FunctionType, module: str, slot: str) -> tuple[str, str] | None:
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
        return (f"@{slot}", function.__code__.co_qualname)
    if function.__module__ != module:
        return None
    return (qualname, function.__code__.co_qualname)


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
        lineage.current = definitions.bodies[key]
        lineage.generation = generation
        lineage.head = (lineage.current, generation)
        lineage.versions.append(entry(function, lineage, function.__code__, generation))
        lineage.meta = _forwarders.meta(function.__code__)
        lineage.identity = weakref.ref(function)
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
        for reference, code, _, own in lineage.versions:
            version = reference()
            if version is not None and version.__code__ is not code:
                version.__code__ = code
                for name, value in zip(SHOWN, own):
                    setattr(version, name, value)
        lineage.versions = []
        lineage.current = None
        lineage.head = (None, None)
        lineage.table.pop(lineage.serial, None)
        lineages.unsettled.discard(lineage)
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

    # New functions become the identities callers hold before any class state
    # is taken, so continued classes' dicts hold the identities too.
    originals = {} if republish else _map_functions(lineages, triples, mapping, restarted)

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
        _plan_functions(result, lineages, record, old, new, mapping, republish, Replaced, prefixes,
                        originals.get(record.name, {}))
        if republish and old is not None and old.continuity is not None:
            _restore_dropped_definitions(result, lineages, record.name, old.continuity, new.continuity)
        _plan_dormancy(result, lineages, record.name, old, new)
        if not republish:
            new.continuity.classes = {}
    if mapping:
        # Our own bookkeeping holds new objects too and is never rewritten.
        own = {id(continued), id(fresh), *(id(item) for item in continued), *(id(item) for item in fresh),
               id(originals), *(id(table) for table in originals.values()), *(id(new) for _, _, new in triples),
               id(result.do), id(result.undo)}
        rewrite_references(result, mapping, triples, own)
    for module, qualname, identity, cls, new in continued:
        # The new class object is left behind; its dict must not keep the new
        # functions alive (a weakly held method would count twice), so it
        # holds the identities too. Planned after the rewrite, which must not
        # see these operations (they refer to the new functions).
        for key, value in cls.__dict__.items():
            target = mapped(value, mapping)
            if target is not value and isinstance(value, FunctionType):
                result.add((type.__setattr__, cls, key, target), (type.__setattr__, cls, key, value))
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
            # The versions ran the rolled-back definition (a transplant): they forward to the restored one.
            own_code = target.__code__
            for reference, code, _, _ in lineage.versions:
                version = reference()
                if version is None:
                    continue
                if version.__code__ is code or lineage.meta != _forwarders.meta(own_code):
                    forwarder = _forwarders.forwarder(lineage, code, own_code, len(version.__closure__ or ()))
                    result.add((setattr, version, "__code__", forwarder),
                               (setattr, version, "__code__", version.__code__))
                for step in zip(*show_operations(version, shown(target), lineage.newest)):
                    result.add(*step)
            result._after.append(lambda lineage=lineage, meta=_forwarders.meta(own_code): (
                setattr(lineage, "meta", meta), lineages.unsettled.add(lineage)))


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
    if lineage.forwarders_alive():
        return  # a version still forwards to it; version_died or settle calls again when none does
    lineage.current = None
    lineage.head = (None, None)
    lineage.sleep = None
    lineage.release_if_unused()

    def gone(_: object) -> None:
        if lineages.functions.get(key) is lineage and lineage.current is None:
            del lineages.functions[key]

    # The last definition stays available exactly as long as the object
    # callers hold (which runs it on its own): should the source define it
    # again, that object continues.
    identity = lineage.identity() if lineage.identity is not None else None
    if identity is None:
        if lineages.functions.get(key) is lineage:
            del lineages.functions[key]
        return
    lineage.dormant = weakref.ref(identity, gone)


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

def _map_functions(lineages: Lineages, triples: list[tuple[Any, Any, Any]], mapping: dict[int, tuple[Any, Any]],
                   restarted: list[tuple[str, str]]) -> dict[str, dict[tuple[str, str], FunctionType]]:
    """Map each new function to the object its lineage gave callers, so one function exists per definition.

    Like a continued class, the identity takes the new function's place in
    the new namespace, in class dicts, registries, closure cells and
    wrappers (``rewrite_references``): ``is``, ``==``, dict keys,
    ``list.remove``, pickling by reference and weakly held callbacks all see
    one object across reloads. Returns, per module, the function objects the
    new generations made (only ``_plan_functions`` still needs them).
    """
    originals: dict[str, dict[tuple[str, str], FunctionType]] = {}
    for record, _, new in triples:
        module = record.name
        prefixes = tuple(prefix for name, prefix in restarted if name == module)
        definitions: Definitions = new.continuity
        made = originals.setdefault(module, {})
        for key, function in list(definitions.functions.items()):
            made[key] = function
            if prefixes and key[0].startswith(prefixes):
                continue  # the methods of a replaced class start lineages of their own
            lineage = lineages.functions.get((module, key))
            identity = lineage.identity() if lineage is not None and lineage.identity is not None else None
            if identity is None or identity is function or id(function) in mapping:
                continue
            if kind(_forwarders.own_code(lineage, identity)) != kind(definitions.codes[key]):
                continue  # reported by _plan_functions; the new function takes the old one's place
            mapping[id(function)] = (function, identity)
            definitions.functions[key] = identity
    return originals


def _plan_functions(result: Plan, lineages: Lineages, record: Any, old: Any, new: Any,
                    mapping: dict[int, tuple[Any, Any]], republish: bool, Replaced: Any,
                    restart: tuple[str, ...] = (), originals: dict[tuple[str, str], FunctionType] | None = None) -> None:
    module = record.name
    definitions: Definitions = new.continuity
    proxy_id = id(record.proxy)
    for key, function in definitions.functions.items():
        # ``function`` is what callers get (the identity); ``made`` what this generation's code made.
        made = (originals or {}).get(key, function)
        body = definitions.bodies[key]
        if not republish and mapping and body.__defaults__:
            defaults = tuple(mapped(v, mapping) for v in body.__defaults__)
            if any(a is not b for a, b in zip(defaults, body.__defaults__)):
                result.add((setattr, body, "__defaults__", defaults), (setattr, body, "__defaults__", body.__defaults__))
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
            if target is not None and target is not lineage.current:
                # Made from a dormant identity: nothing else keeps this twin, and the
                # identity will run the new definition; kept while this generation is.
                definitions.previous_targets[key] = lambda target=target: target
            else:
                definitions.previous_targets[key] = weakref.ref(target) if target is not None else None
        meta = _forwarders.meta(own_code)
        live = [v for v in lineage.versions if v[0]() is not None]  # drop the dead: they pin code objects
        current = lineage.target()
        if current is not None and current is not body and \
                kind(_forwarders.own_code(lineage, current)) != kind(own_code):
            was = KIND_NAMES.get(kind(_forwarders.own_code(lineage, current)))
            result.replaced.append(Replaced(module, key[0], f"it changed from a {was} to a "
                                            f"{KIND_NAMES.get(kind(own_code))}; references taken earlier "
                                            "keep the old code"))
            # The old versions leave the lineage and run their own code again.
            for reference, code, _, own in live:
                version = reference()
                if version is not None and version is not function and version.__code__ is not code:
                    result.add((setattr, version, "__code__", code), (setattr, version, "__code__", version.__code__))
                    for step in zip(*show_operations(version, own)):
                        result.add(*step)
            kept = [v for v in live if v[0]() is function] or [entry(function, lineage, own_code, new)]
        else:
            for reference, code, _, own in live:
                version = reference()
                if version is None or (version is made and not republish):
                    continue  # the new generation's own object runs this very definition
                if code is own_code and version.__globals__ is new.namespace:
                    # A republished generation's own function: it runs this very definition on its own.
                    if version.__code__ is not code:
                        result.add((setattr, version, "__code__", code),
                                   (setattr, version, "__code__", version.__code__))
                        for step in zip(*show_operations(version, own)):
                            result.add(*step)
                    continue
                forwarding = version.__code__ is not code
                if not forwarding or lineage.meta != meta:
                    forwarder = _forwarders.forwarder(lineage, code, own_code, len(version.__closure__ or ()))
                    result.add((setattr, version, "__code__", forwarder),
                               (setattr, version, "__code__", version.__code__))
                # What it shows (docstring, defaults, annotations, attributes) switches with
                # everything else; a functools.wraps wrapper keeps its own __wrapped__.
                for step in zip(*show_operations(version, shown(body), lineage.newest)):
                    result.add(*step)
            kept = live
            if not republish:
                # Followed too, should it escape the rewrite (held by a C object such as an lru_cache wrapper).
                kept = kept + [entry(made, lineage, own_code, new)]
        result.add((setattr, lineage, "current", body), (setattr, lineage, "current", lineage.current))
        result.add((setattr, lineage, "dormant", None), (setattr, lineage, "dormant", lineage.dormant))
        result.add((setattr, lineage, "sleep", None), (setattr, lineage, "sleep", lineage.sleep))
        result.add((setattr, lineage, "generation", new), (setattr, lineage, "generation", lineage.generation))
        result.add((setattr, lineage, "head", (body, new)), (setattr, lineage, "head", lineage.head))
        result._after.append(lambda lineage=lineage, kept=kept, meta=meta, identity=weakref.ref(function): (
            setattr(lineage, "versions", kept), setattr(lineage, "meta", meta), setattr(lineage, "identity", identity),
            lineages.unsettled.add(lineage)))
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


