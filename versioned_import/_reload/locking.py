"""How every transaction begins and ends: the transaction lock taken and released, then the report told."""

from __future__ import annotations

import threading

from .._core.edges import importer
from .._core.state import ModuleRecord, State
from .._errors import NotVersionedError, ReloadError
from .._report import ReloadReport

__all__ = ['guard_reentry', 'acquire', 'still_versioned', 'release', 'finish', 'notify', 'UNSTOPPABLE']


def guard_reentry(state: State, what: str, names: list[str]) -> None:
    holder = getattr(state, "reloading_thread", None)
    if holder == threading.get_ident():
        raise ReloadError(f"{what} of {', '.join(map(repr, names))} refused: it was requested by module code while "
                          "a reload is executing on this thread — request it after that reload has finished",
                          module=names[0] if names else None)


def acquire(state: State, what: str, names: list[str]) -> None:
    guard_reentry(state, what, names)
    if importer.get() is not None:
        # Module code running during an import: waiting here could deadlock
        # against a reload waiting for this import's module lock.
        if not state.reload_lock.acquire(blocking=False):
            raise ReloadError(f"{what} of {', '.join(map(repr, names))} refused: another reload is running and this "
                              "request comes from module code during an import — request it after the import",
                              module=names[0] if names else None)
    else:
        state.reload_lock.acquire()
    state.reloading_thread = threading.get_ident()


def still_versioned(state: State, records: list[ModuleRecord], action: str) -> None:
    """Refuse if a record is not its name's any more: unloaded while this call waited, or imported again."""
    state.follow_sys_modules()
    for record in records:
        if state.records.get(record.name) is record:
            continue
        if state.displaced.get(id(record.proxy)) is record:
            raise NotVersionedError(f"{action} of {record.name!r} refused: this module object is no longer the one "
                                    f"in sys.modules: {record.name!r} was imported again since — {action} "
                                    f"sys.modules[{record.name!r}], or put this module back there first",
                                    module=record.name, path=record.path)
        raise NotVersionedError(f"{action} of {record.name!r} refused: the module was unloaded while this "
                                "request waited — import it again first", module=record.name, path=record.path)


def release(state: State) -> None:
    state.reloading_thread = None
    state.reload_lock.release()


def finish(state: State, report: ReloadReport) -> None:
    """End a transaction that published or refused: tell ``report``, then release the lock.

    Told while the lock is still held, because a fork waits for this lock
    (``_runtime.fork``): a child forked while another thread called a
    subscriber or wrote the log line would inherit the locks that thread held
    (stderr's buffer, a handler's) and hang at its own first line. For module
    code the transaction is over: a subscriber may reload (on this thread; the
    lock is reentrant), but must not wait for another thread's reload.
    """
    state.reloading_thread = None
    try:
        notify(state, report)
    finally:
        release(state)


# Ctrl-C still stops the program (the reload is abandoned, nothing published).
UNSTOPPABLE = (KeyboardInterrupt,)


def notify(state: State, report: ReloadReport) -> None:
    # Framework caches first, so that subscribers and the next request see fresh ones; the one log line last,
    # so that writing it never delays what subscribers rebuild (the sinks are _runtime's, see State).
    for callback in (*state.before_subscribers, *state.subscribers, *state.after_subscribers):
        try:
            callback(report)
        except UNSTOPPABLE:
            raise
        except BaseException:  # a subscriber must never break a reload or the other subscribers
            import logging

            logging.getLogger("versioned_import").exception("on_reload callback %r raised", callback)
