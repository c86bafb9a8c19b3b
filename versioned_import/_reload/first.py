"""A first import: generation 1 prepared by our loader, executed by importlib, ended by the spec."""

from __future__ import annotations

from types import CodeType, ModuleType
from typing import Any

from .._core.edges import EdgeSink, importer
from .._core.finder import VersionedLoader
from .._core.frames import run_module_code
from .._core.proxy import adopt_namespace, module_dict, own_class, set_view_class, view
from .._core.source import compile_source, load_cached, read_source
from .._core.state import Generation, ModuleRecord, State
from .._effects import lifecycle
from .staging import Staging
from .transaction import reload

__all__ = ['FirstImport', 'prepare_first']


class FirstImport:
    """A first import from its preparation (our loader's ``get_code``) to its end.

    importlib executes the code itself (``SourceFileLoader.exec_module``), so
    no frame of ours sits between the ``import`` statement and the module's
    code (G16); ``_load_unlocked`` ends every import by setting
    ``spec._initializing = False``, which ``VersionedSpec`` turns into
    ``finish``, whether the code ran to the end or raised.
    """

    __slots__ = ("state", "record", "generation", "sink", "token", "recording")

    def __init__(self, state: State, record: ModuleRecord, generation: Generation, sink: EdgeSink) -> None:
        self.state = state
        self.record = record
        self.generation = generation
        self.sink = sink
        self.token = importer.set(sink)
        self.recording = lifecycle.begin(record, generation, None, False)

    def finish(self, executed: bool) -> None:
        state, record, generation, sink = self.state, self.record, self.generation, self.sink
        lifecycle.end(self.recording)
        importer.reset(self.token)
        if not executed:
            state.remove_record(record)
            return
        module, namespace, source = record.proxy, generation.namespace, generation.source
        assert source is not None  # a first import always has its source
        sink.scan(namespace, state)
        generation.imports = frozenset(sink.names)
        # Continuity bookkeeping for generation 1 waits for the first reload
        # (``_adopt_lazily``): most modules are never reloaded, and imports stay fast.
        with state.lock:
            state.graph.replace_imports(record.name, sink.names)
            record.current = generation
            record.counter = 1
            record.seen_stat, record.seen_racy = source.stat_key, source.racy
            # A module new to the world is added in place: a reader pinned now would see
            # this generation anyway, and a later publish copies the world as usual.
            state.world.generations[id(module)] = generation
            adopt_namespace(module, namespace)
            generation.module_class = own_class(module, ModuleType)  # what its code set, if anything (G16)
            operation = set_view_class(module, False, generation.module_class)
            if operation is not None:
                operation[0](*operation[1:])


_NOTHING_TO_RUN = compile("", "<versioned_import: routed to a reload>", "exec", dont_inherit=True)


def prepare_first(state: State, loader: VersionedLoader, module: ModuleType) -> CodeType:
    """Prepare generation 1 of ``module``; return the code importlib then executes in its dict."""
    spec: Any = module.__spec__  # found by our finder: a spec with an origin, never None
    name = spec.name
    state.follow_sys_modules()  # importlib.reload of a module put back after a re-import: its own record
    existing = state.records.get(name)
    if existing is not None and existing.proxy is module and existing.current is not None:
        # importlib.reload(proxy) calls exec_module on the live proxy: route it to a transaction.
        reload(state, [name])
        return _NOTHING_TO_RUN
    # The cache carries the source when the file cannot have changed since (G8's pre-check): no second read.
    loaded = load_cached(spec.origin, spec.cached)
    if loaded is not None:
        source, code = loaded
    else:
        source = read_source(spec.origin, probe=False)  # as CPython: a first import does not wait for writers
        code = compile_source(source, spec.cached)
    sink = EdgeSink(name)
    outer = importer.get()
    if outer is not None:
        outer.record(name)
    record = ModuleRecord(name, module, spec, spec.origin)
    staging = view.get()
    if isinstance(staging, Staging):
        staging.transaction.first_imports.append(record)
    generation = Generation(1, module_dict(module), source, code)
    state.add_record(record)
    first = FirstImport(state, record, generation, sink)
    if spec.__dict__.get("_versioned_initializing"):
        spec.__dict__["_versioned_first_import"] = first  # importlib executes it and ends the import
        return code
    # Loaded by hand (module_from_spec, then exec_module): nobody ends the import for us.
    try:
        run_module_code(code, generation.namespace)
    except BaseException:
        first.finish(False)
        raise
    first.finish(True)
    return _NOTHING_TO_RUN
