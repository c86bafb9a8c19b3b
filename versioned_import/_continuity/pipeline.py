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

This module owns the pipeline (``capture``, ``adopt``, ``forget``, ``plan``)
and the class side: matching classes to their lineages and deciding which
continue. The function side — function lineages at a first import, an unload
and a publish, and the transplant pass (``Lineages.settle``) — is
``_functions``; the records both sides share are ``_lineages``.
"""

from __future__ import annotations

import functools
import types
import weakref
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from .._report import Replaced
from . import forwarders as _forwarders
from .classes import (
    HAVE_GC,
    ClassState,
    apply_state,
    enum_incompatibility,
    incompatibility,
    map_enum_members,
    merge_abc,
    probe,
    snapshot,
)
from .forwarders import FunctionLineage
from .functions import (
    Lineages,
    adopt_functions,
    forget_functions,
    map_functions,
    new_functions,
    plan_functions,
    restore_dropped_definitions,
    sleep_function,
)
from .holders import bases_of, dict_of, mro_of, retype_operations, set_bases
from .lineages import ClassLineage, Definitions
from .operations import Plan, mapped, real_dict
from .references import Holders, discover, internal_tuples, mapper, rewrite
from .referrers import ReferrerScope
from .transplant import call_version

__all__ = ["Definitions", "ClassState", "FunctionLineage", "Plan", "capture", "adopt", "plan", "forget"]

FunctionType = types.FunctionType


def class_identity(state: Any, cls: type) -> type:
    """Return the object ``cls``'s definition is continued as (``cls`` itself if it is not continued)."""
    lineage = _lineages(state).classes.get((cls.__module__, cls.__qualname__))
    identity = lineage.get() if lineage is not None else None
    return identity if identity is not None else cls


def _lineages(state: Any) -> Lineages:
    if state.lineages is None:
        state.lineages = Lineages()
    lineages: Lineages = state.lineages
    return lineages


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
    adopt_functions(lineages, module, generation, proxy_id)
    definitions.classes = {}


def forget(state: Any, module: str) -> None:
    """Drop the lineages of ``module`` (on unload); forwarders already made keep working."""
    lineages = _lineages(state)
    for key in lineages.classes.keys_of(module):
        del lineages.classes[key]
    forget_functions(lineages, module)


# -- planning a publish -------------------------------------------------------


def plan(state: Any, triples: list[tuple[Any, Any, Any]], republish: bool = False,
         scope: ReferrerScope | None = None) -> Plan:
    """Plan publishing ``(record, old_generation, new_generation)`` triples.

    The pipeline: match each new class to its lineage; find what holds the
    new objects (``_references.discover``); decide, bases and metaclasses
    first, which classes continue (``_decide``); map copies of immutable
    holders; plan class states, then functions, then the rewrite of every
    holder. ``scope`` bounds the search to objects created during the reload
    (see ``_referrers``); without one the whole heap is searched.

    With ``republish`` the new generations were published before (rollback):
    their class states are re-applied and their functions become current
    again; nothing new exists, so nothing is rewritten.
    """
    lineages = _lineages(state)
    result = Plan()
    if republish:
        for record, old, new in triples:
            _plan_republished_classes(result, lineages, record.name, old, new)
    matching = _Matching() if republish else _match(lineages, triples, result)
    if not republish:
        matching.functions = new_functions(lineages, triples)
    if matching.candidates or matching.functions:
        with ExitStack() as stack:
            if scope is None:
                scope = stack.enter_context(ReferrerScope())
                scope.widen()
            _plan_classes(result, lineages, matching, scope, triples)
    else:
        _plan_fresh_classes(result, lineages, matching)
    for record, old, new in triples:
        # Old instances of a replaced class keep it, so its methods keep their
        # code: the new methods start lineages of their own.
        prefixes = tuple(prefix for module, prefix in matching.restarted if module == record.name)
        plan_functions(result, lineages, record, old, new, matching.mapping, republish, prefixes,
                        matching.originals.get(record.name, {}))
        if republish and old is not None and old.continuity is not None:
            restore_dropped_definitions(result, lineages, record.name, old.continuity, new.continuity)
        _plan_dormancy(result, lineages, record.name, old, new)
        if not republish:
            new.continuity.classes = {}
    if matching.found is not None:
        rewrite(result, matching.found, matching.mapped, matching.class_dicts, matching.scope)
    for _, _, _, cls, _ in matching.continued:
        # The new class object is left behind; its dict must not keep the new
        # functions alive (a weakly held method would count twice), so it
        # holds the identities too. Planned after the rewrite, which must not
        # see these operations (they refer to the new functions).
        for key, value in dict_of(cls).items():
            target = mapped(value, matching.mapping)
            if target is not value and isinstance(value, FunctionType):
                result.add((type.__setattr__, cls, key, target), (type.__setattr__, cls, key, value))
    matching.release()
    return result


