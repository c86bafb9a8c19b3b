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

This module owns the pipeline (``adopt``, ``forget``, ``plan``) and the
class side's steps: matching classes to their lineages, planning their
states; ``capture`` walks a namespace, ``decisions`` decides which classes
continue. The function side — function lineages at a first import, an unload
and a publish, and the transplant pass (``Lineages.settle``) — is
``_functions``; the records both sides share are ``_lineages``.
"""

from __future__ import annotations

import functools
import sys
import types
import weakref
from contextlib import ExitStack
from typing import Any

from .._core.proxy import module_dict
from .._core.publish import PublishFailed
from .._report import Replaced
from .classes import (
    ClassState,
    apply_state,
    map_enum_members,
    merge_abc,
    set_operations,
    snapshot,
)
from .decisions import Matching, decide_all, enum_members, first_instances
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
from .holders import bases_of, dict_of, is_user_class, mro_of
from .lineages import ClassLineage, Definitions
from .operations import Plan, add_sequence, mapped, real_dict, replace_contents
from .references import discover, internal_tuples, mapper, rewrite
from .referrers import ReferrerScope

__all__ = ["adopt", "class_identity", "forget", "plan"]

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
    lineages.known_holders.prune()


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

    A failure raises ``PublishFailed`` naming the module being planned. Each
    operation of the plan is marked with the module it changes (``owners``),
    so that a failure at publish names it too.
    """
    result = Plan()
    try:
        _plan(state, triples, republish, scope, result)
    except PublishFailed:
        raise
    except Exception as exc:
        raise PublishFailed(result.owner) from exc
    return result


def _plan(state: Any, triples: list[tuple[Any, Any, Any]], republish: bool, scope: ReferrerScope | None,
          result: Plan) -> None:
    lineages = _lineages(state)
    lineages.known_holders.prune()
    result._after.append(lineages.known_holders.prune)  # what the publish let go of goes too
    if republish:
        for record, old, new in triples:
            result.owner = record.name
            _plan_republished_classes(result, lineages, record.name, old, new)
    matching = Matching() if republish else _match(lineages, triples, result)
    if not republish:
        matching.functions = new_functions(lineages, triples)
    result.owner = None
    if matching.candidates or matching.functions:
        with ExitStack() as stack:
            if scope is None:
                scope = stack.enter_context(ReferrerScope())
                scope.widen()
            if scope.known is None:
                scope.known = lineages.known_holders
            _plan_classes(result, lineages, matching, scope, triples)
    else:
        _plan_fresh_classes(result, lineages, matching)
    for record, old, new in triples:
        result.owner = record.name
        # Old instances of a replaced class keep it, so its methods keep their
        # code: the new methods start lineages of their own.
        prefixes = tuple(prefix for module, prefix in matching.restarted if module == record.name)
        plan_functions(result, lineages, record, old, new, matching.mapping, republish, prefixes,
                       matching.originals.get(record.name, {}), matching.mapped)
        if republish and old is not None and old.continuity is not None:
            restore_dropped_definitions(result, lineages, record.name, old.continuity, new.continuity)
        _plan_dormancy(result, lineages, record.name, old, new)
        if not republish:
            new.continuity.classes = {}
    result.owner = None  # a holder may be anywhere
    if matching.found is not None:
        rewrite(result, matching.found, matching.mapped, matching.class_dicts, matching.scope)
    for module, _, _, cls, _ in matching.continued:
        result.owner = module
        # The new class object is left behind; its dict must not keep the new
        # functions alive (a weakly held method would count twice), so it
        # holds the identities too. Planned after the rewrite, which must not
        # see these operations (they refer to the new functions).
        for key, value in dict_of(cls).items():
            target = mapped(value, matching.mapping)
            if target is not value and isinstance(value, FunctionType):
                add_sequence(result, set_operations(cls, key, target), set_operations(cls, key, value))
    matching.release()
    result.switch_at = len(result.do)


def _match(lineages: Lineages, triples: list[tuple[Any, Any, Any]], result: Plan) -> Matching:
    matching = Matching()
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
    new.clear()  # ``rank`` refers to itself: a cycle, which must not keep the new classes alive
    return ranks


