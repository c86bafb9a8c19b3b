"""Executing a reload's new generations privately, in the order a fresh import of the new sources runs them.

The new generations run in fresh namespaces that only the reloading thread
sees, through the ``Staging`` view (the mechanism of ``pinned()``). Which
module runs when is decided by the new sources, exactly as during a first
import, never by the graph the old sources left:

* the modules of the set are entered in first-import order, the order the
  program imported them in: each is a *root* unless the new code of an
  earlier one got to it first;
* a module runs the moment the new code first touches it: an ``import``
  statement (importlib reads the module's ``__spec__``), ``from m import x``,
  an attribute read. One touched while it runs is partially initialised,
  with a first import's semantics (a cycle is entered where the program
  entered it);
* a package runs before any of its submodules, as importlib imports the
  parent first: a submodule whose new code imports its own package therefore
  runs inside the package's new code, not the other way round;
* a package's namespace starts without the submodules of the set, and each
  is set on it when it has run, as importlib sets it, so ``from . import
  sub`` in the package runs ``sub`` right there;
* a module whose file is gone is looked for again, as an import would: one
  that became a package (or the reverse) runs from its new place; one not
  found anywhere is *gone*: touching it refuses the reload (the new code
  still imports it), and otherwise the publish unloads it.

``_transaction`` drives it: ``Transaction.load_sources``, then
``Transaction.stage`` in the staging view, then the publish.

Unless every dependent is asked for, a dependent joins the set only when
something its import-time code used changed (``_reload.rerun``). The
modules that run anyway (named, changed on disk, tied by registrations) are
*upfront*, and so is what a fresh import would run with them: their import
cycles, their packages, the modules their new code imports and the
importers of a module whose file is gone. They are entered as above; then
the remaining dependents are decided in execution order (dependencies
first), each against what the modules before it changed. One that new code
touches before its turn runs right there, as a first import would run it;
one decided against keeps its generation, which new code then sees.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from .._continuity import TRANSPLANT, ReferrerScope, fresh_code_objects
from .._core.edges import EdgeSink, importer
from .._core.finder import VersionedLoader
from .._core.frames import reload_machinery, run_module_code
from .._core.graph import DependencyGraph
from .._core.proxy import World, module_dict, namespace_of
from .._core.scope import RealPaths, in_scope
from .._core.source import Source, SourceChangedWhileReading, compile_source, read_source, still_on_disk
from .._core.state import Generation, ModuleRecord, StageHook, StageRefusal, State
from .._effects import lifecycle
from .._effects.recording import Recording
from .admission import Admission
from .failure import Blame, FailureRecord
from .locking import UNSTOPPABLE
from .rerun import unchanged_source

__all__ = ["Failure", "Staged", "Staging", "Transaction", "find_again", "NOT_THERE"]

_MODULE_ATTRIBUTES = ("__name__", "__file__", "__spec__", "__loader__", "__package__", "__path__", "__cached__")

# What reading a file that is not there raises: the module may have moved (``find_again``).
NOT_THERE = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def find_again(state: State, record: ModuleRecord) -> ModuleSpec | None:
    """Find ``record``'s module as an import would now (its file is gone): its spec at a new place, or None.

    A module that became a package, or a package that became a module, is
    found at its new place, with our loader if it is still in scope.
    """
    finder = state.finder
    parent = record.name.rpartition(".")[0]
    path = None
    if parent:
        package = state.records.get(parent)
        module = package.proxy if package is not None else sys.modules.get(parent)
        path = namespace_of(module).get("__path__") if isinstance(module, ModuleType) else None
        if path is None:
            return None
    spec: ModuleSpec | None = finder.find_spec(record.name, path) if finder is not None else None
    return spec


class Staging(World):
    """The reloading thread's view: staged namespaces for the set, published ones for the rest."""

    __slots__ = ("transaction",)

    def __init__(self, base: World, transaction: Transaction) -> None:
        super().__init__(dict(base.generations))
        self.transaction = transaction

    @reload_machinery
    def namespace(self, proxy: object) -> dict[str, Any] | None:
        staged = self.transaction.by_proxy.get(id(proxy))
        if staged is not None:
            if staged.state == "pending":
                self.transaction.execute(staged)  # like a first import: executed on first touch
            elif staged.state == "gone":
                self.transaction.still_imported(staged, importer.get())
            return staged.generation.namespace
        admission = self.transaction.admission
        record = admission.undecided.get(id(proxy)) if admission is not None else None
        if record is not None:
            return self.transaction.run_touched(record).generation.namespace
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


