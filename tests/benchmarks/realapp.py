"""Figure 13: edits in the realistic application of issue 18, at its own heap and with 2 million more live objects.

The application (``appsource``: 206 modules, a hub that 196 of them import,
registries in a module no edit touches) is written twice: one copy is
imported through the finder, the other plainly. Each sample edits a module
(new source bytes) and times ``vi.reload`` of it in the first copy, or the
same edit and ``importlib.reload`` of the module and every one of its
dependents, in the order a reload of all of them executes them, in the plain
copy. Edits: a view (nothing but ``main`` imports it), a service (5
dependents), a model (20 dependents), the hub (``core.base``); and a reload
of an unchanged view.

Two ways to reload are measured. ``vi.reload(module)`` re-executes the
dependents whose import-time code used something that changed (figure 13):
the edits rewrite the module's last line (``REVISION = "..."``), which no
dependent reads, so usually the module alone runs; the notes say how many
did. ``vi.reload(module, dependents="all")`` re-executes every dependent, as
the baseline does (figure 13a).

Every edit is measured on the heap the benchmark has (the app under the
finder, its plain copy, the library and the harness: about 43,000 objects at
the first edit, growing as each edited module keeps its previous generation
for rollback, to about 130,000 once the hub was reloaded), then again with 2
million more live objects (lists, which the collector tracks, held by the
benchmark, not by a versioned module). Samples are single reloads with the
collector paused, as everywhere in these benchmarks. The notes count the
reloads whose holder search had to see the whole heap
(``_registry.state.heap_searches``).

13c compares the hub edit with 2 million more objects to a restart: a fresh
interpreter importing the plain copy (warm bytecode), spawn to exit.

13d is an application that calls ``gc.freeze()`` after start-up (a pre-fork
server): in a fresh process, the app is imported, the heap frozen, and the
model edited and reloaded 10 times; the 10th reload against the 1st, median
over processes. The same sequence without the freeze is printed beside it.

``python -m tests.benchmarks.realapp [--edit KIND] [--ballast N] [--all]``
profiles one reload instead (see ``profile``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import json
import logging
import pstats
import sys
import time
from collections.abc import Callable

import versioned_import as vi
from versioned_import._core import state as _registry

from . import harness
from .appsource import App, write_app
from .harness import (
    REPO,
    Row,
    Settings,
    Workspace,
    child_code,
    child_environment,
    gc_paused,
    interleaved,
    median,
    ratio_row,
    run_child,
)

BALLAST = 2_000_000
RELOADS = 10
EDITS = ("view", "service", "model", "no edit", "hub")  # the hub last: its retained generations grow the heap
MODES = {"default": True, "all": "all"}  # vi.reload(..., dependents=...)
DEPENDENTS = {"view": 1, "service": 5, "model": 20}  # how many dependents the edited module of each kind has

RESTART = r"""
import importlib, sys
importlib.import_module(sys.argv[1])
"""

FROZEN = r"""
import gc, json, logging, os, sys
import versioned_import as vi
from versioned_import._core import state as _registry
logging.getLogger("versioned_import").addHandler(logging.NullHandler())
directory, main, module, path, freeze, reloads, revision, epoch, dependents = sys.argv[1:10]
dependents = True if dependents == "default" else dependents
revision, epoch = int(revision), float(epoch)
vi.install(roots=[directory])
__import__(main)
if freeze == "1":
    gc.freeze()  # after start-up, as a pre-fork server does
frozen = gc.get_freeze_count()
times, searches = [], []
for _ in range(int(reloads)):
    revision += 1
    with open(path, encoding="utf-8") as stream:
        lines = stream.read().splitlines(keepends=True)
    lines[-1] = 'REVISION = "%06d"\n' % revision
    with open(path, "w", encoding="utf-8") as stream:
        stream.writelines(lines)
    os.utime(path, (epoch + revision, epoch + revision))
    before = _registry.state.heap_searches
    started = clock()
    vi.reload(module, dependents=dependents)
    times.append(clock() - started)
    searches.append(_registry.state.heap_searches - before)
print(json.dumps({"times": times, "searches": searches, "revision": revision,
                  "frozen": [frozen, gc.get_freeze_count()]}))