@dataclass(eq=False)
class _Matching:
    """The classes of one publish: which continue (``mapping``: new -> identity), which start afresh."""

    candidates: list[tuple[str, str, type, type, Any]] = field(default_factory=list)
    continued: list[tuple[str, str, type, type, Any]] = field(default_factory=list)
    fresh: list[tuple[str, str, type, Any]] = field(default_factory=list)
    restarted: list[tuple[str, str]] = field(default_factory=list)  # (module, "Class.") of replaced classes
    mapping: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    found: Holders | None = None
    mapped: Any = None
    class_dicts: set[int] = field(default_factory=set)
    scope: Any = None
    functions: list[FunctionType] = field(default_factory=list)  # new functions that have an identity to become
    originals: dict[str, dict[tuple[str, str], FunctionType]] = field(default_factory=dict)

    def own(self) -> set[int]:
        """The ids of this bookkeeping, which refers to the new objects and is never rewritten."""
        ids = {id(self.candidates), id(self.continued), id(self.fresh), id(self.mapping), id(self.functions)}
        ids.update(id(item) for item in self.candidates)
        ids.update(id(item) for item in self.fresh)
        return ids

    def release(self) -> None:
        """Let go of every new object at once: ``mapped`` is a closure over ``mapping`` that refers to
        itself (a cycle), so without this the throwaway new objects would wait for the collector."""
        self.mapping.clear()
        self.candidates, self.continued, self.fresh, self.found, self.mapped, self.scope = [], [], [], None, None, None
        self.functions = []


def _match(lineages: Lineages, triples: list[tuple[Any, Any, Any]], result: Plan) -> _Matching:
    matching = _Matching()
    for record, old, new in triples:
        module = record.name
        definitions: Definitions = new.continuity
        for qualname, cls in definitions.classes.items():
            lineage = lineages.classes.get((module, qualname))
            identity = lineage.get() if lineage is not None else None
            if identity is None or identity is cls:
                matching.fresh.append((module, qualname, cls, new))
            else:
                matching.candidates.append((module, qualname, identity, cls, new))
        _report_kind_changes(result, module, old, definitions)
    # Bases and metaclasses before the classes that use them, across modules:
    # each decision sees the identities of what it builds on.
    rank = _ranks([item[3] for item in matching.candidates] + [item[2] for item in matching.fresh])
    matching.candidates.sort(key=lambda item: rank[id(item[3])])
    matching.fresh.sort(key=lambda item: rank[id(item[2])])
    return matching


def _ranks(classes: list[type]) -> dict[int, int]:
    """Rank each new class after its bases and its metaclass (those not new rank 0)."""
    new = {id(cls): cls for cls in classes}
    ranks: dict[int, int] = {}

    def rank(cls: type) -> int:
        key = id(cls)
        if key not in new:
            return 0
        if key not in ranks:
            ranks[key] = 0  # a cycle is impossible; this only guards against a malformed class
            ranks[key] = 1 + max([rank(base) for base in bases_of(cls)] + [rank(type(cls))])
        return ranks[key]

    for cls in classes:
        rank(cls)
    return ranks


def _plan_classes(result: Plan, lineages: Lineages, matching: _Matching, scope: ReferrerScope,
                  triples: list[tuple[Any, Any, Any]]) -> None:
    # No local variable of this frame may refer to a new class during the
    # search: reference counts decide whether it must see the whole heap.
    targets, skip = _search_targets(matching)
    skip.update((id(result.do), id(result.undo), *(id(new) for _, _, new in triples)))
    found = discover(scope, targets, skip)
    del targets[:]
    instances = _first_instances(found)
    _decide_all(result, matching, instances)
    instances.clear()
    # New functions become the identities callers hold before any class state
    # is taken, so continued classes' dicts hold the identities too.
    matching.originals = map_functions(lineages, triples, matching.mapping, matching.restarted)
    for _, _, identity, cls, _ in matching.continued:
        map_enum_members(result, matching.mapping, identity, cls)
    matching.found, matching.scope = found, scope
    matching.mapped = mapper(matching.mapping, found)
    for module, qualname, identity, cls, new in matching.continued:
        matching.class_dicts.add(id(real_dict(cls)))
        matching.class_dicts.add(id(real_dict(identity)))
        class_state = snapshot(cls, identity, matching.mapping)
        new.continuity.states[qualname] = class_state
        lineage = lineages.classes[(module, qualname)]
        new.continuity.previous_states[qualname] = lineage.state
        result._after.append(lambda lineage=lineage, state=class_state: setattr(lineage, "state", weakref.ref(state)))
        apply_state(result, class_state)
        merge_abc(result, identity, cls, matching.mapping)
    _plan_fresh_classes(result, lineages, matching)


