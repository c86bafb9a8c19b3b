"""SQLAlchemy: the tables and mapped classes a module's code defines (Flask-SQLAlchemy and SQLModel map through them).

Executing a model module again would define a second ``Table`` of a name
("Table 'user_account' is already defined for this MetaData instance") and a
second class of a name in the registry's string lookup. So a reload takes the
previous generation's out first (``retract_before``): ``TableDefined`` leaves
its ``MetaData`` (foreign keys naming it by string are linked to the new one
by SQLAlchemy when its columns attach), ``ClassMapped`` leaves the string
lookup and the registry's mappers. A refused reload puts the same objects
back and links the foreign keys to them again. Around the transaction
(``Coordinated``): ``related`` re-executes the modules whose mappers or
tables are tied to the reloaded ones by relationship or foreign key (a
configured relationship cannot take a new target); ``staged`` configures the
new mappers before anything is published, so a broken mapping refuses the
reload and continued classes carry configured attributes from the first
instant (other threads do not configure them meanwhile: they are made under
SQLAlchemy's configure lock and marked not ready); ``settled`` gives the
instances loaded before the reload the published class manager (docs/side-effects-orm.md).

Private structures of SQLAlchemy are touched here and only here (the
registry's ``_class_registry`` and ``_managers``, ``clsregistry._add_class``,
``MetaData._add_table`` and ``_fk_memos``, ``ForeignKey._set_target_column``,
``Mapper._props``, ``_inheriting_mappers`` and ``_ready_for_configure``,
``mapperlib._CONFIGURE_MUTEX`` and ``_mapper_registries``,
``InstanceState.manager``), as read in SQLAlchemy 2.1 and tested against it
(``TESTED``). With another version the entry does nothing but refuse a reload
of a module that defined mapped classes or tables, naming the version.
"""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from ..._core.effects import Effect
from ..._core.state import ModuleRecord
from ..._core.state import state as _state
from ..recording import Interception, Recording, Refusal, current

__all__ = ["SQLAlchemyEntry"]

# The major.minor versions whose private structures this module was written against and is tested with.
TESTED = ((2, 1),)


def _supported() -> bool:
    version = str(getattr(sys.modules.get("sqlalchemy"), "__version__", "")).split(".")
    return tuple(int(part) for part in version[:2] if part.isdigit()) in TESTED


@dataclass(eq=False)
class TableDefined:
    metadata: Any
    table: Any
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, int, int]:
        return ("sqlalchemy.table", id(self.metadata), id(self.table))

    def retract(self) -> None:
        if self.applied and self.metadata.tables.get(self.table.key) is self.table:
            self.metadata.remove(self.table)
        self.applied = False

    def restore(self) -> None:
        if self.applied:
            return
        there = self.metadata.tables.get(self.table.key)
        if there is not self.table:
            if there is not None:
                self.metadata.remove(there)
            self.metadata._add_table(self.table.name, self.table.schema, self.table)
            _link_foreign_keys(self.metadata, self.table)
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"SQLAlchemy table {self.table.key!r}"


def _link_foreign_keys(metadata: Any, table: Any) -> None:
    """Link ``table``'s foreign keys to their targets, and the foreign keys that name it to its columns.

    What SQLAlchemy does when a table is first defined (``ForeignKey._set_table``,
    ``Column._setup_on_memoized_fks``), done again for a table put back.
    """
    exc = sys.modules["sqlalchemy.exc"]
    for fk in table.foreign_keys:
        if fk.target_column is not None:
            continue  # given as a Column object: linked for good
        parent, table_key, column_name = fk._resolve_col_tokens()
        memo = metadata._fk_memos[(table_key, column_name)]
        if not any(other is fk for other in memo):
            memo.append(fk)
        target = metadata.tables.get(table_key)
        if target is not None:
            try:
                fk._set_target_column(fk._link_to_col_by_colstring(parent, target, column_name))
            except exc.NoReferencedColumnError:
                pass  # as SQLAlchemy: resolved when the column appears
    for column in table.columns:
        column._setup_on_memoized_fks(lambda fk, column=column: fk._set_target_column(column))


