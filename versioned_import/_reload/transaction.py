"""The transaction: plan, execute privately, hook, continue, publish; rollback; unload.

A reload never touches a live namespace. New generations execute in fresh
dicts, seen only by the reloading thread through a staging ``World`` (the
same mechanism as ``pinned()``), and become visible in one C-level pass that
no other thread can interleave with (see ``_publish``). If anything fails
before that pass, the new dicts are simply dropped.

``stage()`` is the first step alone: it returns a ``StagedReload`` whose
``publish()`` or ``abandon()`` is the second, so that a coordinated reload can
stage in every worker process before any of them publishes (``_coordinate``).
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from .. import _continuity
from .._continuity import TRANSPLANT, ReferrerScope, fresh_code_objects
from .._core.edges import EdgeSink, importer
from .._core.frames import reload_machinery, run_module_code
from .._core.proxy import World, view
from .._core.publish import commit, register_linecache
from .._core.scope import in_scope
from .._core.source import Source, SourceChangedWhileReading, compile_source, read_source, still_on_disk
from .._core.state import Generation, ModuleRecord, StageHook, StageRefusal, State
from .._effects import lifecycle
from .._effects.recording import Recording
from .._errors import ReloadError
from .._report import ReloadReport
from .failure import Blame, Failure, refusal_error
from .fresh import fresh_namespace, previous_view
from .locking import UNSTOPPABLE, acquire, notify, release, still_versioned
from .lookup import resolve_records
from .unload import forget

__all__ = ["StagedReload", "reload", "stage"]



class Staging(World):
    """The reloading thread's view: staged namespaces for the set, published ones for the rest."""

    __slots__ = ("transaction",)

    def __init__(self, base: World, transaction: _Transaction) -> None:
        super().__init__(dict(base.generations))
        self.transaction = transaction

    @reload_machinery
    def namespace(self, proxy: object) -> dict[str, Any] | None:
        staged = self.transaction.by_proxy.get(id(proxy))
        if staged is not None:
            if staged.state == "pending":
                self.transaction.execute(staged)  # like a first import: executed on first touch
            return staged.generation.namespace
        return super().namespace(proxy)

    def executing(self, name: str) -> bool:
        """Whether the new generation of ``name`` is executing (partially initialised) right now."""
        record = self.transaction.state.records.get(name)
        staged = self.transaction.by_proxy.get(id(record.proxy)) if record is not None else None
        return staged is not None and staged.state == "executing"

    def generation(self, proxy: object) -> Any:
        staged = self.transaction.by_proxy.get(id(proxy))
        return staged.generation if staged is not None else super().generation(proxy)

    def set_module_class(self, proxy: object, cls: type) -> bool:
        staged = self.transaction.by_proxy.get(id(proxy))
        if staged is None:
            return False
        ModuleType("probe").__class__ = cls  # refused here, at the module's line, as it would be for real
        staged.generation.module_class = cls
        return True


class _Staged:
    __slots__ = ("record", "source", "generation", "sink", "state", "preset", "recording")

    def __init__(self, record: ModuleRecord, source: Source, generation: Generation, preset: dict[str, Any]) -> None:
        self.record = record
        self.source = source
        self.generation = generation
        self.sink = EdgeSink(record.name)
        self.state = "pending"
        self.preset = preset
        self.recording: Recording | None = None  # what its execution registers in process-wide state (G17)


class _Failure(Exception):
    """Carries the first failure out of nested executions."""


