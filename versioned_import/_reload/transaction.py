"""The transaction: execute privately, hook, plan continuity, publish; or refuse and abandon.

A reload never touches a live namespace. New generations execute in fresh
dicts, seen only by the reloading thread through a staging ``World`` (the
same mechanism as ``pinned()``), in the order a fresh import of the new
sources runs them (``_staging``), and become visible in one C-level pass that
no other thread can interleave with (see ``_publish``). If anything fails
before that pass, the new dicts are simply dropped.

``stage()`` is the first step alone: it returns a ``StagedReload`` whose
``publish()`` or ``abandon()`` is the second, so that a coordinated reload can
stage in every worker process before any of them publishes (``_coordinate``).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterable, Iterator

from .. import _continuity
from .._continuity import ReferrerScope
from .._continuity.operations import nothing
from .._core.frames import reload_machinery
from .._core.proxy import view
from .._core.publish import PublishFailed, commit, register_linecache
from .._core.source import Source
from .._core.state import ModuleRecord, State
from .._effects import lifecycle
from .._report import ReloadReport
from .admission import Admission
from .failure import FailureRecord, refusal_error
from .locking import UNSTOPPABLE, acquire, finish, release, still_versioned
from .lookup import resolve_records
from .rerun import Dependents
from .staging import Failure, Staging, Transaction
from .unload import forget

__all__ = ["StagedReload", "reload", "stage"]


@reload_machinery
def reload(state: State, names: Iterable[object], dependents: bool | str = True,
           sources: dict[str, Source] | None = None) -> ReloadReport:
    """Reload ``names`` (and their dependents) all-or-nothing; see ``versioned_import.reload``.

    ``sources`` are sources the caller already read, by module name (the
    watcher's, found finished): executed as they are, not read again, as long
    as the file still holds them (else the file is read as usual).
    """
    return stage(state, names, dependents, sources).publish()


@reload_machinery
def stage(state: State, names: Iterable[object], dependents: bool | str = True,
          sources: dict[str, Source] | None = None) -> StagedReload:
    """Execute the new generations of ``names`` (and their dependents) privately; publish nothing yet.

    Returns a ``StagedReload`` holding the transaction lock: exactly one of its
    ``publish()`` or ``abandon()`` must follow, on this thread. A failure while
    staging raises ``ReloadError`` (subscribers hear of it) and holds nothing.
    """
    names = list(names)
    records = resolve_records(state, names, "reload")
    labels = [r.name for r in records]
    if not records:
        return StagedReload(state, None, 0.0)  # nothing to do: holds nothing, publishes an empty report
    acquire(state, "reload", labels)
    started = time.perf_counter()
    transaction: Transaction | None = None
    refusal: ReloadReport | None = None
    try:
        still_versioned(state, records, "reload")
        with state.lock:
            targets = {r.name for r in records}
            tied: set[str] = set()
            while True:
                # Modules whose registrations are tied to the targets' (an ORM relationship to a class
                # being redefined) are re-executed with them, whatever ``dependents`` says: the old
                # registration could not refer to the new one. With ``dependents``, theirs follow too.
                related = lifecycle.related(state.records, targets)
                tied |= related
                grown = targets | related
                if dependents:
                    grown |= state.graph.dependents(grown)
                if grown == targets:
                    break
                targets = grown
            if tied:  # both sides of a tie: a module another is tied to, and the other
                tied |= {name for name in targets if lifecycle.related(state.records, {name})}
            # Entered in the order the program first imported them; what runs inside what is the new
            # sources' to say (see _staging).
            members = [state.records[n] for n in sorted(targets, key=state.graph.rank) if n in state.records]
            groups = None
            if dependents is True and len(members) > len(records):
                # Only the dependents whose import-time code used what changed run (see _reload.rerun): visited
                # in execution order. Modules tied by registrations to another of the set always run.
                # (``dependents="all"``: every one, each re-executed.)
                groups = [[state.records[n] for n in group if n in state.records]
                          for group in state.graph.execution_order(targets)]
        admission = None
        if groups is not None:
            decisions = Dependents(state, labels, members, tied)
            undecided = [r for r in members if not decisions.upfront(r)]  # reads files: not under the lock
            admission = Admission(decisions, groups, undecided)
            later = {id(r) for r in undecided}
            members = [r for r in members if id(r) not in later]
        transaction = Transaction(state, members, sources, admission)
        try:
            # Objects created from here on are the only ones a search for holders of new classes
            # must see, unless reference counts say otherwise (see _referrers). The scope lasts
            # until the transaction ends (published, refused or abandoned: see _end_scope).
            transaction.scope = ReferrerScope().__enter__()
            state.paused_scope = transaction.scope
            _run_staged(state, transaction)
        except UNSTOPPABLE:
            _abandon(state, transaction)  # Ctrl-C: nothing published, nothing left half-imported
            raise
        except Failure:
            refusal = _refuse(state, transaction, started)
            raise refusal.error from transaction.failure[1]  # type: ignore[index, misc]  # a Failure always records one
    except BaseException:
        _end_scope(state, transaction)
        if refusal is not None:
            finish(state, refusal)
        else:
            release(state)
        raise
    return StagedReload(state, transaction, started)


class StagedReload:
    """New generations executed privately and not yet published: the first step of a two-step reload.

    ``sources`` maps each executed module to the ``Source`` it was executed
    from. ``publish()`` makes them current (returning the report) and
    ``abandon()`` drops them; either releases the transaction lock.
    """

    def __init__(self, state: State, transaction: Transaction | None, started: float) -> None:
        self._state = state
        self._transaction = transaction
        self._started = started
        self._open = True
        executed = transaction.executed if transaction is not None else ()
        self.sources: dict[str, Source] = {s.record.name: s.source for s in executed}

    def _close(self, what: str) -> None:
        if not self._open:
            raise RuntimeError(f"StagedReload.{what}(): this staged reload was already published or abandoned")
        if self._transaction is not None and self._state.reloading_thread != threading.get_ident():
            raise RuntimeError(f"StagedReload.{what}() must run on the thread that staged the reload")
        self._open = False

    def publish(self) -> ReloadReport:
        """Publish the staged generations in one step; ``ReloadError`` (nothing published) if that fails."""
        self._close("publish")
        state, transaction = self._state, self._transaction
        if transaction is None:
            return ReloadReport()
        report: ReloadReport | None = None
        try:
            try:
                report = _publish(state, transaction, self._started)
            except Exception as exc:
                # Nothing was published (apply_atomically undid what it had
                # applied); the error is ours or an unsupported class change.
                state.refresh_views([s.record for s in transaction.by_proxy.values()])
                transaction.failure = transaction.failure or _publish_failure(transaction, exc)
                raise Failure from transaction.failure[1]
        except UNSTOPPABLE:
            _abandon(state, transaction)
            raise
        except Failure:
            report = _refuse(state, transaction, self._started)
            raise report.error from transaction.failure[1]  # type: ignore[index, misc]  # a Failure always records one
        finally:
            _end_scope(state, transaction)
            if report is not None:
                if report.error is None:
                    # With the heap no longer frozen: objects held from before reach the new definitions (G17).
                    lifecycle.settled([s.record for s in transaction.executed])
                finish(state, report)  # told before the lock is released: see finish
            else:
                release(state)
        return report

    def abandon(self) -> None:
        """Drop the staged generations: nothing is published, nothing changes, no subscriber is called."""
        self._close("abandon")
        if self._transaction is None:
            return
        try:
            _abandon(self._state, self._transaction)
        finally:
            _end_scope(self._state, self._transaction)
            release(self._state)


def _end_scope(state: State, transaction: Transaction | None) -> None:
    """End the transaction's referrer scope (the collector runs again), once."""
    scope = transaction.scope if transaction is not None else None
    if scope is not None:
        transaction.scope = None  # type: ignore[union-attr]  # not None: it had a scope
        state.paused_scope = None
        scope.__exit__(None, None, None)
        state.heap_searches += scope.widenings


def _refuse(state: State, transaction: Transaction, started: float) -> ReloadReport:
    """Abandon a failed transaction; return the report to tell, whose error is the one to raise."""
    _abandon(state, transaction)
    return ReloadReport(elapsed=time.perf_counter() - started,
                        error=refusal_error(transaction.failure))  # type: ignore[arg-type]  # a Failure always records one


def _abandon(state: State, transaction: Transaction) -> None:
    """Clean up after a transaction that will not publish."""
    with state.lock:
        state.publishing.difference_update(transaction.by_proxy)
    # What the refused generations registered leaves the process; what they took out comes back (G17).
    lifecycle.abandon(s.recording for s in transaction.executed if s.recording is not None)
    for hook in transaction.hooked:
        hook.abandoned()
    for record in transaction.records:
        register_linecache(record.current)  # the files no longer show the running source
    for record in reversed(transaction.first_imports):
        # Modules the abandoned generations imported for the first time go too.
        if state.records.get(record.name) is record:
            forget(state, record)
    state.refresh_views([s.record for s in transaction.by_proxy.values()])


def _publish_failure(transaction: Transaction, exc: Exception) -> FailureRecord:
    """Say which module's publish failed (the first of the set when nobody knows) and why."""
    module: str | None = None
    cause: BaseException = exc
    if isinstance(exc, PublishFailed):
        module, cause = exc.module, exc.__cause__ or exc
    record = next((s.record for s in transaction.executed if s.record.name == module), transaction.records[0])
    return (record, cause, "the new definitions could not be published; the old ones are intact — please report "
            "this with the traceback", None)


@contextlib.contextmanager
def _publishing(record: ModuleRecord) -> Iterator[None]:
    """Name ``record`` in a failure of the steps that prepare its own publish."""
    try:
        yield
    except PublishFailed:
        raise
    except Exception as exc:
        raise PublishFailed(record.name) from exc


@reload_machinery
def _run_staged(state: State, transaction: Transaction) -> None:
    transaction.load_sources()
    admission = transaction.admission
    if admission is not None:
        admission.close(transaction)
    proxies = [s.record for s in transaction.by_proxy.values()]
    # New code that touches a dependent still to decide must reach the staging view, which runs it.
    undecided = list(admission.undecided.values()) if admission is not None else []
    staging = Staging(state.world, transaction)
    with state.lock:
        state.staging.update(transaction.by_proxy)
        state.staging.update(id(record.proxy) for record in undecided)
        state.publishing.update(transaction.by_proxy)
    state.refresh_views(proxies + undecided)
    try:
        # A copied context: the staging view never leaks into the caller's context.
        contextvars.copy_context().run(_stage_in_view, staging, transaction)
    finally:
        with state.lock:
            state.staging.difference_update(transaction.by_proxy)
            state.staging.difference_update(id(record.proxy) for record in undecided)
        # Views are switched back after publish (or now, on failure); those that kept their generation now.
        if transaction.failure is not None or \
                any(s.state not in ("done", "gone") for s in transaction.by_proxy.values()):
            state.refresh_views(proxies + undecided)
        elif undecided:
            state.refresh_views([record for record in undecided if id(record.proxy) not in transaction.by_proxy])


@reload_machinery
def _stage_in_view(staging: Staging, transaction: Transaction) -> None:
    view.set(staging)
    transaction.stage()


def _publish(state: State, transaction: Transaction, started: float) -> ReloadReport:
    """Make every staged generation current in one step."""
    staged = transaction.executed
    for item in staged:
        with _publishing(item.record):
            _adopt_lazily(state, item.record)
    for item in staged:
        # Captured when the dependents were decided, unless ``__reload__(old)`` may have changed the namespace since.
        if item.generation.continuity is None or "__reload__" in item.generation.namespace:
            with _publishing(item.record):
                item.generation.continuity = _continuity.capture(item.record.name, item.generation.namespace)
    plans = _continuity.plan(state, [(s.record, s.record.current, s.generation) for s in staged],
                             scope=transaction.scope)
    # Registries' part of the same pass (G17): instances of continued ORM classes move with their classes.
    scope = transaction.scope
    do, undo = lifecycle.publishing([s.recording for s in staged if s.recording is not None],
                                    scope.widen if scope is not None else nothing)
    plans.do.extend(do)
    plans.undo.extend(undo)
    for item in staged:
        # A module class its new code defined is continued like any class: the proxy keeps the identity.
        with _publishing(item.record):
            item.generation.module_class = _continuity.class_identity(state, item.generation.module_class)
    generations = {}
    displaced = [(s.record, s.record.current, [s.record.current, *s.record.history]) for s in staged]
    for record, old, _ in displaced:
        lifecycle.displacing(record, old)  # the cleanups run their own generation's code (G17)
    with state.lock:
        for item in staged:
            item.generation.number = item.record.counter + 1
            generations[item.record.name] = item.generation.number
        commit(state, [(s.record, s.generation) for s in staged], plans)
        for item in staged:
            item.record.counter = item.generation.number  # only once published: a refusal uses no number
            state.graph.replace_imports(item.record.name, item.generation.imports)
            if item.spec is not item.record.spec:
                state.move_record(item.record, item.spec)  # it runs from its new place now
            item.record.seen_stat, item.record.seen_racy = item.source.stat_key, item.source.racy
        # Planned and published: the functions may now stop forwarding (Lineages.settle).
        state.publishing.difference_update(transaction.by_proxy)
        state.refresh_views([s.record for s in staged])
        # Files gone that nothing imports any more: a fresh import of the new sources would not have them.
        for item in transaction.gone:
            if state.records.get(item.record.name) is item.record:
                forget(state, item.record)
    # Side effects follow (G17): the new generations' deferred registrations are applied, the old ones'
    # leave, and those of generations no rollback can reach any more are released.
    for (record, old, reachable), item in zip(displaced, staged):
        lifecycle.published(record, old, item.generation)
        lifecycle.discard(record, [g for g in reachable if g is not None])
    return ReloadReport(tuple(s.record.name for s in staged), generations, time.perf_counter() - started,
                        tuple(plans.replaced), unloaded=tuple(s.record.name for s in transaction.gone))


def _adopt_lazily(state: State, record: ModuleRecord) -> None:
    """Start the continuity lineages of a first import's generation, at its first reload."""
    current = record.current
    if current is not None and current.continuity is None:
        current.continuity = _continuity.capture(record.name, current.namespace)
        _continuity.adopt(state, record.name, current)
