"""Figures 5 and 7: a reload against a restart, and what continuity adds to a re-execution.

Figure 5 reloads a 200-line leaf module that has 20 transitive dependents,
inside a process that has imported the whole 300-module package, without an
edit: by default (the dependents that must re-run: they only bind the leaf's
package, so the leaf alone runs) and, as 5a, with ``dependents="all"`` (all
21 re-executed). The baseline is a fresh interpreter importing that package
(warm bytecode), timed from spawn to exit: the least a restart-based
reloader pays, before the application's own start-up. ``importlib.reload``
of the leaf alone, and of the leaf and its dependents in order, are printed
for information.

Figure 7 compares ``vi.reload`` of a module with 50 classes and functions
against executing its compiled code in a fresh dict: the same re-execution
without reading the file, staging, continuity or publishing.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys

import versioned_import as vi

from . import harness
from .harness import Row, Settings, Workspace, child_code, child_environment, interleaved, median, per_call, ratio_row, run_child
from .sources import definitions_module, write_package

BALLAST = 200_000

RESTART = r"""
import importlib, json, sys, time
started = clock()
for name in sys.argv[1].split(","):
    importlib.import_module(name)
print(json.dumps({"import": clock() - started}))
"""


def timed(function, *args) -> float:
    clock = harness.clock
    start = clock()
    function(*args)
    return clock() - start


def run(settings: Settings) -> list[Row]:
    return _reload_vs_restart(settings) + _continuity_cost(settings)


def _reload_vs_restart(settings: Settings) -> list[Row]:
    with Workspace() as workspace:
        versioned = write_package(workspace.path("versioned"), "bench_reload_pkg")
        plain = write_package(workspace.path("plain"), "bench_reload_plain")
        sys.path[:0] = [versioned.directory, plain.directory]
        importlib.invalidate_caches()
        for name in plain.tails:
            importlib.import_module(name)
        workspace.install(versioned.directory)
        for name in versioned.tails:
            importlib.import_module(name)

        report = vi.reload(versioned.leaf, dependents="all")
        expected = {versioned.leaf, *versioned.leaf_dependents}
        if set(report.reloaded) != expected:
            raise RuntimeError(f"reload of the leaf re-executed {len(report.reloaded)} modules, expected 21")
        ran = len(vi.reload(versioned.leaf).reloaded)  # the default: the dependents that must re-run

        plain_leaf = sys.modules[plain.leaf]
        plain_chain = [sys.modules[name] for name in (plain.leaf, *plain.leaf_dependents)]

        def importlib_chain() -> None:
            for module in plain_chain:
                importlib.reload(module)

        environment = child_environment(workspace.path("pycache-restart"), plain.directory)
        tails = ",".join(plain.tails)
        imports_inside: list[float] = []

        def restart() -> float:
            elapsed, output = run_child(child_code(RESTART), tails, env=environment)
            imports_inside.append(json.loads(output)["import"])
            return elapsed

        for _ in range(2):
            restart()
            vi.reload(versioned.leaf)
            vi.reload(versioned.leaf, dependents="all")
            importlib.reload(plain_leaf)
            importlib_chain()
        samples = interleaved({
            "restart": restart,
            "reload": lambda: timed(vi.reload, versioned.leaf),
            "reload all": lambda: timed(lambda: vi.reload(versioned.leaf, dependents="all")),
            "importlib leaf": lambda: timed(importlib.reload, plain_leaf),
            "importlib chain": lambda: timed(importlib_chain),
        }, max(settings.process_rounds, 9))

        restart_s = median(samples["restart"])
        reload_s = median(samples["reload"])
        speedup = restart_s / reload_s
        all_s = median(samples["reload all"])
        rows = [
            Row("5. reload() of a leaf with 20 dependents", "fresh process importing the package", restart_s,
                reload_s, "ms", speedup, ">= 20x faster", speedup >= 20,
                note=f"ratio = restart / reload; {ran} of {len(expected)} modules re-executed (the dependents "
                     "only bind the leaf's package)"),
            Row("5a. reload(dependents='all') of the same leaf", "fresh process importing the package", restart_s,
                all_s, "ms", restart_s / all_s, "info", None,
                note=f"ratio = restart / reload; {len(expected)} modules re-executed"),
            ratio_row("5b. importlib.reload of the leaf alone", "vi.reload(dependents='all') of the leaf", all_s,
                      median(samples["importlib leaf"]), "ms", None, note="no dependents, no safety"),
            ratio_row("5c. importlib.reload of leaf + 20 dependents", "vi.reload(dependents='all') of the leaf", all_s,
                      median(samples["importlib chain"]), "ms", None, note="in place, in order, no atomicity"),
            ratio_row("5d. the package import inside that fresh process", "fresh process, spawn to exit", restart_s,
                      median(imports_inside), "ms", None, note="interpreter start-up is the rest"),
        ]
    return rows


def _continuity_cost(settings: Settings) -> list[Row]:
    source = definitions_module(classes=25, functions=25)
    with Workspace() as workspace:
        path = workspace.write("versioned/bench_continuity.py", source)
        workspace.write("plain/bench_continuity_plain.py", source)
        sys.path[:0] = [workspace.path("versioned"), workspace.path("plain")]
        importlib.invalidate_caches()
        plain = importlib.import_module("bench_continuity_plain")
        workspace.install(workspace.path("versioned"))
        module = importlib.import_module("bench_continuity")
        instances = [getattr(module, f"Class{i}")() for i in range(25)]  # live objects continuity must carry
        code = compile(source, path, "exec", dont_inherit=True)

        def bare() -> None:
            exec(code, {"__name__": "bench_continuity_bare", "__builtins__": __builtins__})

        for _ in range(3):
            vi.reload("bench_continuity")
            bare()
            importlib.reload(plain)
        calls = 5 if settings.quick else 10
        heap_before = len(gc.get_objects())
        samples = interleaved({
            "bare": lambda: per_call(bare, calls),
            "reload": lambda: per_call(lambda: vi.reload("bench_continuity"), calls),
            "importlib": lambda: per_call(lambda: importlib.reload(plain), calls),
        }, settings.rounds)
        if not all(type(obj) is getattr(module, f"Class{i}") for i, obj in enumerate(instances)):
            raise RuntimeError("continuity did not keep the classes' identity")
        heap = len(gc.get_objects())
        bare_s = median(samples["bare"])
        rows = [
            ratio_row("7. reload() of a module with 50 classes and functions", "exec of its code in a fresh dict",
                      bare_s, median(samples["reload"]), "ms", None,
                      note=f"read + stage + continuity + publish; {heap_before:,} -> {heap:,} objects on the heap "
                           "while measuring"),
            ratio_row("7b. importlib.reload of the same module", "exec of its code in a fresh dict",
                      bare_s, median(samples["importlib"]), "ms", None, note="in place, no continuity"),
        ]
        # A long-running server holds far more objects than this benchmark;
        # continuity looks for references to new classes across the heap.
        ballast = [[index] for index in range(BALLAST)]
        samples = interleaved({
            "bare": lambda: per_call(bare, calls),
            "reload": lambda: per_call(lambda: vi.reload("bench_continuity"), calls),
        }, max(5, settings.rounds // 3))
        heap = len(gc.get_objects())
        del ballast
        rows.append(ratio_row(f"7c. the same reload with {BALLAST:,} more objects on the heap",
                              "exec of its code in a fresh dict", median(samples["bare"]),
                              median(samples["reload"]), "ms", None, note=f"{heap:,} objects on the heap"))
        return rows
