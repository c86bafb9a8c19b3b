"""Figures 11 and 12: reload cost against heap size, and reloads in a realistic ~200-module app.

Figure 11 reloads two shapes — a leaf with 20 dependents (by default, which
re-executes the dependents that used something that changed, and with
``dependents="all"``), and one module with 25 classes and 25 functions
(instances of each held by the program) — on the
heap the benchmark starts with, and again with 2 million and 5 million more
live objects (lists, which the collector tracks), next to ``importlib.reload``
of the same modules in the same run. A reload looks for holders of new
classes among the objects it created (``versioned_import/_referrers.py``), so
the extra objects must cost it nothing.

Figure 12 generates an app of ~200 modules with a hub (``core``, imported by
180 modules), and times three edits against ``importlib.reload`` of the same
modules in the same order: a view (nothing imports it), a model (20
dependents) and the hub (every module that imports it).
"""

from __future__ import annotations

import importlib
import os
import sys

import versioned_import as vi

from .harness import Row, Settings, Workspace, interleaved, median, per_call, ratio_row
from .sources import BLOCK, _write, definitions_module, module_body, write_package

HEAPS = (2_000_000, 5_000_000)


def run(settings: Settings) -> list[Row]:
    return _heap_sizes(settings) + _realistic_app(settings)


def _shapes(workspace: Workspace) -> dict[str, tuple]:
    """Import both shapes twice (versioned and plain); return name -> (reload, importlib reload)."""
    versioned = write_package(workspace.path("versioned"), "bench_heap_pkg", count=BLOCK)
    plain = write_package(workspace.path("plain"), "bench_heap_plain", count=BLOCK)
    source = definitions_module(classes=25, functions=25)
    workspace.write("versioned/bench_heap_defs.py", source)
    workspace.write("plain/bench_heap_defs_plain.py", source)
    sys.path[:0] = [versioned.directory, plain.directory]
    importlib.invalidate_caches()
    for name in plain.tails:
        importlib.import_module(name)
    plain_defs = importlib.import_module("bench_heap_defs_plain")
    workspace.install(versioned.directory)
    for name in versioned.tails:
        importlib.import_module(name)
    defs = importlib.import_module("bench_heap_defs")
    held = [getattr(defs, f"Class{i}")() for i in range(25)] + [getattr(plain_defs, f"Class{i}")() for i in range(25)]
    chain = [sys.modules[name] for name in (plain.leaf, *plain.leaf_dependents)]

    def importlib_chain() -> None:
        for module in chain:
            importlib.reload(module)

    return {
        # The leaf reloaded without an edit: its dependents bind it (``from . import``) and use nothing of it.
        "leaf + 20 dependents": (lambda: vi.reload(versioned.leaf), importlib_chain, held),
        "leaf + 20 dependents, dependents='all'": (lambda: vi.reload(versioned.leaf, dependents="all"),
                                                   importlib_chain, held),
        "25 classes + 25 functions": (lambda: vi.reload("bench_heap_defs"),
                                      lambda: importlib.reload(plain_defs), held),
    }


def _heap_sizes(settings: Settings) -> list[Row]:
    rows: list[Row] = []
    rounds = max(7, settings.rounds // 4)
    with Workspace() as workspace:
        shapes = _shapes(workspace)
        small: dict[str, dict[str, list[float]]] = {}
        for name, (reload, baseline, _) in shapes.items():
            for _ in range(3):
                reload()
                baseline()
            small[name] = interleaved({"vi": lambda: per_call(reload, 3), "importlib": lambda: per_call(baseline, 3)},
                                      rounds)
            rows.append(ratio_row(f"11. vi.reload, {name}, small heap", "importlib.reload of the same modules",
                                  median(small[name]["importlib"]), median(small[name]["vi"]), "ms", 2.0,
                                  note="all-or-nothing, dependents, continuity and publish included"))
        for extra in HEAPS:
            ballast = [[index] for index in range(extra)]
            for name, (reload, baseline, _) in shapes.items():
                big = interleaved({"vi": lambda: per_call(reload, 3), "importlib": lambda: per_call(baseline, 3)},
                                  max(5, rounds // 2))
                limit = 1.5 if extra == HEAPS[0] else None
                rows.append(ratio_row(f"11. vi.reload, {name}, {extra / 1e6:g}M more objects",
                                      "the same reload on the small heap", median(small[name]["vi"]),
                                      median(big["vi"]), "ms", limit,
                                      note=f"importlib.reload meanwhile: {median(big['importlib']) * 1e3:.2f} ms"))
            del ballast
    return rows


def write_app(directory: str, name: str, blocks: int = 9) -> dict[str, str]:
    """Write a ~200-module app: ``core`` (the hub) and blocks of 22 modules, all but two per block importing it."""
    root = os.path.join(directory, name)
    os.makedirs(root, exist_ok=True)
    _write(os.path.join(root, "__init__.py"), '"""A generated benchmark app."""\n', 3600.0)
    _write(os.path.join(root, "core.py"), definitions_module(classes=6, functions=12), 3600.0)
    for index in range(blocks * BLOCK):
        block, position = divmod(index, BLOCK)
        header = ""
        if position >= 2:
            header = (f"from . import core\nfrom . import b{block:02d}_{position - 1:02d}, "
                      f"b{block:02d}_{position - 2:02d}\n\n")
        body = definitions_module(classes=6, functions=12) if position == 0 else module_body(index)
        _write(os.path.join(root, f"b{block:02d}_{position:02d}.py"), header + body, 3600.0)
    return {"view": f"{name}.b00_{BLOCK - 1:02d}", "model": f"{name}.b00_00", "hub": f"{name}.core",
            "tails": ",".join(f"{name}.b{block:02d}_{BLOCK - 1:02d}" for block in range(blocks))}


def _realistic_app(settings: Settings) -> list[Row]:
    rows: list[Row] = []
    with Workspace() as workspace:
        versioned = write_app(workspace.path("versioned"), "bench_app")
        plain = write_app(workspace.path("plain"), "bench_app_plain")
        sys.path[:0] = [workspace.path("versioned"), workspace.path("plain")]
        importlib.invalidate_caches()
        for name in plain["tails"].split(","):
            importlib.import_module(name)
        workspace.install(workspace.path("versioned"))
        for name in versioned["tails"].split(","):
            importlib.import_module(name)
        for edit in ("view", "model", "hub"):
            report = vi.reload(versioned[edit])
            # The same modules, in the same order, reloaded in place by importlib.
            order = [name.replace("bench_app", "bench_app_plain", 1) for name in report.reloaded]
            chain = [sys.modules[name] for name in order]

            def importlib_chain(chain=chain) -> None:
                for module in chain:
                    importlib.reload(module)

            samples = interleaved({"vi": lambda edit=edit: per_call(lambda: vi.reload(versioned[edit]), 1),
                                   "importlib": lambda: per_call(importlib_chain, 1)},
                                  max(5, settings.rounds // 6))
            rows.append(ratio_row(f"12. {edit} edit in a 200-module app ({len(order)} modules re-executed)",
                                  "importlib.reload of the same modules", median(samples["importlib"]),
                                  median(samples["vi"]), "ms", None))
    return rows
