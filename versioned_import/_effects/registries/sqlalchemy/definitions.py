"""The SQLAlchemy definitions a generation made: its tables in a ``MetaData``, its classes in a declarative registry."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ...._core.effects import Effect
from ...._core.state import ModuleRecord
from ...recording import current

__all__ = ["TESTED", "ClassMapped", "Operation", "TableDefined", "add_table", "effects_of", "managers", "registries",
           "supported"]

Operation = tuple[Any, ...]  # (C function, *arguments): one step of the publish's atomic pass

# The major.minor versions whose private structures this module was written against and is tested with.
TESTED = ((2, 1),)


def supported() -> bool:
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
            link_foreign_keys(self.metadata, self.table)
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"SQLAlchemy table {self.table.key!r}"


def link_foreign_keys(metadata: Any, table: Any) -> None:
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


def registries() -> list[Any]:
    mapperlib = sys.modules.get("sqlalchemy.orm.mapper")
    if mapperlib is None:
        return []
    return list(mapperlib._mapper_registries)


def managers() -> dict[int, tuple[Any, Any]]:
    return {id(manager): (registry, manager) for registry in registries() for manager in list(registry._managers)}


def effects_of(record: ModuleRecord | None) -> list[Effect]:
    if record is None or record.current is None:
        return []
    return [e for e in record.current.effects.effects if isinstance(e, (ClassMapped, TableDefined))]
