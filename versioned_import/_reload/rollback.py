"""Rollback (G9): undoing a reload, every module it published together, running no module code.

``rollback(name)`` undoes the last reload that published ``name``: each
module that reload published goes back to the generation it had before it,
under a new number, in one publish. A later reload that published one of
those modules again, or whose new generations import one of them, was built
on what goes away, so it is undone too; a rollback therefore always returns
to generations that ran together. Each module goes back to the generation it
had before the oldest reload undone.

The files on disk still hold the sources rolled back from. Their digests are
*held* on the records: ``changed()``, ``reload_changed()`` and the watcher do
not take those bytes again until a reload publishes the module (a new save is
a new change as usual).

``stage_rollback()`` is the first step alone, holding the transaction lock,
so that a rollback over a leader and its workers is decided once for all of
them (``_runtime.coordinate``), like a reload.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from .. import _continuity
from .._core.publish import PublishFailed, commit
from .._core.source import Source, read_source
from .._core.state import Generation, ModuleRecord, Published, State
from .._effects import lifecycle
from .._errors import ReloadError
from .._report import ReloadReport
from .locking import acquire, finish, release, still_versioned
from .lookup import resolve_records

__all__ = ["rollback", "stage_rollback", "StagedRollback", "held"]


def rollback(state: State, name: object) -> int:
    """Undo the last reload that published ``name``; return the new generation number of ``name``."""
    staged = stage_rollback(state, name)
    return staged.publish().generations[staged.name]


def stage_rollback(state: State, name: object) -> StagedRollback:
    """Decide what rolling ``name`` back publishes, holding the transaction lock; publish nothing yet.

    Exactly one of the result's ``publish()`` or ``abandon()`` must follow, on
    this thread. A rollback that cannot be done raises ``ReloadError`` here
    and holds nothing.
    """
    (record,) = resolve_records(state, [name], "rollback")
    acquire(state, "rollback", [record.name])
    started = time.perf_counter()
    try:
        still_versioned(state, [record], "rollback")
        with state.lock:
            undone, targets = _undo(state, record)
    except BaseException:
        release(state)
        raise
    return StagedRollback(state, record.name, undone, targets, started)


def _undo(state: State, record: ModuleRecord) -> tuple[list[Published], list[tuple[ModuleRecord, Generation]]]:
    """Return the reloads to undo (oldest first) and each module's generation to go back to, dependencies first."""
    log = state.published
    start = next((i for i in range(len(log) - 1, -1, -1) if any(r is record for r, _ in log[i].replaced)), None)
    if start is None:
        raise ReloadError(f"rollback of {record.name!r} refused: generation {record.generation} is the only one "
                          f"kept ({record.path}) — there is nothing to roll back to; reload a fixed file instead",
                          module=record.name, path=record.path)
    undone = [log[start]]
    names = log[start].names()
    for entry in log[start + 1:]:
        # Built on a module going back: published it again, or imported it when it executed.
        if entry.names() & names or entry.imports & names:
            undone.append(entry)
            names |= entry.names()
    targets: dict[int, tuple[ModuleRecord, Generation | None]] = {}
    for entry in reversed(undone):  # the oldest reload's replaced generation is the one to go back to
        for item, generation in entry.replaced:
            targets[id(item)] = (item, generation)
    lost = sorted(item.name for item, generation in targets.values() if generation is None)
    if lost:
        which = "its generation" if lost == [record.name] else \
            f"the generation{'s' * (len(lost) > 1)} of {', '.join(map(repr, lost))}"
        raise ReloadError(f"rollback of {record.name!r} refused: undoing the last reload that published it needs "
                          f"{which} from before that reload, no longer kept (rollback_depth="
                          f"{state.rollback_depth}): there is nothing to roll back to — install(rollback_depth=...) "
                          "keeps more; reload a fixed file instead", module=record.name, path=record.path)
    by_name = {item.name: (item, generation) for item, generation in targets.values() if generation is not None}
    tied = lifecycle.related(state.records, set(by_name))
    if tied:
        # Their registrations refer to those going back (an ORM relationship, a foreign key): the
        # rollback would leave them pointing at definitions it takes away (G17).
        raise ReloadError(f"rollback of {record.name!r} refused: the registrations of {', '.join(sorted(tied))} "
                          "(ORM relationships or foreign keys) are tied to those going back and would stay at "
                          f"their newer generation ({record.path}) — put the older sources back and reload "
                          "instead", module=record.name, path=record.path)
    # In the order a reload would execute them (dependencies first), as the report lists them.
    order = [name for group in state.graph.execution_order(by_name) for name in group]
    return undone, [by_name[name] for name in order]


