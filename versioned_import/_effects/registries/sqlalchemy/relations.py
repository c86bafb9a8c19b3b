"""Which modules' mappers and tables are tied together by relationships, inheritance and foreign keys."""

from __future__ import annotations

from typing import Any

from ...._core.effects import Effect
from ...recording import Recording, Refusal
from .definitions import ClassMapped, TableDefined, registries

__all__ = ["Definitions", "refuse_foreign_references"]


class Definitions:
    """The mappers and tables of some modules, and what they refer to."""

    def __init__(self, effects: list[Effect]) -> None:
        self.mappers = [e.mapper for e in effects if isinstance(e, ClassMapped) and e.mapper is not None]
        self.tables = [e.table for e in effects if isinstance(e, TableDefined)]
        self.classes = [m.class_ for m in self.mappers]
        self.names = {cls.__name__ for cls in self.classes} | {f"{c.__module__}.{c.__name__}" for c in self.classes}
        self.table_keys = {(id(t.metadata), t.key) for t in self.tables}

    def empty(self) -> bool:
        return not self.mappers and not self.tables

    def refers_to(self, other: Definitions) -> bool:
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


def refuse_foreign_references(recordings: list[Recording], new: list[tuple[Recording, ClassMapped]],
                               retracted: list[ClassMapped]) -> None:
    """Refuse when a mapper no module of this reload defines still refers to a mapper it takes out."""
    gone = {id(effect.mapper) for effect in retracted if effect.mapper is not None}
    if not gone:
        return
    ours = {id(effect.manager) for _, effect in new} | {id(effect.manager) for effect in retracted}
    for registry in registries():
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
