"""Finding what holds an object, at a cost bounded by what the reload created.

``gc.get_referrers`` visits every object the collector tracks: a search for
the holders of a new class costs time proportional to the whole heap. But an
object created during a reload can only be held by objects created during it,
or by older containers that the new code mutated (a registry in a module that
was not re-executed). A reload's ``ReferrerScope`` therefore freezes the heap
as it was when the reload began (``gc.freeze()``: the collector's lists are
moved aside in one step) and pauses automatic collections: every object the
collector tracks from then on — each one created, and each old container that
became tracked because a new object was put in it — is outside the frozen
part, and ``gc.get_referrers``, which never looks at frozen objects, searches
exactly those, in one C call.

One C call matters: a list of the young objects (``gc.get_objects(0)``) held
while Python code runs would hold references to objects other threads are
still building, and CPython's ``tuple(iterable)`` then fails in those threads
with "bad argument to internal function" (it resizes its result in place,
which needs the only reference).

A search is then checked against reference counts: when the holders found
(and the few holders the collector cannot see, listed in ``_invisible``) do
not explain an object's reference count, something older holds it too, and
only then is the heap unfrozen and searched whole for the objects left
unexplained. A wrong explanation can only ever cost a wider search, never a
missed holder: every reference counted is one actually found. An application
that froze objects itself (a pre-fork server) cannot have its frozen set told
apart from ours, so there the heap is not frozen again: a search covers what
the application did not freeze, and its frozen objects only when the counts
ask for the whole heap.
"""

from __future__ import annotations

import functools
import gc
import sys
import weakref
from collections.abc import Sequence
from typing import Any

from .operations import real_dict

__all__ = ["ReferrerScope", "cache_dicts"]

_TYPE_BASES = type.__dict__["__bases__"].__get__

# CPython 3.12 freezes a few hundred objects of its own at start-up: only
# objects frozen beyond those are the application's.
_FROZEN_AT_START = gc.get_freeze_count()


