"""Figure 8: memory and live generations over 1,000 reloads of a module with 50 classes and functions.

``tracemalloc`` runs from before the first import; after 100 reloads and
again after the last, the collector runs and the traced size is read: the
growth between the two is what the library keeps that it should not.
Each generation creates one ``MARKER`` object; weak references to them say
which generations are still alive. With ``rollback_depth=1`` the published
generation and one kept for rollback may live, no other. An instance created
by generation 1 is held throughout, as a long-running program holds its
objects: continuity must not keep its generation alive.
"""

from __future__ import annotations

import gc
import importlib
import tracemalloc
import weakref

import versioned_import as vi

from .harness import Row, Settings, Workspace
from .sources import definitions_module

WARM = 100
DEPTH = 1
LIMIT = 1_000_000  # bytes


def run(settings: Settings) -> list[Row]:
    total = settings.reloads
    with Workspace() as workspace:
        workspace.write("bench_memory.py", definitions_module(classes=25, functions=25))
        importlib.invalidate_caches()
        gc.collect()
        tracemalloc.start()
        try:
            workspace.install(rollback_depth=DEPTH)
            module = importlib.import_module("bench_memory")
            held = module.Class3()  # an instance of generation 1, alive throughout
            markers = [weakref.ref(module.MARKER)]
            baseline = 0
            for index in range(1, total):
                vi.reload("bench_memory")
                markers.append(weakref.ref(module.MARKER))
                if index == WARM:
                    gc.collect()
                    baseline = tracemalloc.get_traced_memory()[0]
            gc.collect()
            final = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        if type(held) is not module.Class3 or vi.generation(module) != total:
            raise RuntimeError("the reloads did not continue the held instance's class")
        alive = [number for number, marker in enumerate(markers, start=1) if marker() is not None]
        growth = final - baseline
        kept = DEPTH + 1
        return [
            Row(f"8. memory growth, reloads {WARM} -> {total}", f"traced after {WARM} reloads", baseline / 1e6,
                final / 1e6, "MB", final / baseline if baseline else None, "growth < 1 MB", growth < LIMIT,
                note=f"growth {growth / 1e3:+,.0f} KB (tracemalloc, after gc.collect())"),
            Row(f"8b. generations alive after {total} reloads", f"published + rollback_depth={DEPTH}", kept,
                len(alive), "", None, f"<= {kept}", len(alive) <= kept,
                note=f"alive: generations {alive}"),
        ]
