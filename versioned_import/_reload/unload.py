"""Unload: forgetting a module and its submodules entirely."""

from __future__ import annotations

import linecache
import sys
from types import ModuleType

from .. import _continuity
from .._core.finder import VersionedLoader
from .._core.proxy import own_class, set_view_class
from .._core.state import ModuleRecord, State
from .._effects import lifecycle
from .locking import acquire, release, still_versioned
from .lookup import resolve_records

__all__ = ['unload', 'forget']


def unload(state: State, name: object) -> None:
    """Forget a versioned module and its submodules entirely."""
    (record,) = resolve_records(state, [name], "unload")
    acquire(state, "unload", [record.name])
    try:
        still_versioned(state, [record], "unload")
        forget(state, record)
    finally:
        release(state)


def forget(state: State, record: ModuleRecord) -> None:
    """Remove ``record`` and its submodules from sys.modules, their parents and the library."""
    with state.lock:
        state.forget_displaced(record.name)  # set aside by a re-import: put back later, it is not versioned either
        prefix = record.name + "."
        doomed = [r for n, r in state.records.items() if n == record.name or n.startswith(prefix)]
        for item in doomed:
            if sys.modules.get(item.name) is item.proxy:
                del sys.modules[item.name]
            parent_name, _, child = item.name.rpartition(".")
            parent = sys.modules.get(parent_name) if parent_name else None
            if parent is not None and getattr(parent, child, None) is item.proxy:
                delattr(parent, child)
            _continuity.forget(state, item.name)
            state.remove_record(item)
            cached = linecache.cache.get(item.path)
            if cached is not None and len(cached) > 1 and cached[1] is None:  # a lazy entry is a 1-tuple
                del linecache.cache[item.path]
            lifecycle.unloaded(item)  # its side effects leave the process (G17)
            item.history.clear()
            if state.needs_view(item):
                state.detached.append(item)  # a pinned reader still views an older generation of it
            else:
                own = item.current.module_class if item.current is not None else ModuleType
                operation = set_view_class(item.proxy, False, own_class(item.proxy, own))
                if operation is not None:
                    operation[0](*operation[1:])
        for n in list(sys.modules):
            if n.startswith(prefix) and n not in state.records:
                module = sys.modules.get(n)
                if module is not None and getattr(module, "__spec__", None) is not None and \
                        isinstance(module.__spec__.loader, VersionedLoader):  # type: ignore[union-attr]
                    del sys.modules[n]