class Staged:
    """One module of the set: its new source and generation, and where its execution is."""

    __slots__ = ("record", "source", "generation", "sink", "state", "preset", "spec", "missing", "recording")

    def __init__(self, record: ModuleRecord, source: Source, generation: Generation, preset: dict[str, Any],
                 spec: ModuleSpec) -> None:
        self.record = record
        self.source = source
        self.generation = generation
        self.sink = EdgeSink(record.name)
        self.state = "pending"  # then "executing", then "done"; or "gone" from the start
        # Submodule attributes the import system set, not the package's code: no import edges.
        self.preset = preset
        self.spec = spec  # where it runs from: the record's, or its new place's (a module became a package)
        self.missing: OSError | None = None  # why its file could not be read, when it is gone
        self.recording: Recording | None = None  # what its execution registers in process-wide state (G17)


class Failure(Exception):
    """Carries the first failure out of nested executions."""


class Transaction:
    """The modules of one reload, executed privately: ``load_sources``, then ``stage`` in the staging view."""

    def __init__(self, state: State, records: list[ModuleRecord], sources: dict[str, Source] | None = None,
                 admission: Admission | None = None) -> None:
        self.state = state
        self.records = records  # in first-import order: the order roots are entered in
        # Unless every dependent runs: the dependents still to decide, and who decides (``_reload.admission``).
        self.admission = admission
        self.realpath = RealPaths()  # each directory resolved once per reload
        self.sources = sources or {}  # read (and found finished) by the caller: executed as they are
        self.hooked: list[StageHook] = []  # stage hooks that staged: told if the transaction does not publish
        self.by_proxy: dict[int, Staged] = {}
        self.executed: list[Staged] = []  # in the order they started, until ``stage`` orders them
        self.gone: list[Staged] = []  # modules whose file is gone, and found nowhere else: unloaded at publish
        self.first_imports: list[ModuleRecord] = []
        self.failure: FailureRecord | None = None
        self.scope: ReferrerScope | None = None

    def load_sources(self, records: list[ModuleRecord] | None = None) -> None:
        """Read and compile ``records`` (default: the set), and give each a fresh namespace."""
        members = {id(record.proxy) for record in self.records}
        for record in self.records if records is None else records:
            scope = getattr(record.spec.loader, "scope", None)
            if scope is not None and not in_scope(record.name, record.path, True, scope, self.realpath):
                # A symlink retargeted, or a root moved: never execute foreign code.
                self.fail(record, ImportError(f"{record.path} now resolves to {os.path.realpath(record.path)}, "
                                              "outside the versioned roots", name=record.name, path=record.path),
                          "point the file back inside the roots, or unload the module")
            spec = record.spec
            try:
                given = self.sources.get(record.name)
                # What the caller read, if the file still holds it: never older bytes than the disk has. Read
                # at another place (the module moved), it is found there again below, spec and all.
                source = given if given is not None and given.path == record.path and still_on_disk(given) \
                    else unchanged_source(record) or read_source(record.path)
            except SourceChangedWhileReading as exc:
                self.fail(record, exc, "wait for the write to finish and reload again")
            except NOT_THERE as exc:
                found = self.find_again(record)
                if found is None:
                    self.set_gone(record, exc)
                    continue
                spec = found
                source = self.read_moved(record, spec)
            except OSError as exc:
                self.fail(record, exc, "restore the file (or unload the module) and reload again")
            current = record.current
            try:
                if spec is record.spec and current is not None and current.source is not None \
                        and current.code is not None and current.source.digest == source.digest:
                    # Unchanged dependent: same bytes, no compile. Where held functions take the
                    # newest code in place, each generation has code objects of its own, so that an
                    # old generation's code, and with it its namespace, dies with its frames
                    # (see _transplant).
                    code = fresh_code_objects(current.code) if TRANSPLANT else current.code
                else:
                    code = compile_source(source, spec.cached)
            except Exception as exc:  # SyntaxError, ValueError (null bytes), MemoryError/RecursionError (nesting)
                self.fail(record, exc, "fix the file and reload again", source)
            namespace, preset = _fresh_namespace(record, spec, members)
            generation = Generation(0, namespace, source, code)
            self.by_proxy[id(record.proxy)] = Staged(record, source, generation, preset, spec)

    def admit(self, records: list[ModuleRecord]) -> None:
        """Add dependents decided to re-run to the set: read them, and let this thread view them staged."""
        if self.admission is not None:
            self.admission.taken(records)
        self.records.extend(records)
        self.load_sources(records)
        with self.state.lock:
            self.state.staging.update(id(record.proxy) for record in records)
            self.state.publishing.update(id(record.proxy) for record in records)
        self.state.refresh_views(records)

    @reload_machinery
    def run_touched(self, record: ModuleRecord) -> Staged:
        """Run an undecided dependent that new code touched, as a first import would: it joins the set."""
        self.admit([record])
        staged = self.by_proxy[id(record.proxy)]
        if staged.state == "pending":
            self.execute(staged)
        return staged

    def find_again(self, record: ModuleRecord) -> ModuleSpec | None:
        """Return ``record``'s module's new place (``find_again``), None if it is gone.

        A place outside the versioned scope (a namespace package, another
        loader's module) refuses the reload.
        """
        spec = find_again(self.state, record)
        if spec is None:
            return None
        if not isinstance(spec.loader, VersionedLoader):
            where = spec.origin or "a namespace package"
            self.fail(record, ModuleNotFoundError(f"{record.path} is gone, and {record.name} is now {where}, which "
                                                  "is not versioned", name=record.name, path=record.path),
                      "restore the file (or unload the module) and reload again")
        return spec

    def read_moved(self, record: ModuleRecord, spec: ModuleSpec) -> Source:
        try:
            return read_source(spec.origin)  # type: ignore[arg-type]  # a versioned spec has a file
        except SourceChangedWhileReading as exc:
            self.fail(record, exc, "wait for the write to finish and reload again")
        except OSError as exc:
            self.fail(record, exc, "restore the file (or unload the module) and reload again")
        raise AssertionError("unreachable: fail() raises")

    def set_gone(self, record: ModuleRecord, missing: OSError) -> None:
        """Stage ``record`` as gone: never executed; unloaded at publish unless something still imports it."""
        staged = Staged(record, None, Generation(0, {}, None), {}, record.spec)  # type: ignore[arg-type]  # never run
        staged.state, staged.missing = "gone", missing
        self.by_proxy[id(record.proxy)] = staged
        self.gone.append(staged)

    def _check_unused(self, staged: Staged) -> None:
        """Refuse unless a gone module is one the new sources stopped importing, and nothing else needs it.

        Unused means: the versioned modules that imported it all ran again in
        this reload, at least one of them is still there, and none imported it
        (touching it refuses at once). A module only unversioned code imported
        (``__main__``, a framework) may still be used by it: refused, as a
        module whose whole package is gone.
        """
        name = staged.record.name
        with self.state.lock:  # another thread may be importing a module for the first time
            importers, loaded = self.state.graph.importers(name), list(self.state.records)
        # Modules this reload does not run again imported it when they ran: they still need it. So does
        # a submodule of a gone package that this reload leaves loaded (unloading it goes with the package).
        outside = {importer for importer in importers if self.staged(importer) is None}
        outside |= {other for other in loaded if other.startswith(name + ".")
                    and getattr(self.staged(other), "state", None) != "gone"}
        if outside:
            self.still_imported(staged, EdgeSink(", ".join(sorted(outside))))
        if not any(getattr(self.staged(importer), "state", None) == "done" for importer in importers):
            self.fail(staged.record, staged.missing or FileNotFoundError(staged.record.path),
                      "restore the file (or unload the module) and reload again: no versioned module that imported "
                      "it is left to stop importing it, so the program may still use it")

    def still_imported(self, staged: Staged, by: EdgeSink | None) -> None:
        """Refuse the reload: new code (or a module not reloaded) still imports a module whose file is gone."""
        who = by.name if by is not None else "the reloading code"
        self.fail(staged.record, staged.missing or FileNotFoundError(staged.record.path),
                  f"{who} still imports it: restore the file, or stop importing it (a module that nothing "
                  "imports any more is unloaded by the reload)")

    def fail(self, record: ModuleRecord | Blame, exc: BaseException, remedy: str, source: Source | None = None) -> None:
        if self.failure is None:
            self.failure = (record, exc, remedy, source)
        raise Failure from exc

    def staged(self, name: str) -> Staged | None:
        """Return the module of this set named ``name``, or None."""
        record = self.state.records.get(name)
        return self.by_proxy.get(id(record.proxy)) if record is not None else None

    @reload_machinery
    def execute(self, staged: Staged) -> None:
        """Execute ``staged`` now, its package first if that has not started: a first touch, or the next root."""
        package = self.staged(staged.record.name.rpartition(".")[0])
        if package is not None and package.state == "pending":
            self.execute(package)
            if staged.state != "pending":
                return  # the package's new code imported it
        staged.state = "executing"
        self.executed.append(staged)
        try:
            # The previous generation's side effects that the new code must not find leave the process now.
            recording = staged.recording = lifecycle.begin(staged.record, staged.generation,
                                                           staged.record.current, True)
        except lifecycle.Declined as exc:
            self.fail(staged.record, exc, "restart the process to load this change")
        except lifecycle.Refusal as refusal:
            self.fail(staged.record, refusal.error, refusal.remedy)
        token = importer.set(staged.sink)
        try:
            run_module_code(staged.generation.code, staged.generation.namespace)  # type: ignore[arg-type]  # staged: compiled
        except Failure:
            raise
        except UNSTOPPABLE:
            raise
        except BaseException as exc:  # SystemExit and custom BaseExceptions too: module code must not stop us
            remedy = "restart the process to load this change" if isinstance(exc, lifecycle.Declined) \
                else "fix the error and reload again"
            self.fail(staged.record, exc, remedy, staged.source)
        finally:
            importer.reset(token)
            lifecycle.end(recording)
        staged.state = "done"
        if package is not None:
            # Set on its package as importlib sets a submodule it has loaded; once the package's own
            # code has finished, the attribute says nothing about what the package imports.
            child = staged.record.name.rpartition(".")[2]
            package.generation.namespace[child] = staged.record.proxy
            if package.state == "done":
                package.preset[child] = staged.record.proxy

    @reload_machinery
    def stage(self) -> None:
        """Execute every module of the set, as a fresh import would; then their ``__reload__`` hooks."""
        admission = self.admission
        watching = admission.decisions.watch() if admission is not None else None  # what import-time code calls
        try:
            for record in list(self.records):
                staged = self.by_proxy[id(record.proxy)]
                if staged.state == "pending":
                    self.execute(staged)
            if admission is not None:
                admission.visit(self)  # the dependents still to decide
        finally:
            if admission is not None:
                admission.decisions.watched(watching, [(s.record, s.generation) for s in self.executed
                                                       if s.state == "done"])
        if self.failure is not None:
            raise Failure  # module code caught it (or importlib swallowed it: a gone module's __spec__)
        for staged in self.gone:
            self._check_unused(staged)
        for staged in self.executed:
            if staged.state != "done":
                # An import of it failed inside another module that caught the error.
                raise Failure
            # A preset submodule the code names (``from . import sub``) is a real import.
            names = set(staged.generation.code.co_names)  # type: ignore[union-attr]  # staged: compiled
            preset = {key: value for key, value in staged.preset.items()
                      if key not in names and f"{staged.record.name}.{key}" not in names}
            staged.sink.scan(staged.generation.namespace, self.state, preset)
            staged.generation.imports = frozenset(staged.sink.names)
        self._order()
        for staged in self.executed:
            hook = staged.generation.namespace.get("__reload__")
            if callable(hook):
                try:
                    hook(_previous_view(staged.record))
                except UNSTOPPABLE:
                    raise
                except BaseException as exc:
                    self.fail(staged.record, exc, "the new source's __reload__(old) refused the reload; "
                              "fix it or the state it expects and reload again", staged.source)
        try:
            # Registries that finish lazily (SQLAlchemy's mappers) finish now: a broken one refuses the reload.
            lifecycle.staged([s.recording for s in self.executed if s.recording is not None])
        except lifecycle.Refusal as refusal:
            culprit = next((s for s in self.executed if s.record.name == refusal.module), self.executed[0])
            self.fail(culprit.record, refusal.error, refusal.remedy, culprit.source)
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
                self.fail(blame, refusal.__cause__ or refusal, refusal.remedy,
                          staged.source if staged is not None else None)
            except Exception as exc:
                self.fail(self.records[0], exc, f"the stage hook {hook!r} failed; please report this with the "
                          "traceback")
            self.hooked.append(hook)

    def _order(self) -> None:
        """Order the executed modules by the imports their new code made: dependencies first.

        A cycle keeps the order its members started in, which is where the
        fresh import entered it. This is the order the report gives, the hooks
        run in and the generations are published in.
        """
        graph = DependencyGraph()
        for staged in self.executed:
            graph.add_module(staged.record.name)  # ranked by when it started
        names = {staged.record.name for staged in self.executed}
        for staged in self.executed:
            for imported in staged.generation.imports:
                if imported in names:
                    graph.add_edge(staged.record.name, imported)
        position = {name: index for index, name in
                    enumerate(name for group in graph.execution_order(names) for name in group)}
        self.executed.sort(key=lambda staged: position[staged.record.name])