"""


def run(settings: Settings) -> list[Row]:
    return _edits(settings) + _frozen(settings)


def edited_module(app: App, kind: str) -> str:
    """The module an edit of ``kind`` changes: the first of its kind with the dependents the issue's app had."""
    if kind == "hub":
        return app.module("core.base")
    package = {"view": "views.v", "service": "services.s", "model": "models.m", "no edit": "views.v"}[kind]
    wanted = DEPENDENTS["view" if kind == "no edit" else kind]
    for module in sorted(m for m in app.sources if m.startswith(app.module(package))):
        if len(app.dependents(module)) == wanted:
            return module
    raise RuntimeError(f"the generated app has no {kind} with {wanted} dependents")


def timed(action: Callable[[], object]) -> float:
    """Return the seconds one call of ``action`` took, the collector paused."""
    with gc_paused():
        start = harness.clock()
        action()
        return harness.clock() - start


class _Edit:
    """One kind of edit, in both copies: the samples of each side, and what the reloads did."""

    def __init__(self, kind: str, versioned: App, plain: App, mode: str) -> None:
        self.kind, self.mode = kind, mode
        self.versioned, self.plain = versioned, plain
        self.module = edited_module(versioned, kind)
        self.plain_module = self.module.replace(versioned.name, plain.name, 1)
        report = self._reload("all")  # every dependent: their execution order is the baseline's
        expected = {self.module} | versioned.dependents(self.module)
        if set(report.reloaded) != expected:
            raise RuntimeError(f"reload of {self.module} re-executed {len(report.reloaded)} modules, "
                               f"expected {len(expected)}")
        self.order = report.reloaded
        self.chain = [sys.modules[name.replace(versioned.name, plain.name, 1)] for name in self.order]
        self.searches = self.reloads = 0
        self.executed: list[int] = []

    def _reload(self, dependents: bool | str) -> vi.ReloadReport:
        if self.kind != "no edit":
            self.versioned.edit(self.module)
        return vi.reload(self.module, dependents=dependents)

    def vi_sample(self) -> float:
        if self.kind != "no edit":
            self.versioned.edit(self.module)
        before = _registry.state.heap_searches
        reports: list[vi.ReloadReport] = []
        elapsed = timed(lambda: reports.append(vi.reload(self.module, dependents=MODES[self.mode])))
        self.searches += _registry.state.heap_searches - before
        self.reloads += 1
        self.executed.append(len(reports[0].reloaded))
        return elapsed

    def importlib_sample(self) -> float:
        if self.kind != "no edit":
            self.plain.edit(self.plain_module)
        return timed(self._importlib_chain)

    def _importlib_chain(self) -> None:
        for module in self.chain:
            importlib.reload(module)

    def measure(self, rounds: int, extra: dict[str, Callable[[], float]] | None = None) -> dict[str, float]:
        """Interleave both sides (and ``extra`` variants) for ``rounds`` rounds; return each one's median."""
        for _ in range(2):  # warm: the first reloads after the other edits settle caches
            self.vi_sample()
            self.importlib_sample()
        self.searches = self.reloads = 0
        self.executed = []
        samples = interleaved({"vi": self.vi_sample, "importlib": self.importlib_sample, **(extra or {})}, rounds)
        return {name: median(values) for name, values in samples.items()}

    def note(self, heap_objects: int) -> str:
        executed = sorted(set(self.executed))
        counts = "/".join(map(str, executed))
        return (f"{self.searches} whole-heap searches in {self.reloads} reloads; {heap_objects:,} objects on the heap; "
                f"{counts} of {len(self.order)} modules re-executed")


