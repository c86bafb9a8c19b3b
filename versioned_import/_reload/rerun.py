"""Which dependents a reload re-executes (G6): those whose import-time code used something that changed.

A reload visits the modules it could re-execute — the named ones and their
dependents — in execution order. The named ones always run. A dependent
runs when:

* its file changed since its current generation (it would run on the next
  ``reload_changed()`` anyway, and a file broken meanwhile refuses the
  reload as it always did);
* its import-time code (``uses``) loads a name that changed in a module that
  ran before it, or calls a function of its own whose code does: a value
  that differs, a name gone or new, a module-level object (an instance, a
  list, a registry) that is a new object now, a class or function whose
  definition changed (compared as continuity carries it over:
  ``_continuity.equivalence``), or a function or class anywhere in the
  reload whose code reads any of those;
* it reaches names dynamically at import time (``from m import *``,
  ``getattr``, ``vars``) and anything changed.

A module named in the reload whose source did not change is re-executed on
request: what it read from outside its source may differ (a file, the
environment), so every name it defines counts as changed, and so does every
name of a dependent re-executed because of it. A dependent that only binds
what changed — ``import m``, a continued class it uses in function bodies —
keeps its generation: continuity already makes those objects the newest
ones.

This is what ``reload(...)`` does by default (``dependents=True``);
``dependents="all"`` re-executes every dependent, as a restart would.
"""

from __future__ import annotations

import cProfile
import os
import sys
import types
import weakref
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from .. import _continuity
from .._continuity.equivalence import Comparison
from .._core.source import Source, read_source, stat_key
from .._core.state import Generation, ModuleRecord, State
from .uses import Uses, code_tree, definition_key, uses_of

__all__ = ["Dependents", "unchanged_source"]