def _search_targets(matching: _Matching) -> tuple[list[Any], set[int]]:
    """Return the new objects whose holders are searched, and the ids of the bookkeeping that holds them."""
    skip = matching.own()
    targets: list[Any] = []
    skip.add(id(targets))
    for _, _, _, cls, new in matching.candidates:
        targets.append(cls)
        targets.extend(_enum_members(cls))
        skip.add(id(new.continuity.classes))
    targets.extend(matching.functions)
    for _, _, _, new in matching.fresh:
        skip.add(id(new.continuity.classes))
    skip |= internal_tuples([item[3] for item in matching.candidates] + [item[2] for item in matching.fresh])
    return targets, skip


class _Cascade(Exception):
    """A new class cannot be put on the identities of its bases: those bases must be replaced too."""

    def __init__(self, bases: list[type], reason: str) -> None:
        super().__init__(reason)
        self.bases = bases
        self.reason = reason


def _decide_all(result: Plan, matching: _Matching, instances: dict[int, Any]) -> None:
    """Decide every candidate, bases and metaclasses first; a base no subclass can sit on is replaced.

    Deciding puts each new class on the identities of its bases (it is still
    private to the reload). Where CPython refuses that for a subclass (3.11
    compares int-derived and ``__weakref__``-slotted layouts strictly), the
    bases it names are decided again as replaced, and everything restarts
    from the original bases: no class ends up on a base that was not kept.
    """
    fresh, forced = list(matching.fresh), dict[int, str]()
    original = {id(cls): (cls, bases_of(cls)) for cls in [c[3] for c in matching.candidates] + [c[2] for c in fresh]}
    mapped_so_far = functools.partial(mapped, mapping=matching.mapping)
    for _ in range(len(original) + 1):
        replaced: list[Replaced] = []
        try:
            for module, qualname, identity, cls, new in matching.candidates:
                reason = forced.get(id(cls)) or _decide(identity, cls, mapped_so_far, instances.get(id(cls)))
                if reason is not None:
                    replaced.append(Replaced(module, qualname, reason))
                    matching.fresh.append((module, qualname, cls, new))
                    matching.restarted.append((module, qualname + "."))
                else:
                    matching.mapping[id(cls)] = (cls, identity)
                    matching.continued.append((module, qualname, identity, cls, new))
            for module, qualname, cls, _ in matching.fresh:
                _rebase(cls, mapped_so_far, f"{module}.{qualname}")
        except _Cascade as cascade:
            for base in cascade.bases:
                forced[id(base)] = cascade.reason
            for cls, bases in original.values():
                if bases_of(cls) != bases:
                    set_bases(cls, bases)
            matching.mapping.clear()
            matching.continued.clear()
            matching.restarted.clear()
            matching.fresh[:] = fresh
            continue
        result.replaced.extend(replaced)
        return
    raise AssertionError("class decisions did not settle")  # each round forces at least one more base


def _rebase(cls: type, mapped: Any, where: str) -> None:
    """Put the new class ``cls`` on the identities of its bases, or say which bases cannot be kept."""
    bases = tuple(map(mapped, bases_of(cls)))
    if bases == bases_of(cls):
        return
    try:
        set_bases(cls, bases)
    except TypeError as error:
        raise _Cascade(_offending(cls, bases), f"its subclass {where} cannot be put on the existing class ({error}); "
                       "the new class takes its place and existing instances keep the old class") from None


def _offending(cls: type, bases: tuple[type, ...]) -> list[type]:
    """Return the bases of ``cls`` that CPython refuses to see replaced by their identity (all, if none alone)."""
    original = bases_of(cls)
    changed = [index for index, (new, identity) in enumerate(zip(original, bases)) if identity is not new]
    offending = []
    for index in changed:
        trial = original[:index] + (bases[index],) + original[index + 1:]
        if probe([((set_bases, cls, trial), (set_bases, cls, original))]) is not None:
            offending.append(original[index])
    return offending or [original[index] for index in changed]


def _enum_members(cls: type) -> list[Any]:
    members = dict_of(cls).get("_member_map_")
    return list(members.values()) if type(members) is dict else []