class ReferrerScope:
    """The objects a reload searches for holders: those it created, or the whole heap."""

    def __init__(self) -> None:
        self.widened = False
        self.widenings = 0  # searches that had to see the whole heap (read by tests and benchmarks)
        self._collecting = False
        self._active = False
        self._frozen = False  # whether this scope froze the heap (and must unfreeze it)
        self._cache_keys: dict[int, int] | None = None

    def __enter__(self) -> ReferrerScope:
        self._collecting = gc.isenabled()
        gc.disable()
        if gc.get_freeze_count() <= _FROZEN_AT_START:
            gc.freeze()
            self._frozen = True
        self._active = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._active = False
        self._cache_keys = None
        self._unfreeze()
        if self._collecting:
            gc.enable()

    def _unfreeze(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()

    def widen(self) -> None:
        """Let every later search see the whole heap."""
        if not self.widened:
            self.widened = True
            self.widenings += 1
        self._unfreeze()

    def holders(self, targets: Sequence[Any]) -> list[Any]:
        """Return every tracked object that refers to one of ``targets`` (duplicates possible)."""
        if not targets:
            return []
        if self.widened or not self._active:
            return _whole_heap(targets)
        found = _referrers(targets)  # what is not frozen: see the module docstring
        found += _abc_sets(targets)
        unexplained = self._unexplained(targets, found)
        if unexplained:
            self.widen()
            found += _whole_heap(unexplained)
        return found

    def _unexplained(self, targets: Sequence[Any], found: list[Any]) -> list[Any]:
        """Return the targets whose reference count the holders in ``found`` do not explain."""
        counts = dict.fromkeys(map(id, targets), 0)
        for holder in found:
            for referent in gc.get_referents(holder):
                key = id(referent)
                if key in counts:
                    counts[key] += 1
        referent = holder = None
        # Our own list refers to the targets that hold other targets.
        for key in counts.keys() & set(map(id, found)):
            counts[key] += 1
        unexplained = []
        getrefcount = sys.getrefcount
        for target in targets:
            # getrefcount's own argument and the loop variable ``target``.
            explained = counts[id(target)] + 2 + self._invisible(target)
            if getrefcount(target) > explained:
                unexplained.append(target)
        return unexplained

    def _invisible(self, target: Any) -> int:
        """Count the references to ``target`` held where the collector cannot see them, known to be harmless."""
        kind = type(target)
        if kind is weakref.ref and target.__callback__ is None:
            # The canonical weak reference to a class is what its bases'
            # subclass lists hold (never traversed by the collector).
            referent = target()
            if referent is not None and issubclass(type(referent), type):
                return len(_TYPE_BASES(referent))
            return 0
        if kind is tuple:
            if self._cache_keys is None:
                self._cache_keys = _cache_keys()
            return self._cache_keys.get(id(target), 0)
        return 0

    def class_of_dict(self, candidate: dict[str, Any]) -> type | None:
        """Return the class whose own dict ``candidate`` is, or None (searched like holders)."""
        search = _whole_heap if self.widened or not self._active else _referrers
        for owner in search([candidate]):
            if issubclass(type(owner), type) and real_dict(owner) is candidate:
                cls: type = owner
                return cls
        return None


def _abc_sets(targets: Sequence[Any]) -> list[Any]:
    """The sets of ABC registries and caches holding any of ``targets`` (weak references) — old, but named.

    ``abc`` keeps a class's registrations and caches in sets of weak
    references whose callback is bound to a weak reference to the set itself:
    registering a new class with an old ABC needs no search of the heap.
    """
    sets: list[Any] = []
    for target in targets:
        if type(target) is weakref.ref:
            callback: Any = target.__callback__
            owner: Any = getattr(callback, "__self__", None) if type(callback) is _BUILTIN else None
            holder: Any = owner() if type(owner) is weakref.ref else None
            if type(holder) is set and target in holder:
                sets.append(holder)
    return sets


_BUILTIN = type(len)


def _whole_heap(targets: Sequence[Any]) -> list[Any]:
    """Search every tracked object; objects the application froze (``gc.freeze()``) are searched too.

    Those stay frozen afterwards, with everything else alive at that moment:
    the collector cannot unfreeze only some objects (a documented cost).
    """
    if gc.get_freeze_count() <= _FROZEN_AT_START:
        return _referrers(targets)
    gc.unfreeze()
    try:
        return _referrers(targets)
    finally:
        gc.freeze()


class _Marker:
    """Marks the argument tuple of our own ``gc.get_referrers`` calls, which 3.13 reports among the referrers."""

    __slots__ = ()


_MARKER = _Marker()


def _referrers(targets: Sequence[Any]) -> list[Any]:
    found = gc.get_referrers(_MARKER, *targets)
    return [holder for holder in found if not (type(holder) is tuple and holder and holder[0] is _MARKER)]


def _typing_caches() -> list[Any]:
    """Return the ``functools.lru_cache`` wrappers ``typing`` memoises ``Optional[A]`` and friends in."""
    typing = sys.modules.get("typing")
    cleanups = getattr(typing, "_cleanups", None)
    if not isinstance(cleanups, list):
        return []
    return [wrapper for wrapper in (getattr(c, "__self__", None) for c in list(cleanups))
            if type(wrapper) is _LRU_WRAPPER]


_LRU_WRAPPER = type(functools.lru_cache(maxsize=None)(len))


def _cache_keys() -> dict[int, int]:
    """Map the ids of the keys of ``typing``'s caches to the references each cache entry holds to its key.

    An entry holds its key tuple twice: as the cache dict's key and in the
    entry's list link, which the collector does not track. Those caches are
    never rewritten (see ``cache_dicts``): a key naming a throwaway class is
    simply never looked up again, and the cache's size bound evicts it.
    """
    keys: dict[int, int] = {}
    for cache in cache_dicts().values():
        for key in cache:
            if type(key) is tuple:
                keys[id(key)] = 2
    return keys


def cache_dicts() -> dict[int, dict[Any, Any]]:
    """Return ``typing``'s cache dicts by id: no rewrite may touch them (their stored hashes would lie)."""
    return {id(referent): referent for wrapper in _typing_caches() for referent in gc.get_referents(wrapper)
            if type(referent) is dict}
