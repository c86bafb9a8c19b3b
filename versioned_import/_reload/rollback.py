"""Rollback (G9): republishing a previous generation, running no module code."""

from __future__ import annotations

import time
from typing import Any

from .. import _continuity
from .._core.publish import PublishFailed, commit
from .._core.state import State
from .._errors import ReloadError
from .._report import ReloadReport
from .locking import acquire, finish, release, still_versioned
from .lookup import resolve_records

__all__ = ['rollback']


def rollback(state: State, name: object) -> int:
    """Republish the previous generation of ``name`` under a new number, running no module code."""
    (record,) = resolve_records(state, [name], "rollback")
    acquire(state, "rollback", [record.name])
    started = time.perf_counter()
    try:
        still_versioned(state, [record], "rollback")
        with state.lock:
            if not record.history:
                raise ReloadError(f"rollback of {record.name!r} refused: generation {record.generation} is the "
                                  f"only one kept ({record.path}) — there is nothing to roll back to; reload a "
                                  "fixed file instead", module=record.name, path=record.path)
            previous = record.history.pop()
            current: Any = record.current  # still_versioned() checked it is not None
            number, previous_number = record.counter + 1, previous.number
            try:
                plans = _continuity.plan(state, [(record, current, previous)], republish=True)
                previous.number = number
                # The rolled-back generation is not pushed to history: rollback pops it.
                commit(state, [(record, previous)], plans, keep_history=False)
            except PublishFailed as failed:
                previous.number = previous_number
                record.history.append(previous)
                exc = failed.__cause__ or failed  # it names the module that failed: this one
                raise ReloadError(f"rollback of {record.name!r} refused: {type(exc).__name__}: {exc}; generation "
                                  f"{current.number} is still live — please report this with the traceback",
                                  module=record.name, path=record.path) from exc
            record.counter = number
            record.seen_stat = None
    except BaseException:
        release(state)
        raise
    finish(state, ReloadReport((record.name,), {record.name: previous.number}, time.perf_counter() - started,
                                tuple(plans.replaced), action="rollback"))
    return previous.number