class Dependents:
    """The decisions of one reload, taken module by module in execution order."""

    def __init__(self, state: State, named: Iterable[str], candidates: Iterable[ModuleRecord] = (),
                 tied: Iterable[str] = ()) -> None:
        self.state = state
        self.named = set(named)
        self.tied = set(tied)  # tied by registrations to another module of the reload: always run
        # The dependents not decided yet: what they may load bounds what is worth comparing.
        self._pending = {record.name: record for record in candidates if record.name not in self.named}
        self.names: set[str] = set()  # names whose value or behaviour changed, in any module visited
        # Names bound to new objects equal to the old ones: only code that bound the old object at import
        # must re-run; code reading them later reads the same content (equivalence.Changes.rebound).
        self.rebound: set[str] = set()
        self.objects: set[int] = set()  # ids of the objects (identities) whose behaviour changed
        self.forced: set[str] = set()  # modules whose every name counts as changed
        self._forced_names: set[str] = set()  # those names
        self._identities: dict[int, Any] = {}  # id(new class or function) -> the identity it continues
        self._bodies: dict[int, Any] = {}  # id(identity function) -> the function whose code it runs now

    # -- decisions ---------------------------------------------------------------------

    def upfront(self, record: ModuleRecord) -> bool:
        """Whether ``record`` runs whatever the others change: named, tied, or its file changed."""
        return record.name in self.named or record.name in self.tied or self._file_changed(record)

    def decided(self, record: ModuleRecord) -> None:
        """``record`` runs without a decision (new code touched it, or it joined the modules that run anyway)."""
        self._pending.pop(record.name, None)

    def must_run(self, records: list[ModuleRecord]) -> bool:
        """Whether a group of dependents (an import cycle, or one module) must re-run."""
        run = forced = False
        for record in records:
            self._pending.pop(record.name, None)
            current = record.current
            if current is None:
                return True
            uses = self._uses(current)
            if current.called is not None:
                # Watched when it last ran: what its import-time code loaded, and what the functions it called load.
                loads = uses.body.union(*(uses.trees.get(key, ()) for key in current.called))
                hit = loads & (self.names | self.rebound)
            else:
                own = self._affected(record.name, current)
                hit = uses.import_time & (self.names | self.rebound | own)
            if hit or (uses.dynamic and (self.names or self.rebound)):
                run = True
                # Re-run because of a module re-executed on request: re-executed on request too.
                forced = forced or not hit.isdisjoint(self._forced_names) or (uses.dynamic and bool(self.forced))
        if forced:
            self.forced.update(record.name for record in records)
        return run

    def watch(self) -> Any:
        """Start watching which functions the modules executed from now on call at import (None: cannot)."""
        if sys.getprofile() is not None or sys.gettrace() is not None:
            return None  # a profiler or debugger of the application's: never displaced
        profiler = cProfile.Profile()
        try:
            profiler.enable()
        except ValueError:
            return None  # 3.12+: another tool holds the profiler's monitoring slot
        return profiler

    def watched(self, profiler: Any, executed: list[tuple[ModuleRecord, Generation]]) -> None:
        """Stop watching; record, for each module executed, which functions of its own its import-time code called."""
        if profiler is None:
            return
        profiler.disable()
        by_file: dict[str, set[tuple[str, int]]] = {}
        for entry in profiler.getstats():
            code = entry.code
            # Functions only: the module's code and its class bodies are import-time code anyway, and the
            # tree of each would count every function defined in it.
            if type(code) is types.CodeType and code.co_flags & _CO_OPTIMIZED:
                by_file.setdefault(code.co_filename, set()).add(definition_key(code))
        for _, generation in executed:
            if generation.code is not None:
                generation.called = frozenset(by_file.get(generation.code.co_filename, ()))

    def skipped(self, records: list[ModuleRecord]) -> None:
        """Note what a group that keeps its generation passes on: its functions whose code reads a changed name."""
        for record in records:
            current = record.current
            if current is None:
                continue
            affected = self._affected(record.name, current)
            self._note(affected, current.namespace)

    def executed(self, record: ModuleRecord, old: Generation | None, new: Generation) -> None:
        """Compare a re-executed module's new generation with its previous one; note what changed."""
        if old is None:
            return
        if new.uses is None and old.uses is not None and old.source is not None and new.source is not None \
                and old.source.digest == new.source.digest:
            new.uses = old.uses  # the same bytes: the same code
        module = record.name
        _adopt(self.state, record, old)
        if new.continuity is None:
            new.continuity = _continuity.capture(module, new.namespace)
        self._learn(module, new)
        unchanged_source = old.source is not None and new.source is not None and old.source.digest == new.source.digest
        if unchanged_source and module in self.named:
            self.forced.add(module)
        self._pending.pop(module, None)
        if module not in self.forced and not self._may_matter(new.namespace, old.namespace):
            return  # no dependent left to decide loads a name this module changed, anywhere in its code
        if module in self.forced:
            names = _forced_names(new.namespace, old.namespace)
            self.names |= names
            self._forced_names |= names
            self.objects.update(id(v) for v in old.namespace.values() if isinstance(v, type) or callable(v))
            self._note(self._affected(module, new), new.namespace)
            return
        comparison = Comparison(self._resolve, self._body, self.objects)
        changes = comparison.namespace(new.namespace, old.namespace)
        new.continuity.kept = changes.kept
        self.names |= changes.names | changes.moved
        self.rebound |= changes.rebound
        self.objects |= changes.objects
        self._note(self._affected(module, new), new.namespace)

    def _may_matter(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        """Whether a dependent still to decide may load a name whose object differs between ``old`` and ``new``."""
        objects = self.objects
        differing = {name for name in new.keys() | old.keys()
                     if new.get(name, _MISSING) is not old.get(name, _MISSING) or id(old.get(name)) in objects}
        if not differing:
            return False
        for record in self._pending.values():
            current = record.current
            if current is None:
                return True
            uses = self._uses(current)
            if uses.dynamic or not uses.everything.isdisjoint(differing):
                return True
        return False

    # -- what changed --------------------------------------------------------------------

    def _note(self, affected: set[str], namespace: dict[str, Any]) -> None:
        self.names |= affected
        self.objects.update(id(namespace[name]) for name in affected if name in namespace)

    def _affected(self, module: str, generation: Generation) -> set[str]:
        """The names of ``generation``'s namespace bound to functions and classes whose code loads a changed name."""
        namespace, uses = generation.namespace, self._uses(generation)
        if uses.everything.isdisjoint(self.names) and self.objects.isdisjoint(map(id, namespace.values())):
            return set()
        affected: set[str] = set()
        loads = self._definition_loads(module, generation, uses)
        grew = True
        while grew:
            grew = False
            wanted = self.names | affected
            for name, value in namespace.items():
                if name in affected:
                    continue
                found = loads.get(name)
                if (found is not None and not found.isdisjoint(wanted)) or id(value) in self.objects:
                    affected.add(name)
                    grew = True
        return affected

    def _definition_loads(self, module: str, generation: Generation, uses: Uses) -> dict[str, Any]:
        """Name -> what the function or class bound to it loads, kept while the namespace keeps those objects."""
        namespace = generation.namespace
        known = _LOADS.get(generation)
        if known is None:
            known = _LOADS[generation] = {}
        loads = {}
        for name, value in namespace.items():
            if type(value) in _PLAIN or isinstance(value, ModuleType):
                continue
            entry = known.get(name)
            if entry is None or entry[0] is not value:
                entry = known[name] = (value, self._loads(value, module, uses))
            loads[name] = entry[1]
        return loads

    def _loads(self, value: Any, module: str, uses: Uses) -> frozenset[str] | None:
        """What ``value``'s code loads, if it is a function or a class of ``module`` (wrappers followed)."""
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        if isinstance(value, ModuleType):
            return None  # never looked into: a staged module's proxy would run its new code
        if isinstance(value, type):
            if value.__module__ != module:
                return None
            return uses.of_class(value.__qualname__)
        code = getattr(value, "__code__", None)
        if code is None or type(code).__name__ != "code":
            return None
        loads = uses.trees.get(definition_key(code))
        if loads is None:
            loads = code_tree(code)  # another module's code (a decorator's wrapper): scans are cached
        wrapped = getattr(value, "__dict__", {}).get("__wrapped__")
        inner = [wrapped] if wrapped is not None else []
        for cell in getattr(value, "__closure__", None) or ():
            try:
                inner.append(cell.cell_contents)
            except ValueError:
                pass
        for content in inner:
            if getattr(content, "__code__", None) is not None and content is not value:
                more = self._loads(content, module, uses) if content.__code__ is not code else None
                if more:
                    loads = loads | more
        return loads

    def _uses(self, generation: Generation) -> Uses:
        if generation.uses is None:
            generation.uses = uses_of(generation.code) if generation.code is not None else Uses(dynamic=True)
        uses: Uses = generation.uses
        return uses

    def _file_changed(self, record: ModuleRecord) -> bool:
        current = record.current
        if current is None or current.source is None:
            return True
        if unchanged_source(record) is not None:
            return False
        try:
            source = read_source(record.path)
        except OSError:
            return True
        return source.digest != current.source.digest

    # -- continuity's view: what a new object stands for ------------------------------------

    def _learn(self, module: str, new: Generation) -> None:
        lineages = self.state.lineages
        if lineages is None:
            return
        definitions = new.continuity
        for qualname, cls in definitions.classes.items():
            lineage = lineages.classes.get((module, qualname))  # type: ignore[attr-defined]
            identity = lineage.get() if lineage is not None else None
            if identity is not None:
                self._identities[id(cls)] = identity
        for key, function in definitions.functions.items():
            lineage = lineages.functions.get((module, key))  # type: ignore[attr-defined]
            identity = lineage.identity() if lineage is not None and lineage.identity is not None else None
            if identity is not None:
                self._identities[id(function)] = identity
                self._bodies[id(identity)] = lineage.current if lineage.current is not None else identity

    def _resolve(self, new: Any) -> Any:
        return self._identities.get(id(new))

    def _body(self, identity: Any) -> Any:
        return self._bodies.get(id(identity), identity)


def unchanged_source(record: ModuleRecord) -> Source | None:
    """The current generation's source, when the file's stat says its bytes cannot have changed (G8's pre-check)."""
    current = record.current
    if current is None or current.source is None or record.seen_racy or record.seen_stat is None:
        return None
    try:
        key = stat_key(os.stat(record.path))
    except OSError:
        return None  # reading it says why
    return current.source if key == record.seen_stat else None


def _adopt(state: State, record: ModuleRecord, old: Generation) -> None:
    """Start the continuity lineages of a first import's generation (done at its first reload)."""
    if old is record.current and old.continuity is None:
        old.continuity = _continuity.capture(record.name, old.namespace)
        _continuity.adopt(state, record.name, old)


def _forced_names(new: dict[str, Any], old: dict[str, Any]) -> set[str]:
    """The names of a module re-executed on request that count as changed: all but the very same objects.

    A value (a number, a string) may be the same object by chance (small
    ints, interned strings) and still have been computed anew: it counts,
    unless it is one of the module attributes the import system sets
    (``__name__``, which every class body reads, ``__file__``, ...).
    """
    names = set()
    for name in new.keys() | old.keys():
        value = new.get(name, _MISSING)
        if value is old.get(name, _MISSING) and (type(value) not in _VALUES or name in _MODULE_ATTRIBUTES):
            continue
        names.add(name)
    return names


_MODULE_ATTRIBUTES = frozenset({"__name__", "__file__", "__cached__", "__package__", "__spec__", "__loader__",
                                "__path__", "__builtins__"})


_MISSING = object()
_CO_OPTIMIZED = 0x1
# What the definitions of a generation load (``Dependents._definition_loads``), for as long as it lives.
_LOADS: weakref.WeakKeyDictionary[Generation, dict[str, tuple[Any, frozenset[str] | None]]] = \
    weakref.WeakKeyDictionary()
# Values that are never a function or a class: no code to read.
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset,
                    types.ModuleType})
_VALUES = frozenset({int, float, complex, str, bytes, bool, type(None), tuple, frozenset})