def _first_instances(found: Holders) -> dict[int, Any]:
    """One instance of each class among the holders (instances hold their class), for probing retyping."""
    instances: dict[int, Any] = {}
    for holder, _ in found.rewrites:
        instances.setdefault(id(type(holder)), holder)
    for holder in found.copies.values():
        instances.setdefault(id(type(holder)), holder)
    return instances


def _decide(identity: type, cls: type, mapped: Any, instance: Any) -> str | None:
    """Say why ``cls`` cannot continue ``identity`` (None: it can), asking CPython itself where it decides.

    The new class is first put on the identities of its bases (``_rebase``),
    so that its instances created at import can take the identity's class:
    CPython compares the layouts of both classes up to a common base.
    """
    reason = incompatibility(identity, cls, mapped) or enum_incompatibility(identity, cls)
    if reason is not None:
        return reason
    old_base, new_base = identity.__base__ or object, cls.__base__ or object
    if bool(old_base.__flags__ & HAVE_GC) != bool(new_base.__flags__ & HAVE_GC):
        # CPython refuses this __bases__ assignment ("deallocator differs"),
        # e.g. a class that derived from object alone now derives from a class.
        return (f"its base changed from {old_base.__qualname__} to {new_base.__qualname__}, which "
                "CPython cannot apply to an existing class; existing instances keep the old class")
    if instance is not None:
        # Its instances must be able to take the identity's class; without any, the new class
        # is dropped after the publish and its own bases never matter.
        _rebase(cls, mapped, f"{cls.__module__}.{cls.__qualname__}")
    bases = tuple(map(mapped, bases_of(cls)))
    steps = []
    inverted = any(base is identity or identity in mro_of(base) for base in bases)
    if bases != bases_of(identity) and not inverted:
        # An inverted hierarchy only works once the bases are continued too: not probed.
        steps.append(((set_bases, identity, bases), (set_bases, identity, bases_of(identity))))
    if instance is not None and not inverted:
        steps.append(retype_operations(instance, identity))
    refusal = probe(steps) if steps else None
    if refusal is None:
        return None
    if instance is not None and len(steps) == 1:
        return (f"an instance created at import cannot take the existing class ({refusal}); the new class takes "
                "its place and existing instances keep the old class")
    return f"its new base classes cannot be applied in place ({refusal}); existing instances keep the old class"


def _plan_fresh_classes(result: Plan, lineages: Lineages, matching: _Matching) -> None:
    for module, qualname, cls, new in matching.fresh:
        # Already on the identities of its bases (``_decide_all``).
        class_state = snapshot(cls, cls, matching.mapping)
        new.continuity.states[qualname] = class_state
        # Bookkeeping changes only once the publish succeeded (see Plan.committed).
        result._after.append(lambda key=(module, qualname), cls=cls, state=class_state:
                             lineages.classes.__setitem__(key, ClassLineage(cls, state)))


def _plan_republished_classes(result: Plan, lineages: Lineages, module: str, old: Any, new: Any) -> None:
    definitions: Definitions = new.continuity
    for qualname, class_state in definitions.states.items():
        lineage = lineages.classes.get((module, qualname))
        if lineage is not None:
            result._after.append(functools.partial(_revive, lineage, class_state))
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


def _revive(lineage: ClassLineage, state: ClassState) -> None:
    lineage.revive(state.identity)
    lineage.state = weakref.ref(state)


def _plan_dormancy(result: Plan, lineages: Lineages, module: str, old: Any, new: Any) -> None:
    """Let definitions the published generation lacks stop pinning old generations (G10)."""
    definitions: Definitions = new.continuity
    result._after.append(lambda: _settle(lineages, module, definitions))


def _settle(lineages: Lineages, module: str, definitions: Definitions) -> None:
    for key in lineages.functions.keys_of(module):
        if key[1] not in definitions.functions:
            sleep_function(lineages, key, lineages.functions[key])
    for key in lineages.classes.keys_of(module):
        if key[1] not in definitions.states:
            _sleep_class(lineages, key, lineages.classes[key])


def _sleep_class(lineages: Lineages, key: tuple[str, Any], lineage: ClassLineage) -> None:
    identity = lineage.identity
    if identity is None:
        return

    def gone(_: object) -> None:
        if lineages.classes.get(key) is lineage and lineage.identity is None:
            del lineages.classes[key]

    lineage.identity, lineage.dormant = None, weakref.ref(identity, gone)


def _report_kind_changes(result: Plan, module: str, old: Any, definitions: Definitions) -> None:
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
