"""Change detection (G8): which modules' source bytes differ from what runs.

A file that holds a source a rollback moved its module away from (G9,
``ModuleRecord.held``) is not a change: the rollback stays until the file is
saved with other bytes, or the module is reloaded by name.
"""

from __future__ import annotations

import os

from .._core.finder import VersionedLoader
from .._core.frames import reload_machinery
from .._core.publish import register_linecache
from .._core.source import Source, SourceChangedWhileReading, read_source, stat_key
from .._core.state import ModuleRecord, State
from .._report import ReloadReport
from .staging import find_again
from .transaction import reload

__all__ = ['changed', 'changed_sources', 'reload_changed']


def changed(state: State) -> list[str]:
    """Return the versioned modules whose source bytes differ from their current generation (G8), held ones aside."""
    return list(changed_sources(state))


def changed_sources(state: State) -> dict[str, Source | None]:
    """Map each changed module, in first-import order, to its new source as read (None: gone or unreadable).

    A source still open for writing is there too, as read so far, with
    ``writing`` set: it differs, but is not finished (the watcher waits for it).

    A module whose file is gone but which is found at a new place (it became a
    package, or the reverse) maps to the source there: what a reload would run.
    """
    state.follow_sys_modules()
    with state.lock:
        records = [r for r in state.records.values() if r.current is not None]
    result: dict[str, Source | None] = {}
    stat = os.stat
    for record in records:
        try:
            key = stat_key(stat(record.path))
        except OSError:
            result[record.name] = _at_new_place(state, record)  # None: gone, and a reload will say so clearly
            continue
        if key == record.seen_stat and not record.seen_racy:
            continue
        try:
            source = read_source(record.path)
        except SourceChangedWhileReading as exc:
            if exc.source is None:
                result[record.name] = None
                continue
            source = exc.source  # caught mid-save: it differs, and is not finished (``writing``)
        except OSError:
            result[record.name] = None
            continue
        current = record.current.source  # type: ignore[union-attr]  # filtered above
        if (current is not None and source.digest == current.digest) or \
                (not source.writing and source.digest in record.held):
            if not source.writing:
                record.seen_stat, record.seen_racy = source.stat_key, source.racy
        else:
            register_linecache(record.current)  # the file no longer shows the running source
            result[record.name] = source
    return {name: result[name] for name in sorted(result, key=state.graph.rank)}


def _at_new_place(state: State, record: ModuleRecord) -> Source | None:
    spec = find_again(state, record)
    loader: object = spec.loader if spec is not None else None
    if spec is None or not isinstance(loader, VersionedLoader) or spec.origin is None:
        return None  # gone, or out of scope there: a reload says so
    try:
        return read_source(spec.origin)
    except OSError:
        return None


@reload_machinery
def reload_changed(state: State, dependents: bool | str = True) -> ReloadReport:
    """Reload every versioned module whose source changed; an empty report if none did."""
    names = changed(state)
    if not names:
        return ReloadReport()
    return reload(state, names, dependents=dependents)