@dataclass(eq=False)
class ClassMapped:
    registry: Any
    manager: Any
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, int]:
        return ("sqlalchemy.mapper", id(self.manager))

    @property
    def mapper(self) -> Any:
        return self.manager.__dict__.get("mapper")  # set by the Mapper on its class manager

    def retract(self) -> None:
        if not self.applied:
            return
        cls = self.manager.class_
        registry = self.registry
        lookup = registry._class_registry.get(cls.__name__)
        if lookup is cls or (lookup is not None and not isinstance(lookup, type)):
            registry._dispose_cls(cls)  # the string lookup (and its module tree) forgets the class
        registry._managers.pop(self.manager, None)
        mapper = self.mapper
        base = getattr(mapper, "inherits", None)
        if base is not None:
            inheriting = base._inheriting_mappers
            inheriting._storage[:] = [ref for ref in inheriting._storage if ref() is not mapper]
            identity = mapper.polymorphic_identity
            if identity is not None and mapper.polymorphic_map.get(identity) is mapper:
                del mapper.polymorphic_map[identity]
            base._expire_memoizations()
        self.applied = False

    def restore(self) -> None:
        if self.applied:
            return
        cls = self.manager.class_
        sys.modules["sqlalchemy.orm.clsregistry"]._add_class(cls.__name__, cls, self.registry._class_registry)
        self.registry._managers[self.manager] = True
        mapper = self.mapper
        base = getattr(mapper, "inherits", None)
        if base is not None:
            if not any(other is mapper for other in base._inheriting_mappers):
                base._inheriting_mappers.append(mapper)
            if mapper.polymorphic_identity is not None:
                mapper.polymorphic_map[mapper.polymorphic_identity] = mapper
            base._expire_memoizations()
        self.applied = True

    def discard(self) -> None:
        pass  # never dispose the class's instrumentation: the class is the continued identity

    def describe(self) -> str:
        return f"SQLAlchemy mapped class {getattr(self.manager.class_, '__qualname__', '?')!r}"


_add_table: Any = None


def add_table(self: Any, name: str, schema: str | None, table: Any) -> None:
    """``MetaData._add_table`` while a versioned module executes: the new table is recorded for that module."""
    _add_table(self, name, schema, table)
    recording = current.get()
    if recording is not None:
        recording.intercepted.append(TableDefined(self, table))


def _registries() -> list[Any]:
    mapperlib = sys.modules.get("sqlalchemy.orm.mapper")
    if mapperlib is None:
        return []
    return list(mapperlib._mapper_registries)


def _managers() -> dict[int, tuple[Any, Any]]:
    return {id(manager): (registry, manager) for registry in _registries() for manager in list(registry._managers)}


@dataclass(eq=False)
class _Started:
    managers: dict[int, tuple[Any, Any]]
    intercepting: bool
    locked: Any


