"""Adopting modules imported before the finder was installed (IPython's ``%load_ext``).

A first import makes the module object the proxy and the dict it executed
in generation 1; a module imported plainly before ``install()`` has exactly
those two already. Adopting it records them as such, so it reloads like any
versioned module from then on, without running its code again. What cannot be
known afterwards: whether the file changed between the import and now (the
file as it is now is taken as what runs), and the ``from m import x`` imports
among adopted modules (only modules they hold, ``import m``, are seen as
imports until their first reload records everything).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from importlib.machinery import ModuleSpec, SourceFileLoader
from types import ModuleType

from .._core.edges import EdgeSink
from .._core.proxy import adopt_namespace, module_dict, own_class, set_view_class
from .._core.scope import in_scope
from .._core.source import compile_source, read_source
from .._core.state import Generation, ModuleRecord, State

__all__ = ["adopt_imported"]


def adopt_imported(state: State, modules: Iterable[ModuleType]) -> tuple[list[str], dict[str, str]]:
    """Version the plain modules among ``modules`` that are in the finder's scope.

    Returns the names adopted, and for each module in scope that cannot be
    adopted, why (one sentence). Modules out of scope are left alone unnamed.
    """
    finder = state.finder
    if finder is None:
        return [], {}
    adopted: list[tuple[ModuleRecord, Generation]] = []
    refused: dict[str, str] = {}
    for module in list(modules):
        spec = getattr(module, "__spec__", None)
        name, origin = getattr(spec, "name", None), getattr(spec, "origin", None)
        if not isinstance(spec, ModuleSpec) or not isinstance(name, str) or not isinstance(origin, str) \
                or sys.modules.get(name) is not module:
            continue  # not a module imported under its own name (a stand-in, an alias, __main__'s spec)
        if name in state.records or not in_scope(name, origin, True, finder.scope):
            continue
        if type(spec.loader) is not SourceFileLoader:
            # Another import hook's output: only that loader can produce it again.
            kind = type(spec.loader)
            refused[name] = f"it was loaded by {kind.__module__}.{kind.__qualname__}, not from its source file"
            continue
        try:
            source = read_source(origin)
            code = compile_source(source, spec.cached)
        except (OSError, SyntaxError, ValueError) as exc:
            refused[name] = f"its file cannot be compiled as it is now ({type(exc).__name__}: {exc})"
            continue
        finder.wrap(spec)
        module.__loader__ = spec.loader  # as a first import sets it
        record = ModuleRecord(name, module, spec, origin)
        state.add_record(record)
        adopted.append((record, Generation(1, module_dict(module), source, code)))
    for record, generation in adopted:
        assert generation.source is not None  # read above
        # Imports among them, as far as the namespaces show: the modules each holds, not its own submodules
        # (the import system sets those on a package, whoever imported them).
        own = {key: value for key, value in generation.namespace.items()
               if isinstance(value, ModuleType) and getattr(value, "__name__", None) == f"{record.name}.{key}"}
        sink = EdgeSink(record.name)
        sink.scan(generation.namespace, state, own)
        generation.imports = frozenset(sink.names)
        with state.lock:
            state.graph.replace_imports(record.name, sink.names)
            record.current = generation
            record.counter = 1
            record.seen_stat, record.seen_racy = generation.source.stat_key, generation.source.racy
            state.world.generations[id(record.proxy)] = generation  # as a first import adds itself
            adopt_namespace(record.proxy, generation.namespace)
            generation.module_class = own_class(record.proxy, ModuleType)  # what its code set, if anything
            operation = set_view_class(record.proxy, False, generation.module_class)
            if operation is not None:
                operation[0](*operation[1:])
    return [record.name for record, _ in adopted], refused
