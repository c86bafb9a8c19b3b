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

Old holders are known rather than searched for wherever possible. Weak
registries (``WeakSet``, ``WeakValueDictionary``, ``WeakKeyDictionary``, ABC
registries) name their container in the weak reference's callback. And an
old container that a whole-heap search once found holding a reload's new
objects — the route table or model registry of a module that is never
edited, which every reload of the modules registering into it fills again —
is remembered (``KnownHolders``) and searched first at later reloads, so that
only a holder never seen before costs a search of the whole heap.
"""

from __future__ import annotations

import functools
import gc
import sys
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .operations import real_dict

__all__ = ["ReferrerScope", "KnownHolders", "cache_dicts"]

_TYPE_BASES = type.__dict__["__bases__"].__get__

# CPython 3.12 freezes a few hundred objects of its own at start-up: only
# objects frozen beyond those are the application's.
_FROZEN_AT_START = gc.get_freeze_count()


class ReferrerScope:
    """The objects a reload searches for holders: those it created, known old holders, or the whole heap."""

    def __init__(self, known: KnownHolders | None = None) -> None:
        self.widened = False
        self.widenings = 0  # searches that had to see the whole heap (read by tests and benchmarks)
        self.known = known
        self._collecting = False
        self._active = False
        self._frozen = False  # whether this scope froze the heap (and must unfreeze it)
        self._cache_keys: dict[int, int] | None = None
        self._young: set[int] = set()  # ids of the holders the searches of objects created meanwhile found

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
        self._young = set()
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
        """Return every tracked object that refers to one of ``targets``, each once."""
        found, unexplained = self.search(targets)
        if unexplained:
            _extend_distinct(found, self.whole_heap(unexplained))
        return found

    def search(self, targets: Sequence[Any], known: Sequence[Any] = ()) -> tuple[list[Any], list[Any]]:
        """Return the holders of ``targets`` found without the whole heap, and the targets they do not explain.

        ``known`` are objects that may hold targets, known without a search
        (the new namespaces, class dicts, closure cells, and the caller's own
        lists): a target whose count they explain is not searched for at all
        (``gc.get_referrers`` costs the objects it visits times the targets).
        Each holder is listed once: a reference counted twice could hide one
        never found.
        """
        if not targets:
            return [], []
        if self.widened or not self._active:
            return _whole_heap(targets), []
        found: list[Any] = []
        tally = _Tally(targets, found)
        if known:
            wanted = tally.counts.keys()
            tally.take([holder for holder in known if not wanted.isdisjoint(map(id, gc.get_referents(holder)))])
        # Old containers known to have held a reload's objects (a registry), then the objects created
        # meanwhile: each only for the targets still unexplained. No list of ours but ``found`` may hold a
        # target while counts are compared, hence the lists emptied before each count.
        rest: Sequence[Any] = tally.unexplained(self._invisible) if known else targets
        if rest and self.known is not None and len(self.known):
            old = self.known.referring_to(rest)
            rest = []
            tally.take(old)
            rest = tally.unexplained(self._invisible)
        if rest:
            young = _referrers(rest)  # what is not frozen: see the module docstring
            rest = []
            self._young.update(map(id, young))
            tally.take(young)
            young = []
        tally.take(_named_weak_holders(targets))
        return found, tally.unexplained(self._invisible)

    def whole_heap(self, targets: Sequence[Any]) -> list[Any]:
        """Search the whole heap for the holders of ``targets`` (from now on, every search does)."""
        self.widen()
        return _whole_heap(targets)

    def is_old(self, holder: Any) -> bool:
        """Whether ``holder`` was found only by a whole-heap search: older than the reload, and not known yet."""
        return id(holder) not in self._young

    def _invisible(self, target: Any) -> int:
        """Count the references to ``target`` held where the collector cannot see them, known to be harmless."""
        kind = type(target)
        if kind is weakref.ref and target.__callback__ is None:
            # The canonical weak reference to a class is what its bases' subclass lists hold (never traversed by the collector).
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
        """Return the class whose own dict ``candidate`` is, or None (named by the dict itself, else searched)."""
        owner = _named_class(candidate)
        if owner is not None:
            return owner
        search = _whole_heap if self.widened or not self._active else _referrers
        for owner in search([candidate]):
            if issubclass(type(owner), type) and real_dict(owner) is candidate:
                cls: type = owner
                return cls
        return None


class _Tally:
    """How many references to each target the holders found so far explain; each holder counted once."""

    def __init__(self, targets: Sequence[Any], found: list[Any]) -> None:
        self.targets = targets
        self.found = found  # the caller's list of holders, which ``take`` extends
        self.counts = dict.fromkeys(map(id, targets), 0)
        self._holders: set[int] = set()

    def take(self, holders: list[Any]) -> None:
        """Count the references ``holders`` have to targets, and add the holders not counted yet to ``found``."""
        counts, seen = self.counts, self._holders
        for holder in holders:
            if id(holder) in seen:
                continue
            seen.add(id(holder))
            self.found.append(holder)
            for referent in gc.get_referents(holder):
                key = id(referent)
                if key in counts:
                    counts[key] += 1
        referent = holder = None

    def unexplained(self, invisible: Callable[[Any], int]) -> list[Any]:
        """Return the targets whose reference count the holders found do not explain."""
        counts, seen = self.counts, self._holders
        unexplained = []
        getrefcount = sys.getrefcount
        for target in self.targets:
            # getrefcount's own argument, the loop variable ``target``, and ``found`` if the target is a holder too.
            explained = counts[id(target)] + 2 + (id(target) in seen) + invisible(target)
            if getrefcount(target) > explained:
                unexplained.append(target)
        return unexplained


class KnownHolders:
    """Old containers a whole-heap search found holding new objects: searched first at every later reload.

    Held strongly (a dict or a list cannot be referenced weakly), and let go
    as soon as nothing else holds one (``prune``, at every reload and unload):
    a registry the application dropped lives at most until the next reload.
    """

    def __init__(self) -> None:
        self._held: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self._held)

    def remember(self, holder: Any) -> None:
        self._held[id(holder)] = holder

    def prune(self) -> None:
        """Let go of every holder nothing but this registry refers to."""
        getrefcount = sys.getrefcount
        for key in list(self._held):
            # The dict's reference, getrefcount's argument, and nothing else.
            if getrefcount(self._held[key]) <= 2:
                del self._held[key]

    def referring_to(self, targets: Sequence[Any]) -> list[Any]:
        """Return the known holders that refer to one of ``targets``."""
        wanted = set(map(id, targets))
        found = []
        for holder in self._held.values():
            if not wanted.isdisjoint(map(id, gc.get_referents(holder))):
                found.append(holder)
        return found


def _extend_distinct(found: list[Any], more: list[Any]) -> None:
    """Add the holders of ``more`` that ``found`` does not list yet."""
    if more:
        present = set(map(id, found))
        found.extend(holder for holder in more if id(holder) not in present)


def _named_class(candidate: dict[str, Any]) -> type | None:
    """The class a class dict names by its ``__module__`` and ``__qualname__``, if that is the class it belongs to."""
    module = sys.modules.get(candidate.get("__module__"))  # type: ignore[arg-type]
    qualname = candidate.get("__qualname__")
    if module is None or type(qualname) is not str:
        return None
    owner: Any = module
    for part in qualname.split("."):
        owner = _dict_get(owner, part)
        if owner is None:
            return None
    if issubclass(type(owner), type) and real_dict(owner) is candidate:
        cls: type = owner
        return cls
    return None


def _dict_get(owner: Any, name: str) -> Any:
    """``owner``'s own attribute ``name`` read from its dict, without running a descriptor or ``__getattr__``."""
    try:
        attributes = object.__getattribute__(owner, "__dict__")
    except AttributeError:
        return None
    return attributes.get(name) if isinstance(attributes, (dict, types.MappingProxyType)) else None


