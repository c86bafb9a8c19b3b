"""Rewriting references: every holder of a continued new class or Enum member points at its identity.

The search runs in rounds. Round one finds the holders of the new objects
(and their weak references); an immutable holder (a tuple, frozenset, union,
alias, bound method or weak reference) cannot change, so it gets a mapped
copy, and the next round finds *its* holders, until no immutable holder is
left. Then every mutable holder is planned by its kind's rewriter
(``_holders``). Searches go through a ``ReferrerScope``: objects created
during the reload, or the whole heap only when reference counts say an older
object holds something too.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .classes import set_operations
from .holders import bases_of, is_class, is_user_class, lookup, mro_of, rewrite_object
from .operations import Plan, add_sequence
from .referrers import ReferrerScope, cache_dicts

__all__ = ["Holders", "discover", "rewrite"]

Mapping = dict[int, tuple[Any, Any]]


@dataclass(eq=False)
class Holders:
    """What ``discover`` found: immutable holders to copy (by id) and mutable holders to rewrite, in order found.

    No container here pairs a holder with anything in a tuple: such a tuple
    would itself hold the holder, and be found by the next round.
    """

    copies: dict[int, Any] = field(default_factory=dict)
    copiers: dict[int, Callable[..., Any]] = field(default_factory=dict)
    rewrites: list[tuple[Any, Callable[..., Any] | None]] = field(default_factory=list)


def discover(scope: ReferrerScope, targets: list[Any], skip: set[int], known: Sequence[Any] = (),
             follow: Callable[[Any], bool] | None = None) -> Holders:
    """Find every holder of ``targets``, through immutable holders, weak references included.

    ``skip`` holds the ids of the caller's own bookkeeping, which refers to
    the targets too and is never rewritten; ``known``, objects that may hold
    them, known without a search (see ``ReferrerScope.search``). Targets whose reference counts
    the holders found without the whole heap do not explain wait until no
    round finds anything more: then the whole heap is searched once, for all
    of them together, and the old mutable holders it finds are remembered for
    the next reload (``KnownHolders``). A mutable holder for which
    ``follow`` is true is searched too: it may be replaced by an older object
    of its own (a module object made at import, see ``_continuity.plan``).
    """
    found = Holders()
    seen = set(skip)
    seen.update((id(found.copies), id(found.copiers), id(found.rewrites)))
    seen.update(cache_dicts())  # typing's memo dicts: keys that name a throwaway class are never looked up again
    frontier = list(targets)
    pending: list[Any] = []  # targets whose holders are not all found yet
    seen.add(id(pending))
    # Targets that hold other targets (an Enum member holds its class) are found by the search: a list of
    # ours holding them would be a reference no holder explains.
    wanted = set(map(id, targets))
    first: Sequence[Any] = [holder for holder in known if id(holder) not in wanted] + [targets, frontier] \
        if known else ()
    known = ()
    while frontier or pending:
        seen.add(id(frontier))
        whole = not frontier
        if whole:
            frontier, pending = pending, []
            seen.add(id(frontier))
            holders = scope.whole_heap(frontier)
        else:
            holders, unexplained = scope.search(frontier, first)
            first = ()
            pending.extend(unexplained)
            del unexplained
        seen.add(id(holders))
        for target in frontier:
            # Weak references (WeakSet, WeakValueDictionary, WeakKeyDictionary, ABC registries) are
            # invisible to gc.get_referrers; each is an immutable holder of its referent.
            references = weakref.getweakrefs(target)
            if references and is_class(target):
                references = [r for r in references if not _only_in_subclass_lists(r, target)]
            holders.extend(references)
            references = []
        subclass_lists = _subclass_lists(frontier, holders)
        following: list[Any] = []
        seen.add(id(following))
        for holder in holders:
            if id(holder) in seen:
                continue
            seen.add(id(holder))
            if id(holder) in subclass_lists:
                continue
            action, handler = lookup(holder)
            if action == "copy" and handler is not None:
                found.copies[id(holder)] = holder
                found.copiers[id(holder)] = handler
                following.append(holder)
            elif action == "rewrite":
                found.rewrites.append((holder, handler))
                if follow is not None and follow(holder):
                    following.append(holder)
                if whole and scope.known is not None and scope.is_old(holder):
                    scope.known.remember(holder)
        holder = target = None
        frontier = following
    return found


def _only_in_subclass_lists(reference: Any, cls: type) -> bool:
    """Whether ``reference`` is a new class's own weak reference that only its bases' subclass lists hold.

    CPython keeps those lists itself (the throwaway class leaves them when it
    dies): such a reference needs no copy, nor a search for its holders.
    """
    # The caller's list and loop variable, this frame's argument and getrefcount's: nothing but the bases holds it.
    return type(reference) is _REF and getattr(reference, "__callback__", None) is None and \
        sys.getrefcount(reference) <= len(bases_of(cls)) + 4


_REF: type = weakref.ref


def _subclass_lists(frontier: list[Any], holders: list[Any]) -> set[int]:
    """The ids of the dicts among ``holders`` that are a base's list of subclasses (id -> weak reference).

    CPython keeps them itself: a throwaway new class leaves them when it dies.
    """
    weak = {id(target): target for target in frontier if type(target) is weakref.ref}
    if not weak:
        return set()
    lists = set()
    for holder in holders:
        if type(holder) is dict:
            for target in weak.values():
                referent = target()
                if referent is not None and holder.get(id(referent)) is target:
                    lists.add(id(holder))
                    break
    return lists


def mapper(mapping: Mapping, found: Holders) -> Callable[[Any], Any]:
    """Return ``mapped(value)``: its identity, its mapped copy (all made here), or itself."""
    pending = dict(found.copies)

    def mapped(value: Any) -> Any:
        entry = mapping.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        if pending.get(id(value), _NONE) is not value:
            return value
        del pending[id(value)]
        copy = found.copiers[id(value)](value, mapped)  # copies its parts first: nested holders map inside out
        if copy is not value:
            mapping[id(value)] = (value, copy)
        return copy

    for holder in list(pending.values()):
        mapped(holder)
    # The ids of everything mapped to something else: a holder referring to none of them needs no rewrite.
    mapped.touched = mapping.keys()  # type: ignore[attr-defined]
    return mapped


_NONE = object()


def internal_tuples(classes: Iterable[type]) -> set[int]:
    """The ids of ``__mro__`` and ``__bases__`` tuples of ``classes``: changed only by class states."""
    ids = set()
    for cls in classes:
        ids.add(id(mro_of(cls)))
        ids.add(id(bases_of(cls)))
    return ids


def rewrite(result: Plan, found: Holders, mapped: Callable[[Any], Any], class_dicts: set[int],
            scope: ReferrerScope) -> None:
    """Plan every mutable holder in ``found`` to refer to identities and copies instead."""
    done: set[int] = set()
    for holder, rewriter in found.rewrites:
        if id(holder) in class_dicts or id(holder) in done or mapped(holder) is not holder:
            continue  # a new Enum member that an old one replaces is left as it is
        done.add(id(holder))
        if type(holder) is dict and "__module__" in holder:
            # A class's own dict must change through type.__setattr__, or the
            # type's attribute cache goes stale. Class dicts always carry __module__.
            owner = scope.class_of_dict(holder)
            if owner is not None:
                for key, value in list(holder.items()):
                    target = mapped(value)
                    if target is not value:
                        add_sequence(result, set_operations(owner, key, target), set_operations(owner, key, value))
                continue
        if rewriter is not None:
            rewriter(result, holder, mapped)
        if is_user_class(type(holder)):
            rewrite_object(result, holder, mapped, done)
    for holder in found.copies.values():
        # A NamedTuple of a continued class with unchanged contents keeps its identity: only its class changes.
        if mapped(holder) is holder and is_user_class(type(holder)) and mapped(type(holder)) is not type(holder):
            rewrite_object(result, holder, mapped, done)