class SQLAlchemyEntry:
    # Looked at whether or not SQLAlchemy is imported yet: a model module is often what imports it first
    # (``from sqlmodel import SQLModel`` does, without naming it).
    library = ""
    markers = (b"Mapped", b"mapped_column", b"Column(", b"Table(", b"relationship", b"declarative",
               b"db.Model", b"SQLModel", b"table=True", b"__tablename__")

    def __init__(self) -> None:
        self.interception: Interception | None = None
        self._lock = threading.Lock()
        # Every class manager recorded, to find the old ones of a continued class (``settled``).
        self._known: weakref.WeakSet[Any] = weakref.WeakSet()

    def start(self, recording: Recording) -> object:
        if "sqlalchemy" not in sys.modules:
            return _Started({}, False, None)  # the module imports it now: what it defines is found by comparison
        if not _supported():
            if recording.reloading and recording.previous is not None and _defines_mappings(recording):
                version = getattr(sys.modules["sqlalchemy"], "__version__", "?")
                raise Refusal(recording.record.name, RuntimeError(
                    f"SQLAlchemy {version} is not a version versioned_import can redefine tables and mapped "
                    f"classes in (tested: {', '.join(f'{a}.{b}' for a, b in TESTED)})"),
                    "restart the process to load this change")
            return None
        schema = sys.modules.get("sqlalchemy.sql.schema")
        intercepting = False
        if schema is not None:
            with self._lock:
                if self.interception is None:
                    global _add_table
                    _add_table = schema.MetaData._add_table
                    self.interception = Interception(schema.MetaData, "_add_table", add_table)
            self.interception.enter()
            intercepting = True
        locked = None
        mapperlib = sys.modules.get("sqlalchemy.orm.mapper")
        if recording.reloading and mapperlib is not None:
            # Other threads must not configure the mappers this code makes before the reload is decided.
            locked = mapperlib._CONFIGURE_MUTEX
            locked.acquire()
        return _Started(_managers(), intercepting, locked)

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        if not isinstance(started, _Started):
            return []
        try:
            if started.intercepting:
                assert self.interception is not None
                self.interception.exit()
            if "sqlalchemy" not in sys.modules or not _supported():
                return []
            found: list[Effect] = []
            mapped = [ClassMapped(registry, manager) for key, (registry, manager) in _managers().items()
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
        if "sqlalchemy.orm" not in sys.modules or not _supported():
            return set()
        targets = _Definitions([e for name in names for e in _effects_of(records.get(name))])
        if targets.empty():
            return set()
        found = set()
        for name, record in records.items():
            if name in names:
                continue
            others = _Definitions(_effects_of(record))
            if not others.empty() and (others.refers_to(targets) or targets.refers_to(others)):
                found.add(name)
        return found

    def staged(self, recordings: list[Recording]) -> None:
        orm = sys.modules.get("sqlalchemy.orm")
        if orm is None or not _supported():
            return
        new: list[tuple[Recording, ClassMapped]] = [
            (recording, effect) for recording in recordings if recording.reloading
            for effect in recording.generation.effects.effects if isinstance(effect, ClassMapped)]
        retracted = [effect for recording in recordings for effect in recording.retracted
                     if isinstance(effect, ClassMapped)]
        if not new and not retracted:
            return
        _refuse_foreign_references(recordings, new, retracted)
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

    def settled(self, records: list[ModuleRecord]) -> None:
        if "sqlalchemy.orm" not in sys.modules or not _supported():
            return
        stale: dict[int, tuple[Any, Any]] = {}  # id(old manager) -> (it, the class's published manager)
        for record in records:
            for effect in _effects_of(record):
                if not isinstance(effect, ClassMapped):
                    continue
                cls = effect.manager.class_
                if type.__dict__["__dict__"].__get__(cls).get("_sa_class_manager") is not effect.manager:
                    continue  # replaced rather than continued: old instances keep their class
                for manager in list(self._known):
                    if manager is not effect.manager and manager.class_ is cls:
                        stale[id(manager)] = (manager, effect.manager)
        if stale:
            _bring_instances(stale)


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


def _effects_of(record: ModuleRecord | None) -> list[Effect]:
    if record is None or record.current is None:
        return []
    return [e for e in record.current.effects.effects if isinstance(e, (ClassMapped, TableDefined))]


class _Definitions:
    """The mappers and tables of some modules, and what they refer to."""

    def __init__(self, effects: list[Effect]) -> None:
        self.mappers = [e.mapper for e in effects if isinstance(e, ClassMapped) and e.mapper is not None]
        self.tables = [e.table for e in effects if isinstance(e, TableDefined)]
        self.classes = [m.class_ for m in self.mappers]
        self.names = {cls.__name__ for cls in self.classes} | {f"{c.__module__}.{c.__name__}" for c in self.classes}
        self.table_keys = {(id(t.metadata), t.key) for t in self.tables}

    def empty(self) -> bool:
        return not self.mappers and not self.tables

    def refers_to(self, other: _Definitions) -> bool:
        """Whether a relationship or foreign key of these names one of ``other``'s mappers or tables."""
        other_mappers = {id(m) for m in other.mappers}
        other_classes = {id(c) for c in other.classes}
        other_tables = {id(t) for t in other.tables}
        for mapper in self.mappers:
            if getattr(mapper.inherits, "__class__", None) is not None and id(mapper.inherits) in other_mappers:
                return True
            for prop in list(mapper._props.values()):
                if _relationship_refers(prop, other_mappers, other_classes, other.names, other_tables):
                    return True
        for table in self.tables:
            for fk in list(table.foreign_keys):
                target = fk.target_column
                if target is not None:
                    if id(getattr(target, "table", None)) in other_tables:
                        return True
                    continue
                try:
                    _, table_key, _ = fk._resolve_col_tokens()
                except Exception:  # an FK not attached yet: it refers to nothing so far
                    continue
                if (id(table.metadata), table_key) in other.table_keys:
                    return True
        return False


def _relationship_refers(prop: Any, mappers: set[int], classes: set[int], names: set[str],
                         tables: set[int]) -> bool:
    if not hasattr(prop, "_reverse_property"):
        return False  # not a relationship
    entity = prop.__dict__.get("entity")
    if entity is not None and id(getattr(entity, "mapper", None)) in mappers:
        return True
    argument = prop.argument
    if callable(argument) and not isinstance(argument, type) and not hasattr(argument, "class_"):
        try:
            argument = argument()  # relationship(lambda: User)
        except Exception:  # a name the lambda cannot see yet: it refers to nothing so far
            argument = None
    if isinstance(argument, str):
        if argument in names or argument.rpartition(".")[2] in names:
            return True
    elif id(argument) in classes or id(getattr(argument, "class_", None)) in classes:
        return True
    secondary = getattr(prop, "secondary", None)
    return secondary is not None and id(secondary) in tables


def _refuse_foreign_references(recordings: list[Recording], new: list[tuple[Recording, ClassMapped]],
                               retracted: list[ClassMapped]) -> None:
    """Refuse when a mapper no module of this reload defines still refers to a mapper it takes out."""
    gone = {id(effect.mapper) for effect in retracted if effect.mapper is not None}
    if not gone:
        return
    ours = {id(effect.manager) for _, effect in new} | {id(effect.manager) for effect in retracted}
    for registry in _registries():
        for manager in list(registry._managers):
            mapper = manager.__dict__.get("mapper")
            if id(manager) in ours or mapper is None:
                continue
            for prop in list(mapper._props.values()):
                entity = prop.__dict__.get("entity") if hasattr(prop, "_reverse_property") else None
                if entity is not None and id(getattr(entity, "mapper", None)) in gone:
                    cls = manager.class_
                    raise Refusal(recordings[0].record.name, RuntimeError(
                        f"{cls.__module__}.{cls.__qualname__}.{prop.key} is a relationship to "
                        f"{entity.class_.__qualname__}, which this reload defines anew, and module "
                        f"{cls.__module__!r} is not a versioned module that could be re-executed with it"),
                        f"version {cls.__module__!r} too (install(roots=...)), or restart the process")


def _bring_instances(stale: dict[int, tuple[Any, Any]]) -> None:
    """Give every instance whose state still has an old class manager the class's published one.

    Only the states know their instances' manager, and nothing lists the
    states (detached instances are held by the application alone): one search
    of the heap for the referrers of the old managers finds them.
    """
    state_class = sys.modules["sqlalchemy.orm.state"].InstanceState
    for holder in gc.get_referrers(*(old for old, _ in stale.values())):
        if isinstance(holder, state_class):
            pair = stale.get(id(holder.manager))
            if pair is not None and pair[0] is holder.manager:
                _bring(holder, pair[0], pair[1])


def _bring(state: Any, old: Any, new: Any) -> None:
    state.manager = new
    for memoized in ("mapper", "attrs"):
        state.__dict__.pop(memoized, None)
    # The loader path and options it was loaded with name the old mappers: as loaded by a plain query now.
    if "load_path" in state.__dict__ or state.load_options:
        state.load_path = new.mapper._path_registry
        state.load_options = ()
    if state.obj() is None:
        return
    values = state.dict
    gone = set(old) - set(new)
    for key in gone:
        values.pop(key, None)
        state.committed_state.pop(key, None)
        state.expired_attributes.discard(key)
    if state.key is None or state.session_id is None:
        return  # pending or detached: nothing to load from
    for key in set(new) - set(old):
        impl = new[key].impl
        if key not in values and impl is not None and impl.accepts_scalar_loader:
            state.expired_attributes.add(key)  # loaded at the next access, as a fresh query would have
    for key in set(new) & set(old):
        impl = new[key].impl
        if impl is not None and impl.collection and key in values and key not in state.committed_state:
            del values[key]  # loaded again through the new relationship at the next access