def _plan_classes(result: Plan, lineages: Lineages, matching: Matching, scope: ReferrerScope,
                  triples: list[tuple[Any, Any, Any]]) -> None:
    # No local variable of this frame may refer to a new class during the
    # search: reference counts decide whether it must see the whole heap.
    targets, skip = _search_targets(matching)
    skip.update((id(result.do), id(result.undo), *(id(new) for _, _, new in triples)))
    # What each generation defines: its functions become the identities by ``map_functions``, not by a rewrite.
    skip.update(id(new.continuity.functions) for _, _, new in triples)
    found = discover(scope, targets, skip, _known_holders(matching, triples), _module_objects(matching))
    del targets[:]
    instances = first_instances(found)
    decide_all(result, matching, instances)
    instances.clear()
    # New functions become the identities callers hold before any class state
    # is taken, so continued classes' dicts hold the identities too.
    matching.originals = map_functions(lineages, triples, matching.mapping, matching.restarted)
    for module, _, identity, cls, _ in matching.continued:
        result.owner = module
        map_enum_members(result, matching.mapping, identity, cls)
    modules = _map_module_objects(matching, found)
    matching.found, matching.scope = found, scope
    matching.mapped = mapper(matching.mapping, found)
    result.owner = None
    for new_module, old_module in modules:
        _plan_module_object(result, new_module, old_module, matching.mapped)
    modules.clear()
    for module, qualname, identity, cls, new in matching.continued:
        result.owner = module
        matching.class_dicts.add(id(real_dict(cls)))
        matching.class_dicts.add(id(real_dict(identity)))
        class_state = snapshot(cls, identity, matching.mapping, new.continuity.kept.get(qualname, ()))
        new.continuity.states[qualname] = class_state
        lineage = lineages.classes[(module, qualname)]
        new.continuity.previous_states[qualname] = lineage.state
        result._after.append(lambda lineage=lineage, state=class_state: setattr(lineage, "state", weakref.ref(state)))
        apply_state(result, class_state)
        merge_abc(result, identity, cls, matching.mapping)
    _plan_fresh_classes(result, lineages, matching)


# -- module objects made at import (six's ``moves``) -----------------------------------
#
# A module's code may make module objects of its own classes (``moves =
# _MovedItems("six.moves")``) and register them in ``sys.modules``, directly or
# through an import hook, under their name or an alias. A fresh process has
# one such object per name; after a reload there would be two — the one
# ``sys.modules`` (and whoever imported it) holds, and the new generation's —
# sharing one continued class, and code that treats the class as its only
# instance's (six deletes a lazy descriptor from the class once one instance
# resolved it) breaks the other. So such an object keeps its identity, like
# the proxy of a versioned module: the one ``sys.modules`` holds with the same
# class and ``__name__`` takes the new one's contents, and every holder of the
# new one is pointed at it.

_IMPORT_ATTRIBUTES = ("__spec__", "__loader__", "__package__", "__path__", "__file__", "__cached__")


class _ModuleObjects:
    """The module objects ``sys.modules`` holds whose class is the identity of a new ``ModuleType`` subclass."""

    def __init__(self, pairs: list[tuple[type, type]]) -> None:
        self.identities = {id(cls): identity for cls, identity in pairs if issubclass(cls, types.ModuleType)}
        wanted = {id(identity) for identity in self.identities.values()}
        self.older: dict[tuple[int, str], types.ModuleType] = {}
        for module in list(sys.modules.values()) if wanted else ():
            if id(type(module)) in wanted:
                name = module_dict(module).get("__name__")
                if isinstance(name, str):
                    self.older.setdefault((id(type(module)), name), module)

    def older_of(self, new: Any) -> Any:
        """Return the module object in ``sys.modules`` ``new`` is a new generation of, or None."""
        identity = self.identities.get(id(type(new)))
        if identity is None:
            return None
        name = module_dict(new).get("__name__")
        old = self.older.get((id(identity), name)) if isinstance(name, str) else None
        return old if old is not new else None