def _edits(settings: Settings) -> list[Row]:
    rounds = {"hub": 3 if settings.quick else 7}
    default_rounds = 7 if settings.quick else 21
    rows: list[Row] = []
    with Workspace() as workspace:
        versioned = write_app(workspace.path("versioned"), "shop")
        plain = write_app(workspace.path("plain"), "shop_plain")
        sys.path[:0] = [versioned.directory, plain.directory]
        importlib.invalidate_caches()
        importlib.import_module(plain.main)
        workspace.install(versioned.directory)
        importlib.import_module(versioned.main)
        # Made when first measured: each one's first reload adds the generation it keeps for rollback to the heap.
        edits: dict[tuple[str, str], _Edit] = {}

        environment = child_environment(workspace.path("pycache-restart"), plain.directory)

        def restart() -> float:
            return run_child(child_code(RESTART), plain.main, env=environment)[0]

        for _ in range(2):  # warm: the first run writes the bytecode caches
            restart()

        results: dict[tuple[str, str, str], dict[str, float]] = {}
        notes: dict[tuple[str, str, str], str] = {}
        ballast: list[list[int]] = []
        for heap in ("own", "big"):
            if heap == "big":
                # Held here, outside the versioned modules: a long-running server's data.
                ballast = [[index] for index in range(BALLAST)]
                gc.collect()
            for kind in EDITS:
                for mode in MODES:
                    edit = edits[kind, mode] = edits.get((kind, mode)) or _Edit(kind, versioned, plain, mode)
                    objects = len(gc.get_objects())
                    extra = {"restart": restart} if heap == "big" and kind == "hub" else None
                    results[heap, kind, mode] = edit.measure(rounds.get(kind, default_rounds), extra)
                    notes[heap, kind, mode] = edit.note(objects)
        del ballast

        for mode, figure, call in (("default", "13", "vi.reload"), ("all", "13a", "vi.reload(dependents='all')")):
            for kind in EDITS:
                edit = edits[kind, mode]
                limit = None if kind == "no edit" else 2.0
                label = f"{kind} ({edit.module.partition('.')[2]})"
                for heap, heading in (("own", "own heap"), ("big", f"+{BALLAST / 1e6:g}M objects")):
                    result = results[heap, kind, mode]
                    rows.append(ratio_row(f"{figure}. {call}, {label}, {heading}",
                                          f"importlib.reload of the {len(edit.order)}", result["importlib"],
                                          result["vi"], "ms", limit, note=notes[heap, kind, mode]))
                rows.append(ratio_row(f"{figure}b. {call}, {label}, +{BALLAST / 1e6:g}M objects / own heap",
                                      "the same reload on the app's own heap", results["own", kind, mode]["vi"],
                                      results["big", kind, mode]["vi"], "ms", None if kind == "no edit" else 1.2))
            restart_s, hub_s = results["big", "hub", mode]["restart"], results["big", "hub", mode]["vi"]
            speedup = restart_s / hub_s
            rows.append(Row(f"{figure}c. {call}, hub, +{BALLAST / 1e6:g}M objects, vs a restart",
                            "fresh process importing the app", restart_s, hub_s, "ms", speedup, ">= 5x faster",
                            speedup >= 5, note=f"ratio = restart / reload; {notes['big', 'hub', mode]}"))
    return rows


def _frozen(settings: Settings) -> list[Row]:
    processes = 3 if settings.quick else 7
    rows: list[Row] = []
    with Workspace() as workspace:
        app = write_app(workspace.path("frozen"), "shop")
        module = edited_module(app, "model")
        environment = child_environment(workspace.path("pycache-frozen"), app.directory, REPO)
        runs: dict[tuple[str, str], list[dict]] = {(f, m): [] for f in ("1", "0") for m in MODES}
        revision = [app.revisions[module]]  # each process edits on from where the last one stopped

        def child(freeze: str, mode: str) -> float:
            _, output = run_child(child_code(FROZEN), app.directory, app.main, module, app.path(module), freeze,
                                  str(RELOADS), str(revision[0]), str(app.epoch), mode, env=environment)
            runs[freeze, mode].append(json.loads(output))
            revision[0] = runs[freeze, mode][-1]["revision"]
            return 0.0  # the samples are the reloads inside the process

        child("0", "default")  # warm: the first run writes the bytecode caches
        runs["0", "default"].clear()
        interleaved({f"{f}{m}": (lambda f=f, m=m: child(f, m)) for f in ("1", "0") for m in MODES}, processes)

    def position(key: tuple[str, str], index: int) -> float:
        return median([r["times"][index] for r in runs[key]])

    for mode, figure, call in (("default", "13d", ""), ("all", "13da", ", dependents='all'")):
        frozen_key, plain_key = ("1", mode), ("0", mode)
        searches = {key: sum(sum(r["searches"]) for r in runs[key]) for key in (frozen_key, plain_key)}
        reloads = {key: sum(len(r["times"]) for r in runs[key]) for key in (frozen_key, plain_key)}
        frozen = [median([r["frozen"][i] for r in runs[frozen_key]]) for i in (0, 1)]
        rows.append(ratio_row(f"{figure}. frozen-heap app{call}: reload {RELOADS} / reload 1",
                              "the 1st reload after gc.freeze()", position(frozen_key, 0),
                              position(frozen_key, RELOADS - 1), "ms", 1.2,
                              note=f"model edit, {len(app.dependents(module)) + 1} modules; 2nd reload "
                                   f"{position(frozen_key, 1) * 1e3:.2f} ms; {searches[frozen_key]} whole-heap searches "
                                   f"in {reloads[frozen_key]} reloads; frozen objects: {frozen[0]:,.0f} after start-up, "
                                   f"{frozen[1]:,.0f} after the reloads; median of {processes} processes"))
        rows.append(ratio_row(f"{figure[:3]}e{figure[3:]}. the same without gc.freeze(): reload {RELOADS} / reload 1",
                              "the 1st reload", position(plain_key, 0), position(plain_key, RELOADS - 1), "ms", None,
                              note=f"2nd reload {position(plain_key, 1) * 1e3:.2f} ms; "
                                   f"{searches[plain_key]} whole-heap searches in {reloads[plain_key]} reloads"))
    return rows