def _named_weak_holders(targets: Sequence[Any]) -> list[Any]:
    """The containers of weak registries holding any of ``targets`` (weak references), named by their callbacks.

    ``abc`` keeps a class's registrations and caches in sets of weak
    references whose callback is bound to a weak reference to the set itself;
    ``WeakSet``, ``WeakValueDictionary`` and ``WeakKeyDictionary`` give their
    callbacks a weak reference to themselves as a default argument, and keep
    the references in ``data``. Registering a new class with an old registry
    therefore needs no search of the heap.
    """
    holders: list[Any] = []
    for target in targets:
        if not isinstance(target, weakref.ref):
            continue
        callback: Any = target.__callback__
        if type(callback) is _BUILTIN:
            owner: Any = getattr(callback, "__self__", None)
            holder: Any = owner() if type(owner) is weakref.ref else None
            if type(holder) is set and target in holder:
                holders.append(holder)
        elif type(callback) is types.FunctionType:
            for default in callback.__defaults__ or ():
                owner = default() if type(default) is weakref.ref else None
                data = _dict_get(owner, "data") if owner is not None else None
                if type(data) in (dict, set) and any(item is target for item in gc.get_referents(data)):
                    holders.append(data)
    return holders


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
    # This module's namespace holds the marker.
    return [holder for holder in found
            if not (type(holder) is tuple and holder and holder[0] is _MARKER) and holder is not _NAMESPACE]


_NAMESPACE = globals()


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