def _module_objects(matching: Matching) -> Any:
    """Return the predicate telling ``discover`` which found holders are new module objects with an older one."""
    objects = _ModuleObjects([(cls, identity) for _, _, identity, cls, _ in matching.candidates])
    if not objects.older:
        return None
    return lambda holder: objects.older_of(holder) is not None


def _map_module_objects(matching: Matching, found: Any) -> list[tuple[Any, Any]]:
    """Map each new module object of a continued class to the one of ``sys.modules`` it is a new generation of."""
    objects = _ModuleObjects([(cls, identity) for _, _, identity, cls, _ in matching.continued])
    pairs: list[tuple[Any, Any]] = []
    if not objects.older:
        return pairs
    for holder, _ in found.rewrites:
        old = objects.older_of(holder)
        if old is not None:
            matching.mapping[id(holder)] = (holder, old)
            pairs.append((holder, old))
    return pairs


def _plan_module_object(result: Plan, new: types.ModuleType, old: types.ModuleType, mapped: Any) -> None:
    """Plan ``old`` taking ``new``'s contents; what the import system set on ``old`` stays when ``new`` lacks it."""
    before, contents = module_dict(old), {key: mapped(value) for key, value in module_dict(new).items()}
    for key in _IMPORT_ATTRIBUTES:
        if contents.get(key) is None and before.get(key) is not None:
            contents[key] = before[key]
    replace_contents(result, before, contents)


def _search_targets(matching: Matching) -> tuple[list[Any], set[int]]:
    """Return the new objects whose holders are searched, and the ids of the bookkeeping that holds them."""
    skip = matching.own()
    targets: list[Any] = []
    skip.add(id(targets))
    for _, _, _, cls, new in matching.candidates:
        targets.append(cls)
        targets.extend(enum_members(cls))
        skip.add(id(new.continuity.classes))
    targets.extend(matching.functions)
    for _, _, _, new in matching.fresh:
        skip.add(id(new.continuity.classes))
    skip |= internal_tuples([item[3] for item in matching.candidates] + [item[2] for item in matching.fresh])
    return targets, skip


def _known_holders(matching: Matching, triples: list[tuple[Any, Any, Any]]) -> list[Any]:
    """What holds the new functions, known without a search: the namespaces, class dicts and wrappers they sit in.

    The bookkeeping that refers to them too (which the search skips) is
    listed, so that reference counts say whether anything else holds them.
    """
    known: list[Any] = [matching.functions, *matching.candidates, *matching.fresh]
    functions: list[Any] = []
    for _, _, new in triples:
        definitions: Definitions = new.continuity
        known += (new.namespace, definitions.functions, definitions.classes)
        functions += definitions.functions.values()
        functions += definitions.bodies.values()
        _values(known, new.namespace.values())  # tables of callbacks, instances (each holds its class)
        for cls in definitions.classes.values():
            known += (real_dict(cls), mro_of(cls), bases_of(cls))
            # Its wrappers and descriptors, its tables (an Enum's members, a dataclass's fields), its instances.
            _values(known, dict_of(cls).values())
    for function in functions:
        known += function.__closure__ or ()
        if function.__dict__:
            known.append(function.__dict__)
    return known


def _values(known: list[Any], values: Any) -> None:
    """Add the values that may hold a new object: wrappers, descriptors, instances, and tables with theirs."""
    for value in values:
        kind = type(value)
        if kind in _MEMBERS or is_user_class(kind):
            known.append(value)
        elif kind is dict or kind is list:
            known.append(value)
            items = value.values() if kind is dict else value
            known += [item for item in items if type(item) in _MEMBERS or is_user_class(type(item))]


_MEMBERS = frozenset({classmethod, staticmethod, property, functools.partial, type(type.__dict__["__dict__"])})


def _plan_fresh_classes(result: Plan, lineages: Lineages, matching: Matching) -> None:
    for module, qualname, cls, new in matching.fresh:
        result.owner = module
        # Already on the identities of its bases (``decide_all``).
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