class _Transaction:
    def __init__(self, state: State, records: list[ModuleRecord], sources: dict[str, Source] | None = None) -> None:
        self.state = state
        self.records = records
        self.sources = sources or {}  # read (and found finished) by the caller: executed as they are
        self.by_proxy: dict[int, _Staged] = {}
        self.executed: list[_Staged] = []
        self.first_imports: list[ModuleRecord] = []
        self.failure: Failure | None = None
        self.scope: ReferrerScope | None = None
        self.hooked: list[StageHook] = []  # stage hooks that staged: told if the transaction does not publish

    def load_sources(self) -> None:
        for record in self.records:
            scope = getattr(record.spec.loader, "scope", None)
            if scope is not None and not in_scope(record.name, record.path, True, scope):
                # A symlink retargeted, or a root moved: never execute foreign code.
                self._fail(record, ImportError(f"{record.path} now resolves to {os.path.realpath(record.path)}, "
                                               "outside the versioned roots", name=record.name, path=record.path),
                           "point the file back inside the roots, or unload the module")
            try:
                given = self.sources.get(record.name)
                # What the caller read, if the file still holds it: never older bytes than the disk has.
                source = given if given is not None and still_on_disk(given) else read_source(record.path)
            except SourceChangedWhileReading as exc:
                self._fail(record, exc, "wait for the write to finish and reload again")
            except OSError as exc:
                self._fail(record, exc, "restore the file (or unload the module) and reload again")
            current = record.current
            try:
                if current is not None and current.source is not None and current.code is not None \
                        and current.source.digest == source.digest:
                    # Unchanged dependent: same bytes, no compile. Where held functions take the
                    # newest code in place, each generation has code objects of its own, so that an
                    # old generation's code, and with it its namespace, dies with its frames
                    # (see _transplant).
                    code = fresh_code_objects(current.code) if TRANSPLANT else current.code
                else:
                    code = compile_source(source, record.spec.cached)
            except Exception as exc:  # SyntaxError, ValueError (null bytes), MemoryError/RecursionError (nesting)
                self._fail(record, exc, "fix the file and reload again", source)
            namespace, preset = fresh_namespace(record)
            generation = Generation(0, namespace, source, code)
            self.by_proxy[id(record.proxy)] = _Staged(record, source, generation, preset)

    def _fail(self, record: ModuleRecord | Blame, exc: BaseException, remedy: str,
              source: Source | None = None) -> None:
        if self.failure is None:
            self.failure = (record, exc, remedy, source)
        raise _Failure from exc

    @reload_machinery
    def execute(self, staged: _Staged) -> None:
        staged.state = "executing"
        self.executed.append(staged)
        try:
            # The previous generation's side effects that the new code must not find leave the process now.
            recording = staged.recording = lifecycle.begin(staged.record, staged.generation,
                                                           staged.record.current, True)
        except lifecycle.Declined as exc:
            self._fail(staged.record, exc, "restart the process to load this change")
        except lifecycle.Refusal as refusal:
            self._fail(staged.record, refusal.error, refusal.remedy)
        token = importer.set(staged.sink)
        try:
            run_module_code(staged.generation.code, staged.generation.namespace)  # type: ignore[arg-type]  # staged: compiled
        except _Failure:
            raise
        except UNSTOPPABLE:
            raise
        except BaseException as exc:  # SystemExit and custom BaseExceptions too: module code must not stop us
            remedy = "restart the process to load this change" if isinstance(exc, lifecycle.Declined) \
                else "fix the error and reload again"
            self._fail(staged.record, exc, remedy, staged.source)
        finally:
            importer.reset(token)
            lifecycle.end(recording)
        staged.state = "done"

    @reload_machinery
    def stage(self) -> None:
        for record in self.records:
            staged = self.by_proxy[id(record.proxy)]
            if staged.state == "pending":
                self.execute(staged)
        for staged in self.executed:
            if staged.state != "done":
                # An import of it failed inside another module that caught the error.
                raise _Failure
            # A preset submodule the code names (``from . import sub``) is a real import.
            names = set(staged.generation.code.co_names)  # type: ignore[union-attr]  # staged: compiled
            preset = {key: value for key, value in staged.preset.items()
                      if key not in names and f"{staged.record.name}.{key}" not in names}
            staged.sink.scan(staged.generation.namespace, self.state, preset)
            staged.generation.imports = frozenset(staged.sink.names)
        for staged in self.executed:
            hook = staged.generation.namespace.get("__reload__")
            if callable(hook):
                try:
                    hook(previous_view(staged.record))
                except UNSTOPPABLE:
                    raise
                except BaseException as exc:
                    self._fail(staged.record, exc, "the new source's __reload__(old) refused the reload; "
                               "fix it or the state it expects and reload again", staged.source)
        try:
            # Registries that finish lazily (SQLAlchemy's mappers) finish now: a broken one refuses the reload.
            lifecycle.staged([s.recording for s in self.executed if s.recording is not None])
        except lifecycle.Refusal as refusal:
            culprit = next((s for s in self.executed if s.record.name == refusal.module), self.executed[0])
            self._fail(culprit.record, refusal.error, refusal.remedy, culprit.source)
        self.run_stage_hooks()

    @reload_machinery
    def run_stage_hooks(self) -> None:
        """Let the layers above take part (G15: app factories build the new app here); one raising refuses."""
        generations = dict(self.state.world.generations)
        generations.update((id(s.record.proxy), s.generation) for s in self.executed)
        for hook in list(self.state.stage_hooks):
            try:
                hook.stage(generations)
            except StageRefusal as refusal:
                record = self.state.records.get(refusal.module)
                staged = self.by_proxy.get(id(record.proxy)) if record is not None else None
                blame = Blame(refusal.module, refusal.path, record.generation if record is not None else 0)
                self._fail(blame, refusal.__cause__ or refusal, refusal.remedy,
                           staged.source if staged is not None else None)
            except Exception as exc:
                self._fail(self.records[0], exc, f"the stage hook {hook!r} failed; please report this with the "
                           "traceback")
            self.hooked.append(hook)


