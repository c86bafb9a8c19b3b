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

import contextlib
import contextvars
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from .. import _continuity
from .._continuity import TRANSPLANT, ReferrerScope, fresh_code_objects
from .._core.edges import EdgeSink, importer
from .._core.frames import reload_machinery, run_module_code
from .._core.proxy import World, module_dict, namespace_of, view
from .._core.publish import PublishFailed, commit, register_linecache
from .._core.scope import in_scope
from .._core.source import Source, SourceChangedWhileReading, compile_source, read_source
from .._core.state import Generation, ModuleRecord, State
from .._errors import ReloadError, refusal_message
from .._report import ReloadReport
from .locking import UNSTOPPABLE, acquire, finish, release, still_versioned
from .lookup import resolve_records
from .unload import forget

__all__ = ["StagedReload", "reload", "stage"]

_MODULE_ATTRIBUTES = ("__name__", "__file__", "__spec__", "__loader__", "__package__", "__path__", "__cached__")


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
    __slots__ = ("record", "source", "generation", "sink", "state", "preset")

    def __init__(self, record: ModuleRecord, source: Source, generation: Generation, preset: dict[str, Any]) -> None:
        self.record = record
        self.source = source
        self.generation = generation
        self.sink = EdgeSink(record.name)
        self.state = "pending"
        self.preset = preset


class _Failure(Exception):
    """Carries the first failure out of nested executions."""


class _Transaction:
    def __init__(self, state: State, records: list[ModuleRecord]) -> None:
        self.state = state
        self.records = records
        self.by_proxy: dict[int, _Staged] = {}
        self.executed: list[_Staged] = []
        self.first_imports: list[ModuleRecord] = []
        self.failure: tuple[ModuleRecord, BaseException, str, Source | None] | None = None
        self.scope: ReferrerScope | None = None

    def load_sources(self) -> None:
        for record in self.records:
            scope = getattr(record.spec.loader, "scope", None)
            if scope is not None and not in_scope(record.name, record.path, True, scope):
                # A symlink retargeted, or a root moved: never execute foreign code.
                self._fail(record, ImportError(f"{record.path} now resolves to {os.path.realpath(record.path)}, "
                                               "outside the versioned roots", name=record.name, path=record.path),
                           "point the file back inside the roots, or unload the module")
            try:
                source = read_source(record.path)
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
            namespace, preset = _fresh_namespace(record)
            generation = Generation(0, namespace, source, code)
            self.by_proxy[id(record.proxy)] = _Staged(record, source, generation, preset)

    def _fail(self, record: ModuleRecord, exc: BaseException, remedy: str, source: Source | None = None) -> None:
        if self.failure is None:
            self.failure = (record, exc, remedy, source)
        raise _Failure from exc

    @reload_machinery
    def execute(self, staged: _Staged) -> None:
        staged.state = "executing"
        self.executed.append(staged)
        token = importer.set(staged.sink)
        try:
            run_module_code(staged.generation.code, staged.generation.namespace)  # type: ignore[arg-type]  # staged: compiled
        except _Failure:
            raise
        except UNSTOPPABLE:
            raise
        except BaseException as exc:  # SystemExit and custom BaseExceptions too: module code must not stop us
            self._fail(staged.record, exc, "fix the error and reload again", staged.source)
        finally:
            importer.reset(token)
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
                    hook(_previous_view(staged.record))
                except UNSTOPPABLE:
                    raise
                except BaseException as exc:
                    self._fail(staged.record, exc, "the new source's __reload__(old) refused the reload; "
                               "fix it or the state it expects and reload again", staged.source)