def _fresh_namespace(record: ModuleRecord, spec: ModuleSpec, members: set[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the namespace a first import would start with (G3), and the submodule attributes preset in it.

    ``spec`` is where the module runs from: the record's, whose attributes the
    published generation has, or its new place's, whose attributes are set as
    importlib sets them. ``members`` are the proxies of the set: a submodule
    among them is set on the package when it has run (``Transaction.execute``),
    as a first import sets it.
    """
    if spec is record.spec:
        published = namespace_of(record.proxy)
        namespace = {key: published[key] for key in _MODULE_ATTRIBUTES if key in published}
    else:
        namespace = {"__name__": record.name, "__package__": spec.parent, "__file__": spec.origin}
        if spec.submodule_search_locations is not None:
            namespace["__path__"] = spec.submodule_search_locations
        if spec.cached is not None:
            namespace["__cached__"] = spec.cached
    namespace["__spec__"] = spec
    namespace["__loader__"] = spec.loader
    preset: dict[str, Any] = {}
    if spec.submodule_search_locations is not None:
        # A package's loaded submodules are attributes set by the import
        # system, not by its source: keep them so `import pkg.sub` still works.
        prefix = record.name + "."
        for name, module in list(sys.modules.items()):
            if name.startswith(prefix) and "." not in name[len(prefix):] and module is not None \
                    and id(module) not in members:
                preset[name[len(prefix):]] = module
        namespace.update(preset)
    return namespace, preset


def _previous_view(record: ModuleRecord) -> ModuleType:
    """Return a module holding a copy of the published generation's namespace, for ``__reload__(old)``."""
    old = ModuleType(record.name)
    module_dict(old).update(namespace_of(record.proxy))
    return old