@reload_machinery
def reload(state: State, names: Iterable[object], dependents: bool = True,
           sources: dict[str, Source] | None = None) -> ReloadReport:
    """Reload ``names`` (and their dependents) all-or-nothing; see ``versioned_import.reload``.

    ``sources`` are sources the caller already read, by module name (the
    watcher's, found finished): executed as they are, not read again, as long
    as the file still holds them (else the file is read as usual).
    """
    return stage(state, names, dependents, sources).publish()


@reload_machinery
def stage(state: State, names: Iterable[object], dependents: bool = True,
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
    transaction: _Transaction | None = None
    try:
        still_versioned(state, records, "reload")
        with state.lock:
            targets = {r.name for r in records}
            while True:
                # Modules whose registrations are tied to the targets' (an ORM relationship to a class
                # being redefined) are re-executed with them, whatever ``dependents`` says: the old
                # registration could not refer to the new one. With ``dependents``, theirs follow too.
                grown = targets | lifecycle.related(state.records, targets)
                if dependents:
                    grown |= state.graph.dependents(grown)
                if grown == targets:
                    break
                targets = grown
            order = [n for group in state.graph.execution_order(targets) for n in group]
            members = [state.records[n] for n in order if n in state.records]
        transaction = _Transaction(state, members, sources)
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
        except _Failure:
            raise _refuse(state, transaction, started) from transaction.failure[1]  # type: ignore[index]  # a _Failure always records one
    except BaseException:
        _end_scope(state, transaction)
        release(state)
        raise
    return StagedReload(state, transaction, started)


class StagedReload:
    """New generations executed privately and not yet published: the first step of a two-step reload.

    ``sources`` maps each executed module to the ``Source`` it was executed
    from. ``publish()`` makes them current (returning the report) and
    ``abandon()`` drops them; either releases the transaction lock.
    """

    def __init__(self, state: State, transaction: _Transaction | None, started: float) -> None:
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
                transaction.failure = transaction.failure or (
                    transaction.records[0], exc, "the new definitions could not be published; the old ones "
                    "are intact — please report this with the traceback", None)
                raise _Failure from exc
        except UNSTOPPABLE:
            _abandon(state, transaction)
            raise
        except _Failure:
            raise _refuse(state, transaction, self._started) from transaction.failure[1]  # type: ignore[index]  # a _Failure always records one
        finally:
            _end_scope(state, transaction)
            if report is not None:
                # With the heap no longer frozen: objects held from before reach the new definitions (G17).
                lifecycle.settled([s.record for s in transaction.executed])
            release(state)
        assert report is not None  # _publish returned, or an exception left above
        notify(state, report)
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


def _end_scope(state: State, transaction: _Transaction | None) -> None:
    """End the transaction's referrer scope (the collector runs again), once."""
    scope = transaction.scope if transaction is not None else None
    if scope is not None:
        transaction.scope = None  # type: ignore[union-attr]  # not None: it had a scope
        state.paused_scope = None
        scope.__exit__(None, None, None)
        state.heap_searches += scope.widenings


def _refuse(state: State, transaction: _Transaction, started: float) -> ReloadError:
    """Abandon a failed transaction, tell the subscribers, and return the error to raise."""
    _abandon(state, transaction)
    error = refusal_error(transaction.failure)  # type: ignore[arg-type]  # a _Failure always records one
    notify(state, ReloadReport(elapsed=time.perf_counter() - started, error=error))
    return error


def _abandon(state: State, transaction: _Transaction) -> None:
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


@reload_machinery
def _run_staged(state: State, transaction: _Transaction) -> None:
    transaction.load_sources()
    proxies = [s.record for s in transaction.by_proxy.values()]
    staging = Staging(state.world, transaction)
    with state.lock:
        state.staging.update(transaction.by_proxy)
        state.publishing.update(transaction.by_proxy)
    state.refresh_views(proxies)
    try:
        # A copied context: the staging view never leaks into the caller's context.
        contextvars.copy_context().run(_stage_in_view, staging, transaction)
    finally:
        with state.lock:
            state.staging.difference_update(transaction.by_proxy)
        # Views are switched back after publish (or now, on failure).
        if transaction.failure is not None or any(s.state != "done" for s in transaction.by_proxy.values()):
            state.refresh_views(proxies)


@reload_machinery
def _stage_in_view(staging: Staging, transaction: _Transaction) -> None:
    view.set(staging)
    transaction.stage()


def _publish(state: State, transaction: _Transaction, started: float) -> ReloadReport:
    """Make every staged generation current in one step."""
    staged = transaction.executed
    for item in staged:
        _adopt_lazily(state, item.record)
    for item in staged:
        item.generation.continuity = _continuity.capture(item.record.name, item.generation.namespace)
    plans = _continuity.plan(state, [(s.record, s.record.current, s.generation) for s in staged],
                             scope=transaction.scope)
    # Registries' part of the same pass (G17): instances of continued ORM classes move with their classes.
    scope = transaction.scope
    do, undo = lifecycle.publishing([s.recording for s in staged if s.recording is not None],
                                    scope.widen if scope is not None else _nothing)
    plans.do.extend(do)
    plans.undo.extend(undo)
    for item in staged:
        # A module class its new code defined is continued like any class: the proxy keeps the identity.
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
            item.record.seen_stat, item.record.seen_racy = item.source.stat_key, item.source.racy
        # Planned and published: the functions may now stop forwarding (Lineages.settle).
        state.publishing.difference_update(transaction.by_proxy)
        state.refresh_views([s.record for s in staged])
    # Side effects follow (G17): the new generations' deferred registrations are applied, the old ones'
    # leave, and those of generations no rollback can reach any more are released.
    for (record, old, reachable), item in zip(displaced, staged):
        lifecycle.published(record, old, item.generation)
        lifecycle.discard(record, [g for g in reachable if g is not None])
    return ReloadReport(tuple(s.record.name for s in staged), generations, time.perf_counter() - started,
                        tuple(plans.replaced))


def _nothing() -> None:
    pass


def _adopt_lazily(state: State, record: ModuleRecord) -> None:
    """Start the continuity lineages of a first import's generation, at its first reload."""
    current = record.current
    if current is not None and current.continuity is None:
        current.continuity = _continuity.capture(record.name, current.namespace)
        _continuity.adopt(state, record.name, current)
