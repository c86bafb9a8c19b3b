"""The SQLAlchemy entry: what a module's execution defines, and its steps around the transaction."""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...._core.effects import Effect
from ...._core.state import ModuleRecord
from ...._core.state import state as _state
from ...recording import Interception, Recording, Refusal
from . import definitions
from .definitions import ClassMapped, Operation, TableDefined, add_table, effects_of, managers, supported
from .instances import Lent, give_back, instance_operations, lend_operations
from .relations import Definitions, refuse_foreign_references

__all__ = ["SQLAlchemyEntry"]


@dataclass(eq=False)
class _Started:
    managers: dict[int, tuple[Any, Any]]
    intercepting: bool
    locked: Any


class SQLAlchemyEntry:
    # Looked at whether or not SQLAlchemy is imported yet: a model module is often what imports it first
    # (``from sqlmodel import SQLModel`` does, without naming it).
    library: str = ""
    markers: tuple[str, ...] = ("Mapped", "mapped_column", "Column", "Table", "relationship", "declarative_base",
                                "DeclarativeBase", "Model", "SQLModel", "__tablename__", "__table__", "registry")

    def __init__(self) -> None:
        self.interception: Interception | None = None
        self._lock = threading.Lock()
        # Every class manager recorded, to find the old ones of a continued class (``settled``).
        self._known: weakref.WeakSet[Any] = weakref.WeakSet()
        # Old managers acting as the new ones from a publish to its ``settled`` (see ``lend_operations``).
        self._lent: list[Lent] = []

    def start(self, recording: Recording) -> object:
        if "sqlalchemy" not in sys.modules:
            return _Started({}, False, None)  # the module imports it now: what it defines is found by comparison
        if not supported():
            if recording.reloading and recording.previous is not None and _defines_mappings(recording):
                version = getattr(sys.modules["sqlalchemy"], "__version__", "?")
                raise Refusal(recording.record.name, RuntimeError(
                    f"SQLAlchemy {version} is not a version versioned_import can redefine tables and mapped "
                    f"classes in (tested: {', '.join(f'{a}.{b}' for a, b in definitions.TESTED)})"),
                    "restart the process to load this change")
            return None
        schema = sys.modules.get("sqlalchemy.sql.schema")
        intercepting = False
        if schema is not None:
            with self._lock:
                if self.interception is None:
                    definitions._add_table = schema.MetaData._add_table
                    self.interception = Interception(schema.MetaData, "_add_table", add_table)
            self.interception.enter()
            intercepting = True
        locked = None
        mapperlib = sys.modules.get("sqlalchemy.orm.mapper")
        if recording.reloading and mapperlib is not None:
            # Other threads must not configure the mappers this code makes before the reload is decided.
            locked = mapperlib._CONFIGURE_MUTEX
            locked.acquire()
        return _Started(managers(), intercepting, locked)

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        if not isinstance(started, _Started):
            return []
        try:
            if started.intercepting:
                assert self.interception is not None
                self.interception.exit()
            if "sqlalchemy" not in sys.modules or not supported():
                return []
            found: list[Effect] = []
            mapped = [ClassMapped(registry, manager) for key, (registry, manager) in managers().items()
                      if key not in started.managers and _defined_by(manager.class_, recording)]
            if not started.intercepting:
                found.extend(_tables_found(recording, mapped))
            for effect in mapped:
                self._known.add(effect.manager)
                mapper = effect.mapper
                if recording.reloading and mapper is not None and not mapper.configured:
                    mapper._ready_for_configure = False  # configured by ``staged``, before the publish
            found.extend(mapped)
            return found
        finally:
            if started.locked is not None:
                started.locked.release()

    def related(self, records: dict[str, ModuleRecord], names: set[str]) -> set[str]:
        if "sqlalchemy.orm" not in sys.modules or not supported():
            return set()
        targets = Definitions([e for name in names for e in effects_of(records.get(name))])
        if targets.empty():
            return set()
        found = set()
        for name, record in records.items():
            if name in names:
                continue
            others = Definitions(effects_of(record))
            if not others.empty() and (others.refers_to(targets) or targets.refers_to(others)):
                found.add(name)
        return found

    def staged(self, recordings: list[Recording]) -> None:
        orm = sys.modules.get("sqlalchemy.orm")
        if orm is None or not supported():
            return
        new: list[tuple[Recording, ClassMapped]] = [
            (recording, effect) for recording in recordings if recording.reloading
            for effect in recording.generation.effects.effects if isinstance(effect, ClassMapped)]
        retracted = [effect for recording in recordings for effect in recording.retracted
                     if isinstance(effect, ClassMapped)]
        if not new and not retracted:
            return
        refuse_foreign_references(recordings, new, retracted)
        for _, effect in new:
            mapper = effect.mapper
            if mapper is not None and not mapper.configured:
                effect.registry._flag_new_mapper(mapper)
        try:
            orm.configure_mappers()
        except Exception as exc:
            culprit = next((recording for recording, effect in new
                            if effect.mapper is not None and effect.mapper.__dict__.get("_configure_failed")),
                           new[0][0] if new else recordings[0])
            raise Refusal(culprit.record.name, exc,
                          "fix the mapping (SQLAlchemy could not configure it) and reload again") from exc

    def publishing(self, recordings: list[Recording], unfreeze: Callable[[], None]) -> tuple[
            list[Operation], list[Operation]]:
        do: list[Operation] = []
        undo: list[Operation] = []
        if "sqlalchemy.orm" not in sys.modules or not supported():
            return do, undo
        stale: dict[int, tuple[Any, Any]] = {}  # id(old manager) -> (it, the manager of the new definition)
        for recording in recordings:
            new = {_where(e.manager.class_): e.manager for e in recording.generation.effects.effects
                   if isinstance(e, ClassMapped)}
            for effect in recording.retracted:
                if isinstance(effect, ClassMapped) and _where(effect.manager.class_) in new:
                    stale[id(effect.manager)] = (effect.manager, new[_where(effect.manager.class_)])
        if stale:
            unfreeze()  # the instances were made before the reload: the search must see the whole heap
            instance_operations(stale, do, undo)
            self._lent = lend_operations(stale, do, undo)
        return do, undo

    def settled(self, records: list[ModuleRecord]) -> None:
        # Instances made with an old manager after ``publishing`` searched (another thread, meanwhile).
        if "sqlalchemy.orm" not in sys.modules or not supported():
            return
        stale: dict[int, tuple[Any, Any]] = {}  # id(old manager) -> (it, the class's published manager)
        for record in records:
            for effect in effects_of(record):
                if not isinstance(effect, ClassMapped):
                    continue
                cls = effect.manager.class_
                if type.__dict__["__dict__"].__get__(cls).get("_sa_class_manager") is not effect.manager:
                    continue  # replaced rather than continued: old instances keep their class
                for manager in list(self._known):
                    if manager is not effect.manager and manager.class_ is cls:
                        stale[id(manager)] = (manager, effect.manager)
        if stale:
            do: list[Operation] = []
            instance_operations(stale, do, [])
            for function, *arguments in do:
                function(*arguments)
        lent, self._lent = self._lent, []
        give_back(lent)


