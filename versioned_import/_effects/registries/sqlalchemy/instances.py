"""Instances loaded before a reload, moved to the class manager of the new definition of their class."""

from __future__ import annotations

import gc
import sys
from typing import Any

from .definitions import Operation

__all__ = ["Lent", "give_back", "instance_operations", "lend_operations"]

# An old class manager lent the new definition's mapper and attributes, with what it had: (it, mapper, attributes).
Lent = tuple[Any, Any, dict[str, Any]]


def lend_operations(stale: dict[int, tuple[Any, Any]], do: list[Operation], undo: list[Operation]) -> list[Lent]:
    """Add the operations that make each old class manager act as the new one until the instances are moved.

    An instance made with the old manager after the search for instances,
    by another thread, before the publish, still has it: from the publish
    until ``settled`` moves it too, the old manager answers with the new
    mapper and attributes (``state.manager.mapper``, ``state.manager[key]``),
    so a flush in between sees one definition. ``settled`` gives it back
    what it had (a rollback may publish it again).
    """
    lent: list[Lent] = []
    for old, new in stale.values():
        memo = old.__dict__
        lent.append((old, memo["mapper"], dict(old)))
        do.extend([(dict.__setitem__, memo, "mapper", new.mapper), (dict.clear, old), (dict.update, old, dict(new))])
        undo.extend([(dict.__setitem__, memo, "mapper", memo["mapper"]), (dict.update, old, dict(old)),
                     (dict.clear, old)])
    return lent


def give_back(lent: list[Lent]) -> None:
    """The old managers take their own mapper and attributes back."""
    for old, mapper, attributes in lent:
        old.__dict__["mapper"] = mapper
        dict.clear(old)
        dict.update(old, attributes)


def instance_operations(stale: dict[int, tuple[Any, Any]], do: list[Operation], undo: list[Operation]) -> None:
    """Add the operations that give every instance whose state has an old class manager the new one.

    Only the states know their instances' manager, and nothing lists them
    (detached instances are held by the application alone): one search of
    the heap for the referrers of the old managers finds them. Each operation
    is a C function with its undo, so the publish applies them in its one step.
    """
    state_class = sys.modules["sqlalchemy.orm.state"].InstanceState
    for state in gc.get_referrers(*(old for old, _ in stale.values())):
        pair = stale.get(id(state.manager)) if isinstance(state, state_class) else None
        if pair is None or pair[0] is not state.manager:
            continue
        old, new = pair
        memo = state.__dict__

        def change(target: Any, key: str, value: Any, present: bool) -> None:
            # ``target[key] = value`` (or removed when ``present`` is False), and back.
            do.append((dict.__setitem__, target, key, value) if present else (dict.pop, target, key, None))
            undo.append((dict.__setitem__, target, key, target[key]) if key in target else
                        (dict.pop, target, key, None))

        do.append((setattr, state, "manager", new))
        undo.append((setattr, state, "manager", old))
        for memoized in ("mapper", "attrs"):
            change(memo, memoized, None, False)
        if "load_path" in memo or state.load_options:
            # Loaded with paths and options naming the old mappers: as loaded by a plain query of the new one.
            change(memo, "load_path", new.mapper._path_registry, True)
            change(memo, "load_options", (), True)
        instance = state.obj()
        if instance is None:
            continue
        values = instance.__dict__
        for key in set(old) - set(new):
            change(values, key, None, False)
            change(state.committed_state, key, None, False)
        if state.key is None or state.session_id is None:
            continue  # pending or detached: nothing to load from
        for key in set(new) - set(old):
            impl = new[key].impl
            if key not in values and impl is not None and impl.accepts_scalar_loader:
                do.append((set.add, state.expired_attributes, key))  # loaded at the next access
                undo.append((set.discard, state.expired_attributes, key))
        for key in set(new) & set(old):
            impl = new[key].impl
            if impl is not None and impl.collection and key in values and key not in state.committed_state:
                change(values, key, None, False)  # loaded again through the new relationship at the next access
