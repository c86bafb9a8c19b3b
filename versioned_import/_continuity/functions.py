"""Function continuity: function lineages across a first import, a publish and an unload; the transplant pass.

Every function object callers took keeps its identity (``_continuity`` says
how, for classes and functions alike). This module owns the function side:

* ``Lineages``, the continuity registry of one ``State``, and
  ``Lineages.settle``, the pass that transplants the current definition into
  every version that still forwards (``_transplant``) once no reader views
  another generation. The registry lives here because everything in it but
  the class lineages (``_continuity``'s) serves the functions, and its one
  method is theirs;
* the function lineages of a first import (``adopt_functions``) and of an
  unload (``forget_functions``);
* planning them at a publish: which new functions become the identities
  callers hold (``new_functions``, ``map_functions``); the forwarders, shown
  attributes and new head of each lineage (``plan_functions``); what a
  rollback restores (``restore_dropped_definitions``); a lineage the source
  no longer defines going dormant (``sleep_function``).

``_continuity.plan`` calls these in its pipeline; as there, each change is
planned as an operation with its undo (``_operations.Plan``), and the
bookkeeping changes only once the publish succeeded.
"""

from __future__ import annotations

import functools
import types
import weakref
from collections.abc import Callable
from typing import Any

from .._core.atomic import apply_atomically
from .._report import Replaced
from . import forwarders as _forwarders
from .forwarders import KIND_NAMES, SHOWN, FunctionLineage, entry, kind, show_operations, shown
from .lineages import Definitions
from .operations import Plan, mapped, nothing
from .referrers import KnownHolders
from .switches import Switch
from .transplant import TRANSPLANT, arm, plan_transplant

__all__ = ["Lineages", "adopt_functions", "forget_functions", "new_functions", "map_functions", "plan_functions",
           "restore_dropped_definitions", "sleep_function"]

FunctionType = types.FunctionType