def profile(kind: str, ballast: int, reloads: int, top: int, every: bool = False) -> str:
    """Profile ``reloads`` reloads of an edit of ``kind`` with ``ballast`` more live objects; return the report."""
    with Workspace() as workspace:
        app = write_app(workspace.path("versioned"), "shop")
        sys.path.insert(0, app.directory)
        importlib.invalidate_caches()
        workspace.install(app.directory)
        importlib.import_module(app.main)
        module = edited_module(app, kind)
        held = [[index] for index in range(ballast)]
        gc.collect()
        heap = len(gc.get_objects())
        dependents: bool | str = "all" if every else True
        for _ in range(2):
            app.edit(module)
            report = vi.reload(module, dependents=dependents)
        profiler = cProfile.Profile()
        searches = _registry.state.heap_searches
        for _ in range(reloads):
            app.edit(module)
            profiler.enable()
            report = vi.reload(module, dependents=dependents)
            profiler.disable()
        searches = _registry.state.heap_searches - searches
        app.edit(module)
        start = time.perf_counter()
        calls = _referrer_calls(lambda: vi.reload(module, dependents=dependents))
        elapsed = time.perf_counter() - start
        del held
    out = io.StringIO()
    print(f"{kind} edit of {module}: {len(report.reloaded)} modules re-executed, {heap:,} objects on the heap, "
          f"{searches} whole-heap searches in {reloads} reloads", file=out)
    print(f"\nOne more reload, not profiled: {elapsed * 1e3:.1f} ms, of which gc.get_referrers "
          f"{sum(c[2] for c in calls) * 1e3:.1f} ms in {len(calls)} calls (targets, objects it visits, ms):", file=out)
    for targets, visited, seconds in calls:
        print(f"  {targets:7,} targets  {visited:10,} objects  {seconds * 1e3:9.2f} ms", file=out)
    stats = pstats.Stats(profiler, stream=out)
    for order in ("cumulative", "tottime"):
        print(f"\n--- versioned_import functions by {order} ---", file=out)
        stats.sort_stats(order).print_stats(r"versioned_import", top)
        print(f"\n--- everything by {order} ---", file=out)
        stats.sort_stats(order).print_stats(top)
    return out.getvalue()


def _referrer_calls(action: Callable[[], object]) -> list[tuple[int, int, float]]:
    """Run ``action``; return (targets, objects visible to the collector, seconds) for each ``gc.get_referrers`` call."""
    calls: list[tuple[int, int, float]] = []
    original = gc.get_referrers

    def counted(*targets: object) -> list[object]:
        visited = len(gc.get_objects())  # what is not frozen: what the search visits
        start = time.perf_counter()
        found = original(*targets)
        calls.append((len(targets), visited, time.perf_counter() - start))
        return found

    gc.get_referrers = counted
    try:
        action()
    finally:
        gc.get_referrers = original
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.realapp", description="Profile one edit's reload.")
    parser.add_argument("--edit", choices=EDITS, default="hub")
    parser.add_argument("--ballast", type=int, default=0, help="live objects to add to the heap (default 0)")
    parser.add_argument("--reloads", type=int, default=3, help="profiled reloads (default 3)")
    parser.add_argument("--top", type=int, default=25, help="lines per listing (default 25)")
    parser.add_argument("--all", action="store_true", help="reload with dependents='all'")
    options = parser.parse_args(argv)
    logging.getLogger("versioned_import").addHandler(logging.NullHandler())
    print(profile(options.edit, options.ballast, options.reloads, options.top, options.all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