class StagedRollback:
    """A rollback decided and not yet published: what goes back, holding the transaction lock.

    ``name`` is the module asked for; ``sources`` maps each module that goes
    back to the source of the generation it goes back to.
    """

    def __init__(self, state: State, name: str, undone: list[Published],
                 targets: list[tuple[ModuleRecord, Generation]], started: float) -> None:
        self._state = state
        self.name = name
        self._undone = undone
        self._targets = targets
        self._started = started
        self._open = True
        self.sources: dict[str, Source] = {r.name: g.source for r, g in targets if g.source is not None}

    def _close(self, what: str) -> None:
        if not self._open:
            raise RuntimeError(f"StagedRollback.{what}(): this rollback was already published or abandoned")
        if self._state.reloading_thread != threading.get_ident():
            raise RuntimeError(f"StagedRollback.{what}() must run on the thread that staged the rollback")
        self._open = False

    def abandon(self) -> None:
        """Publish nothing and release the transaction lock."""
        self._close("abandon")
        release(self._state)

    def publish(self) -> ReloadReport:
        """Republish every target generation in one step, under new numbers; ``ReloadError`` if that fails."""
        self._close("publish")
        state = self._state
        try:
            with state.lock:
                replaced, moves = self._commit(state)
            for record, current, generation, away in moves:
                # Side effects go back with the code (G17); what was rolled away from is dropped.
                lifecycle.rolled_back(record, current, generation)
                lifecycle.discard(record, away)
            lifecycle.settled([record for record, _, _, _ in moves])
            # Read after the lock: which files still hold what was rolled back from.
            records = [r for r, _ in self._targets]
            report = ReloadReport(tuple(r.name for r in records), {r.name: g.number for r, g in self._targets},
                                  time.perf_counter() - self._started, replaced, action="rollback",
                                  held=tuple(held(state, records)))
        except BaseException:
            release(state)
            raise
        finish(state, report)  # told before the lock is released (a fork meanwhile: see locking.finish)
        return report

    def _commit(self, state: State) -> tuple[tuple[Any, ...], list[tuple[ModuleRecord, Any, Generation, list[Any]]]]:
        """Publish the targets and update histories, holds and the log.

        Returns what could not be continued, and for each module what it went
        from, to, and the generations rolled away from.
        """
        triples: list[tuple[ModuleRecord, Any, Generation]] = [(r, r.current, g) for r, g in self._targets]
        plans = _continuity.plan(state, triples, republish=True)
        for record, current, _ in triples:
            lifecycle.displacing(record, current)  # before the functions become the older definitions
        numbers = {id(g): g.number for _, _, g in triples}
        for record, _, generation in triples:
            generation.number = record.counter + 1
        try:
            commit(state, [(r, g) for r, _, g in triples], plans, keep_history=False)
        except Exception as failed:
            for _, _, generation in triples:
                generation.number = numbers[id(generation)]
            named = failed.module if isinstance(failed, PublishFailed) else None
            record = next((r for r, _, _ in triples if r.name == named), triples[0][0])
            exc = failed.__cause__ or failed if isinstance(failed, PublishFailed) else failed
            raise ReloadError(f"rollback of {self.name!r} refused: {type(exc).__name__}: {exc}; nothing was rolled "
                              "back — please report this with the traceback", module=record.name,
                              path=record.path) from exc
        moves = []
        for record, current, generation in triples:
            # What is rolled away from (the published generation and those between) is dropped, not kept.
            away = [current]
            while record.history and record.history[-1] is not generation:
                away.append(record.history.pop())
            if record.history:
                record.history.pop()
            digests = {g.source.digest for g in away if g is not None and g.source is not None}
            if generation.source is not None:
                digests.discard(generation.source.digest)
            record.held |= digests
            record.counter = generation.number
            record.seen_stat = None  # the file no longer shows the running source: look at it again
            moves.append((record, current, generation, away))
        undone = {id(entry) for entry in self._undone}
        state.published = [entry for entry in state.published if id(entry) not in undone]
        state.prune_published()
        return tuple(plans.replaced), moves


def held(state: State, records: list[ModuleRecord] | None = None) -> list[str]:
    """Return the modules whose file holds a source a rollback moved them away from (the disk differs from what runs)."""
    if records is None:
        with state.lock:
            records = [r for r in state.records.values() if r.held and r.current is not None]
    names = []
    for record in records:
        if not record.held or not os.path.exists(record.path):
            continue
        try:
            source = read_source(record.path, probe=False)
        except OSError:
            continue  # unreadable or mid-write now: it is not known to hold what was rolled back from
        if source.digest in record.held:
            names.append(record.name)
    return names