class _ByModule(dict):  # type: ignore[type-arg]
    """A dict keyed by ``(module, ...)`` that also knows each module's keys: no walk over every module's."""

    def __init__(self) -> None:
        super().__init__()
        self.modules: dict[str, set[Any]] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.modules.setdefault(key[0], set()).add(key)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._drop(key)

    def pop(self, key: Any, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._drop(key)
        return value

    def _drop(self, key: Any) -> None:
        keys = self.modules.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.modules[key[0]]

    def keys_of(self, module: str) -> list[Any]:
        return list(self.modules.get(module, ()))


class Lineages:
    """The continuity registry of one ``State``."""

    def __init__(self) -> None:
        self.classes: _ByModule = _ByModule()  # (module, qualname) -> ClassLineage
        self.functions: _ByModule = _ByModule()  # (module, key) -> FunctionLineage
        # Every live functools.lru_cache wrapper ever made at one place: all
        # are cleared when the body behind them changes.
        self.caches: dict[tuple[str, tuple[str, str]], list[weakref.ref[Any]]] = {}
        # serial -> lineage for every lineage a forwarder may call. Forwarder
        # code refers to lineages through this table, never directly; an entry
        # goes when the lineage is forgotten or asleep and nothing forwards to it.
        self.forwarding: dict[int, FunctionLineage] = {}
        # Lineages whose versions may still forward, by proxy: ``settle`` transplants them.
        self.unsettled = _Unsettled()
        # Old containers that held a reload's new objects (a registry): searched first (``_referrers``).
        self.known_holders = KnownHolders()

    def settle(self, state: Any, record: Any) -> None:
        """Make every version of ``record``'s lineages that forwards the current definition itself.

        Called whenever views are refreshed (after a publish, when a stale
        pin ends). Only in fast mode (``_transplant.TRANSPLANT``), and only
        while no reader needs another generation of the module: a pinned
        reader calling a held function must reach its pinned body, which a
        forwarder does and a transplant cannot. (A publish that no pin
        watches transplants in its own pass: see ``switches``.)
        """
        if not TRANSPLANT:
            return
        pending = self.unsettled.of(id(record.proxy))
        if not pending or state.needs_view(record):
            return
        do: list[tuple[Any, ...]] = []
        undo: list[tuple[Any, ...]] = []
        finishers = []
        updates = []
        for lineage in pending:
            body = lineage.current
            if body is None:
                continue
            generation = lineage.head[1]
            definitions = generation.continuity if generation is not None else None
            made_version = definitions.versions.get(lineage.key, 0) if definitions is not None else 0
            if definitions is not None and definitions.bodies.get(lineage.key) is not body:
                made_version = 0  # not this generation's own body (a restored one): no version known
            for index, (reference, code, generation_ref, _) in enumerate(lineage.versions):
                version = reference()
                if version is None or version.__code__ is code:
                    continue  # gone, or running a definition of its own
                transplant = plan_transplant(version, body, code, made_version)
                steps, back, finish = arm(transplant)
                do.extend(steps)
                undo.extend(back)
                finishers.append(finish)
                own = weakref.ref(generation) if generation is not None else generation_ref
                updates.append((lineage, index, reference, transplant.code, own))
        try:
            if do:
                apply_atomically(do, undo)
        finally:
            for finish in finishers:
                finish()
        for lineage, index, reference, new_code, own in updates:
            version = reference()
            if version is not None:
                lineage.versions[index] = (reference, new_code, own, shown(version))
        for lineage in pending:
            self.unsettled.discard(lineage)
            if lineage.sleep is not None and lineage.generation is None:
                lineage.sleep(lineage)
            lineage.release_if_unused()


class _Unsettled:
    """The lineages whose versions may still forward, by the id of their module's proxy."""

    def __init__(self) -> None:
        self._by_proxy: dict[int, set[FunctionLineage]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_proxy)

    def add(self, lineage: FunctionLineage) -> None:
        self._by_proxy.setdefault(lineage.proxy_id, set()).add(lineage)

    def discard(self, lineage: FunctionLineage) -> None:
        lineages = self._by_proxy.get(lineage.proxy_id)
        if lineages is not None:
            lineages.discard(lineage)
            if not lineages:
                del self._by_proxy[lineage.proxy_id]

    def of(self, proxy_id: int) -> list[FunctionLineage]:
        return list(self._by_proxy.get(proxy_id, ()))


# -- first import and unload ------------------------------------------------------

def adopt_functions(lineages: Lineages, module: str, generation: Any, proxy_id: int) -> None:
    """Start the lineages of a first import's functions, and note its caches (``_continuity.adopt``)."""
    definitions: Definitions = generation.continuity
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


def _adopt_caches(lineages: Lineages, module: str, definitions: Definitions) -> None:
    for key, cache in definitions.caches.items():
        try:
            reference = weakref.ref(cache)
        except TypeError:
            continue  # a cache-like object without weakref support: cleared via its generation only
        lineages.caches.setdefault((module, key), []).append(reference)


def forget_functions(lineages: Lineages, module: str) -> None:
    """Drop the function lineages and caches of ``module`` (``_continuity.forget``)."""
    doomed = [lineages.functions.pop(k) for k in lineages.functions.keys_of(module)]
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

def new_functions(lineages: Lineages, triples: list[tuple[Any, Any, Any]]) -> list[FunctionType]:
    """The new functions whose lineage has an identity they may become (``map_functions`` decides)."""
    functions = []
    for record, _, new in triples:
        module = record.name
        for key, function in new.continuity.functions.items():
            lineage = lineages.functions.get((module, key))
            identity = lineage.identity() if lineage is not None and lineage.identity is not None else None
            if identity is not None and identity is not function:
                functions.append(function)
    return functions


def map_functions(lineages: Lineages, triples: list[tuple[Any, Any, Any]], mapping: dict[int, tuple[Any, Any]],
                  restarted: list[tuple[str, str]]) -> dict[str, dict[tuple[str, str], FunctionType]]:
    """Map each new function to the object its lineage gave callers, so one function exists per definition.

    Like a continued class, the identity takes the new function's place in
    the new namespace, in class dicts, registries, closure cells and
    wrappers (``rewrite_references``): ``is``, ``==``, dict keys,
    ``list.remove``, pickling by reference and weakly held callbacks all see
    one object across reloads. Returns, per module, the function objects the
    new generations made (only ``plan_functions`` still needs them).
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
            if lineage is None or identity is None or identity is function or id(function) in mapping:
                continue
            if kind(_forwarders.own_code(lineage, identity)) != kind(definitions.codes[key]):
                continue  # reported by plan_functions; the new function takes the old one's place
            mapping[id(function)] = (function, identity)
            definitions.functions[key] = identity
    return originals


def plan_functions(result: Plan, lineages: Lineages, record: Any, old: Any, new: Any,
                   mapping: dict[int, tuple[Any, Any]], republish: bool, restart: tuple[str, ...] = (),
                   originals: dict[tuple[str, str], FunctionType] | None = None,
                   mapper: Callable[[Any], Any] | None = None) -> None:
    """Plan the function lineages of one module at a publish: how held versions move, head and caches.

    ``mapper`` gives the identity (or mapped copy) of a new object; the
    versions' moves are decided at the publish (``switches``).
    """
    module = record.name
    definitions: Definitions = new.continuity
    proxy_id = id(record.proxy)
    if mapper is None:
        mapper = functools.partial(mapped, mapping=mapping)
    originals = originals or {}
    for key, function in definitions.functions.items():
        # ``function`` is what callers get (the identity); ``made`` what this generation's code made.
        made = originals.get(key, function)
        body = definitions.bodies[key]
        if not republish and mapping and body.__defaults__:
            # The body is private to this reload: it takes the identities now.
            defaults = tuple(mapped(v, mapping) for v in body.__defaults__)
            if any(a is not b for a, b in zip(defaults, body.__defaults__)):
                body.__defaults__ = defaults
        lineage = lineages.functions.get((module, key))
        if lineage is None or (restart and key[0].startswith(restart)):
            if lineage is not None:
                # The replaced class's methods keep their lineage for the old instances;
                # unregistered, it is released once nothing forwards to it.
                result._after.append(functools.partial(_orphan, lineage))
            lineage = FunctionLineage(module, key, proxy_id, lineages.forwarding)
            result._after.append(lambda k=(module, key), lineage=lineage: lineages.functions.__setitem__(k, lineage))
        own_code = definitions.codes[key]
        current = lineage.target()
        if not republish:
            target = current
            if target is not None and target is not lineage.current:
                # Made from a dormant identity: nothing else keeps this twin, and the
                # identity will run the new definition; kept while this generation is.
                definitions.previous_targets[key] = lambda target=target: target
            else:
                definitions.previous_targets[key] = weakref.ref(target) if target is not None else None
        meta = _forwarders.meta(own_code)
        live = [v for v in lineage.versions if v[0]() is not None]  # drop the dead: they pin code objects
        moves: list[tuple[int, Any, Any]] = []
        # A body never forwards: its code is its own.
        current_code: types.CodeType | None = None
        if isinstance(current, FunctionType):
            current_code = current.__code__ if current is lineage.current else _forwarders.own_code(lineage, current)
        if current_code is not None and current is not body and kind(current_code) != kind(own_code):
            was = KIND_NAMES.get(kind(current_code))
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
            for index, (reference, code, _, own) in enumerate(live):
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
                moves.append((index, version, code))
            kept = live
            if not republish:
                # Followed too, should it escape the rewrite (held by a C object such as an lru_cache wrapper).
                kept = kept + [entry(made, lineage, own_code, new)]
        result.add((setattr, lineage, "current", body), (setattr, lineage, "current", lineage.current))
        if lineage.dormant is not None:
            result.add((setattr, lineage, "dormant", None), (setattr, lineage, "dormant", lineage.dormant))
        if lineage.sleep is not None:
            result.add((setattr, lineage, "sleep", None), (setattr, lineage, "sleep", lineage.sleep))
        result.add((setattr, lineage, "generation", new), (setattr, lineage, "generation", lineage.generation))
        result.add((setattr, lineage, "head", (body, new)), (setattr, lineage, "head", lineage.head))
        if not moves:
            result._after.append(functools.partial(_settled_later, lineages, lineage, kept, meta, weakref.ref(function)))
            continue
        transplants = None
        if TRANSPLANT and not republish:
            # Planned now, while new objects can still be mapped to their identities; applied at the
            # publish unless a pinned reader needs the versions to forward.
            attributes = {"__dict__": {k: mapper(v) for k, v in body.__dict__.items()}} if body.__dict__ else None
            made_version = definitions.versions.get(key, 0)
            transplants = [plan_transplant(version, body, code, made_version, attributes) for _, version, code in moves]
        switch = Switch(lineages.unsettled, lineage, body, moves, kept, meta, new, weakref.ref(function), transplants)
        result.switches.append((result.owner, switch))
    # No cache may serve a result computed by a body that is no longer current.
    for key in definitions.caches:
        alive_caches = [r for r in lineages.caches.get((module, key), ()) if r() is not None]
        for cache_reference in alive_caches:
            cache: Any = cache_reference()
            # A republished wrapper may hold results its stale callers computed with the newer body.
            if cache is not None and (republish or cache is not definitions.caches[key]):
                result.add((cache.cache_clear,), (nothing,))
        if not republish:
            alive_caches.append(weakref.ref(definitions.caches[key]))
        result._after.append(lambda k=(module, key), alive_caches=alive_caches: lineages.caches.__setitem__(k, alive_caches))


def _orphan(lineage: FunctionLineage) -> None:
    lineage.forgotten = True
    lineage.release_if_unused()


def _meta_later(lineages: Lineages, lineage: FunctionLineage, meta: Any) -> None:
    lineage.meta = meta
    lineages.unsettled.add(lineage)


def _settled_later(lineages: Lineages, lineage: FunctionLineage, kept: list[Any], meta: Any,
                   identity: weakref.ref[FunctionType]) -> None:
    lineage.versions, lineage.meta, lineage.identity = kept, meta, identity
    if lineage.forwarders_alive():
        lineages.unsettled.add(lineage)
    else:
        lineages.unsettled.discard(lineage)


def restore_dropped_definitions(result: Plan, lineages: Lineages, module: str, dropped: Definitions,
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
            result._after.append(functools.partial(_meta_later, lineages, lineage, _forwarders.meta(own_code)))


def sleep_function(lineages: Lineages, key: tuple[str, Any], lineage: FunctionLineage) -> None:
    current = lineage.current
    if current is None:
        return
    lineage.generation = None
    lineage.head = (current, None)
    lineage.sleep = lambda lineage: sleep_function(lineages, key, lineage)
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