def _fresh_namespace(record: ModuleRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the namespace a first import would start with (G3), and the submodule attributes preset in it."""
    published = namespace_of(record.proxy)
    namespace = {key: published[key] for key in _MODULE_ATTRIBUTES if key in published}
    namespace["__spec__"] = record.spec
    namespace["__loader__"] = record.spec.loader
    preset: dict[str, Any] = {}
    if record.spec.submodule_search_locations is not None:
        # A package's loaded submodules are attributes set by the import
        # system, not by its source: keep them so `import pkg.sub` still works.
        prefix = record.name + "."
        for name, module in list(sys.modules.items()):
            if name.startswith(prefix) and "." not in name[len(prefix):] and module is not None:
                preset[name[len(prefix):]] = module
        namespace.update(preset)
    return namespace, preset


def _previous_view(record: ModuleRecord) -> ModuleType:
    """Return a module holding a copy of the published generation's namespace, for ``__reload__(old)``."""
    old = ModuleType(record.name)
    module_dict(old).update(namespace_of(record.proxy))
    return old


@reload_machinery
def reload(state: State, names: Iterable[object], dependents: bool = True) -> ReloadReport:
    """Reload ``names`` (and their dependents) all-or-nothing; see ``versioned_import.reload``."""
    return stage(state, names, dependents).publish()


@reload_machinery
def stage(state: State, names: Iterable[object], dependents: bool = True) -> StagedReload:
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
    refusal: ReloadReport | None = None
    try:
        still_versioned(state, records, "reload")
        with state.lock:
            targets = {r.name for r in records}
            if dependents:
                targets |= state.graph.dependents(targets)
            order = [n for group in state.graph.execution_order(targets) for n in group]
            members = [state.records[n] for n in order if n in state.records]
        transaction = _Transaction(state, members)
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
            refusal = _refuse(state, transaction, started)
            raise refusal.error from transaction.failure[1]  # type: ignore[index, misc]  # a _Failure always records one
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
                transaction.failure = transaction.failure or _publish_failure(transaction, exc)
                raise _Failure from transaction.failure[1]
        except UNSTOPPABLE:
            _abandon(state, transaction)
            raise
        except _Failure:
            report = _refuse(state, transaction, self._started)
            raise report.error from transaction.failure[1]  # type: ignore[index, misc]  # a _Failure always records one
        finally:
            _end_scope(state, transaction)
            if report is not None:
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


def _end_scope(state: State, transaction: _Transaction | None) -> None:
    """End the transaction's referrer scope (the collector runs again), once."""
    scope = transaction.scope if transaction is not None else None
    if scope is not None:
        transaction.scope = None  # type: ignore[union-attr]  # not None: it had a scope
        state.paused_scope = None
        scope.__exit__(None, None, None)
        state.heap_searches += scope.widenings


def _refuse(state: State, transaction: _Transaction, started: float) -> ReloadReport:
    """Abandon a failed transaction; return the report to tell, whose error is the one to raise."""
    _abandon(state, transaction)
    return ReloadReport(elapsed=time.perf_counter() - started, error=_refusal(transaction))


def _abandon(state: State, transaction: _Transaction) -> None:
    """Clean up after a transaction that will not publish."""
    with state.lock:
        state.publishing.difference_update(transaction.by_proxy)
    for record in transaction.records:
        register_linecache(record.current)  # the files no longer show the running source
    for record in reversed(transaction.first_imports):
        # Modules the abandoned generations imported for the first time go too.
        if state.records.get(record.name) is record:
            forget(state, record)
    state.refresh_views([s.record for s in transaction.by_proxy.values()])


def _publish_failure(transaction: _Transaction, exc: Exception) -> tuple[ModuleRecord, BaseException, str, None]:
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


def _refusal(transaction: _Transaction) -> ReloadError:
    record, exc, remedy, source = transaction.failure  # type: ignore[misc]  # a _Failure always records one
    text = None
    if source is not None:
        try:
            text = source.text()
        except (SyntaxError, UnicodeDecodeError, ValueError):
            text = None
    message = refusal_message("reload", record.name, record.path, exc, record.generation, remedy, text)
    error = ReloadError(message, module=record.name, path=record.path)
    error.__cause__ = exc
    return error


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
        with _publishing(item.record):
            _adopt_lazily(state, item.record)
    for item in staged:
        with _publishing(item.record):
            item.generation.continuity = _continuity.capture(item.record.name, item.generation.namespace)
    plans = _continuity.plan(state, [(s.record, s.record.current, s.generation) for s in staged],
                             scope=transaction.scope)
    for item in staged:
        # A module class its new code defined is continued like any class: the proxy keeps the identity.
        with _publishing(item.record):
            item.generation.module_class = _continuity.class_identity(state, item.generation.module_class)
    generations = {}
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
    return ReloadReport(tuple(s.record.name for s in staged), generations, time.perf_counter() - started,
                        tuple(plans.replaced))


def _adopt_lazily(state: State, record: ModuleRecord) -> None:
    """Start the continuity lineages of a first import's generation, at its first reload."""
    current = record.current
    if current is not None and current.continuity is None:
        current.continuity = _continuity.capture(record.name, current.namespace)
        _continuity.adopt(state, record.name, current)