def _where(cls: Any) -> tuple[str, str]:
    # How continuity matches a new class to the class it continues: its module and qualified name.
    return getattr(cls, "__module__", ""), getattr(cls, "__qualname__", "")


def _defines_mappings(recording: Recording) -> bool:
    """Whether the generation being replaced bound mapped classes or tables (checked on unsupported versions)."""
    previous = recording.previous
    if previous is None:
        return False
    schema = sys.modules.get("sqlalchemy.sql.schema")
    for value in list(previous.namespace.values()):
        if isinstance(value, type) and "_sa_class_manager" in value.__dict__:
            return True
        if schema is not None and isinstance(value, schema.Table):
            return True
    return False


def _defined_by(cls: Any, recording: Recording) -> bool:
    """Whether a class mapped while ``recording`` ran is this module's (not a plain module's imported meanwhile)."""
    module = getattr(cls, "__module__", None)
    if module == recording.record.name:
        return True
    # A factory in another versioned module, called by this code: this module's. A plain module's own classes
    # (a library first imported meanwhile) are not, and are never taken out.
    return module not in sys.modules or module in _state.records


def _tables_found(recording: Recording, mapped: list[ClassMapped]) -> list[Effect]:
    """The tables a module defined when SQLAlchemy was not imported as it started: its mappers' and its own."""
    schema = sys.modules.get("sqlalchemy.sql.schema")
    if schema is None:
        return []
    tables: list[Any] = []
    for effect in mapped:
        mapper = effect.mapper
        tables.extend(table for table in getattr(mapper, "tables", ()) if isinstance(table, schema.Table))
    tables.extend(value for value in recording.generation.namespace.values() if isinstance(value, schema.Table))
    found: list[Effect] = []
    seen: set[int] = set()
    for table in tables:
        if id(table) not in seen and table.metadata.tables.get(table.key) is table:
            seen.add(id(table))
            found.append(TableDefined(table.metadata, table))
    return found
