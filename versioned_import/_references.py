"""Rewriting references: every reference to a new class (or Enum member) points at its identity.

One ``gc.get_referrers`` pass over the heap finds namespaces, registries,
closure cells (``super()``'s ``__class__``), object attributes and instances
created while the new generation executed; tuples cannot change, so a tuple
holding a new class is replaced by a mapped copy wherever it is held, found by
a second pass over its holders.
"""

from __future__ import annotations

import functools
import gc
import types
import warnings
from typing import Any

from ._classes import HEAPTYPE, set_operations
from ._operations import Plan, add_sequence, mapped, real_dict, replace_contents

__all__ = ["rewrite_references"]

FunctionType = types.FunctionType


def rewrite_references(result: Plan, mapping: dict[int, tuple[Any, Any]], triples: list, own: set[int]) -> None:
    """Point every reference to a continued new object at its identity.

    One ``gc.get_referrers`` pass finds namespaces, registries, closure cells
    (``super()``'s ``__class__``), attributes of objects and instances created
    while the new generation executed. Tuples cannot change, so a tuple that
    holds a new class (``ERRORS = (E1, E2)``) is itself replaced by a mapped
    copy wherever it is held, found by a second pass.
    """
    targets = tuple(new for new, _ in mapping.values())
    # Our own bookkeeping refers to the new objects too; it is never rewritten
    # (and its tuples must not trigger the second, tuple-holder scan).
    skip = {id(mapping), id(targets), *(id(entry) for entry in mapping.values()), *own}
    for _, _, new_generation in triples:
        if new_generation.continuity is not None:
            skip.add(id(new_generation.continuity.classes))
    class_dicts = set()
    for new, identity in mapping.values():
        if isinstance(new, type):
            class_dicts.add(id(real_dict(new)))
            class_dicts.add(id(real_dict(identity)))
    new_types = {id(new): identity for new, identity in mapping.values() if isinstance(new, type)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        holders = gc.get_referrers(*targets)
        tuples = [h for h in holders if type(h) is tuple and id(h) not in skip and not _class_internal(h)]
        if tuples:
            for held in tuples:
                mapping[id(held)] = (held, tuple(mapped(v, mapping) for v in held))
            holders += gc.get_referrers(*tuples)
    done: set[int] = set()
    for holder in holders:
        if id(holder) in skip or id(holder) in class_dicts or id(holder) in done:
            continue
        done.add(id(holder))
        kind = type(holder)
        if kind is dict:
            owner = _owning_type(holder)
            if owner is not None:
                for key, value in list(holder.items()):
                    target = mapped(value, mapping)
                    if target is not value:
                        add_sequence(result, set_operations(owner, key, target), set_operations(owner, key, value))
                continue
            replace_contents(result, holder, {mapped(k, mapping): mapped(v, mapping) for k, v in holder.items()})
        elif kind is list:
            before = list(holder)
            result.add((list.__setitem__, holder, slice(None), [mapped(v, mapping) for v in before]),
                       (list.__setitem__, holder, slice(None), before))
        elif kind is set:
            replace_contents(result, holder, {mapped(v, mapping) for v in holder})
        elif kind is types.CellType:
            try:
                value = holder.cell_contents
            except ValueError:
                continue
            result.add((setattr, holder, "cell_contents", mapped(value, mapping)),
                       (setattr, holder, "cell_contents", value))
        elif kind is staticmethod or kind is classmethod:
            # Re-initialising one is a C call, like every step of the publish.
            value = holder.__func__
            if mapped(value, mapping) is not value:
                result.add((kind.__init__, holder, mapped(value, mapping)), (kind.__init__, holder, value))
        elif kind is property:
            accessors = (holder.fget, holder.fset, holder.fdel)
            after = tuple(mapped(accessor, mapping) for accessor in accessors)
            if any(a is not b for a, b in zip(after, accessors)):
                result.add((property.__init__, holder, *after, holder.__doc__),
                           (property.__init__, holder, *accessors, holder.__doc__))
        elif kind is functools.partial:
            state = holder.__reduce__()[2]
            after = (mapped(state[0], mapping), tuple(mapped(v, mapping) for v in state[1]),
                     state[2] and {k: mapped(v, mapping) for k, v in state[2].items()}, state[3])
            result.add((functools.partial.__setstate__, holder, after), (functools.partial.__setstate__, holder, state))
        elif kind is FunctionType:
            for attribute in ("__defaults__",):
                value = getattr(holder, attribute)
                if value is not None and mapped(value, mapping) is not value:
                    result.add((setattr, holder, attribute, mapped(value, mapping)), (setattr, holder, attribute, value))
        elif kind.__flags__ & HEAPTYPE and not isinstance(holder, type):
            if id(kind) in new_types:
                result.add((object.__setattr__, holder, "__class__", new_types[id(kind)]),
                           (object.__setattr__, holder, "__class__", kind))
            # An object whose attributes live inline (3.11+) is its own referrer: rewrite its dict.
            try:
                attributes = object.__getattribute__(holder, "__dict__")
            except AttributeError:
                continue
            if type(attributes) is dict and id(attributes) not in done:
                done.add(id(attributes))
                after = {k: mapped(v, mapping) for k, v in attributes.items()}
                if any(after[k] is not v for k, v in attributes.items()):
                    replace_contents(result, attributes, after)


def _class_internal(candidate: tuple) -> bool:
    """Whether ``candidate`` is some class's ``__mro__`` or ``__bases__`` (changed by __bases__ assignment)."""
    for holder in candidate[:1]:
        if isinstance(holder, type) and holder.__mro__ is candidate:
            return True
    for value in candidate:
        if isinstance(value, type):
            for subclass in value.__subclasses__():
                if subclass.__bases__ is candidate:
                    return True
    return False


def _owning_type(candidate: dict) -> type | None:
    # A class's own dict must change through type.__setattr__, or the type's
    # attribute cache goes stale. Class dicts always carry __module__.
    if "__module__" not in candidate:
        return None
    for owner in gc.get_referrers(candidate):
        if isinstance(owner, type) and real_dict(owner) is candidate:
            return owner
    return None
