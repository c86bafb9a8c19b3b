"""Timing, the result row, and the workspace every figure runs in."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import versioned_import as vi
from tests.support import SavedInterpreter
from versioned_import._core import state as _registry

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# What every sample is timed with. CPU time by default: on a shared machine a
# process waiting for a processor is not doing the work being measured, and
# both sides of every ratio are timed the same way. ``--wall`` switches to
# wall-clock time (``perf_counter``) everywhere, children included.
clock: Callable[[], float] = time.process_time


def use_wall_clock(wall: bool) -> None:
    global clock
    clock = time.perf_counter if wall else time.process_time


@dataclass(frozen=True)
class Settings:
    """How hard to measure: ``quick`` trades precision for a run under a minute."""

    quick: bool
    rounds: int            # interleaved repeats for in-process timings
    sample_seconds: float  # target length of one in-process sample
    process_rounds: int    # interleaved pairs of fresh processes
    reloads: int           # reloads in the memory figure
    scan_modules: int      # modules behind changed()

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(True, rounds=21, sample_seconds=0.001, process_rounds=7, reloads=250, scan_modules=2000)
        return cls(False, rounds=61, sample_seconds=0.002, process_rounds=21, reloads=1000, scan_modules=2000)


@dataclass
class Row:
    """One line of the table. ``passed`` is None for figures printed for information."""

    figure: str
    baseline_label: str
    baseline: float | None
    measured: float | None
    unit: str
    ratio: float | None
    target: str
    passed: bool | None = None
    note: str = ""

    def as_json(self) -> dict:
        return asdict(self)


def ratio_row(figure: str, baseline_label: str, baseline: float, measured: float, unit: str,
              limit: float | None, note: str = "") -> Row:
    """A row whose figure is ``measured / baseline``, passing when at most ``limit`` (None: information)."""
    ratio = measured / baseline if baseline > 0 else float("inf")
    target = f"<= {limit:g}x" if limit is not None else "info"
    passed = None if limit is None else ratio <= limit
    return Row(figure, baseline_label, baseline, measured, unit, ratio, target, passed, note)


def median(values: list[float]) -> float:
    return statistics.median(values)


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each variant once per round, rotating the order each round; return every variant's samples.

    Rotating means no variant always runs first (cold caches) or last (after
    the others warmed something): noise on a shared machine spreads evenly.
    """
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(variants[name]())
    return samples


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector while timing, as ``timeit`` does."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def per_call(function: Callable[[], object], calls: int) -> float:
    """Return the seconds one call of ``function`` took, averaged over ``calls`` calls, collector paused."""
    with gc_paused():
        start = clock()
        for _ in range(calls):
            function()
        return (clock() - start) / calls


class Workspace:
    """A temporary directory on ``sys.path``; everything the figure imported or installed is put back after.

    ``sys.dont_write_bytecode`` is cleared inside (this machine exports
    ``PYTHONDONTWRITEBYTECODE=1``), so module caches are warm as on a default
    installation: reloads of unchanged dependents reuse their (hash-checked)
    bytecode, exactly as they would for a user. The caches go under the
    workspace (``sys.pycache_prefix``), never into the repository.
    """

    def __enter__(self) -> Workspace:
        gc.collect()  # what the previous figure left for the collector must not weigh on this one
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="vi-bench-"))
        self._saved = SavedInterpreter(self.root)
        self._bytecode = sys.dont_write_bytecode, sys.pycache_prefix
        sys.dont_write_bytecode = False
        sys.pycache_prefix = os.path.join(self.root, "pycache")
        _registry.state.reset()
        sys.path.insert(0, self.root)
        importlib.invalidate_caches()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._saved.restore()
        sys.dont_write_bytecode, sys.pycache_prefix = self._bytecode
        gc.collect()

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def write(self, relative: str, source: str, *, age: float = 3600.0) -> str:
        """Write ``source`` (dedented) under the workspace, dated ``age`` seconds ago; return the path.

        Source files of a real program are older than a second or two; a file
        written just now is "racily clean" and ``changed()`` must read it
        whatever its stat says. Back-dating keeps the figures about the
        steady state, not about the first two seconds of a file's life.
        """
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(textwrap.dedent(source))
        if age:
            then = time.time() - age
            os.utime(path, (then, then))
        return path

    def install(self, *roots: str, **options: object) -> None:
        vi.install(roots=list(roots) or [self.root], **options)


def child_environment(pycache: str, *paths: str) -> dict[str, str]:
    """The environment of a fresh interpreter: ``paths`` importable, bytecode caches written and used.

    Every cache the child writes (the standard library's included) goes under
    ``pycache``, so runs compare like with like and nothing is written into
    the repository.
    """
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = pycache
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def run_child(code: str, *args: str, env: dict[str, str]) -> tuple[float, str]:
    """Run ``python -c code args``; return (seconds from spawn to exit, stdout).

    The seconds are the child's CPU time (user + system, from ``getrusage``),
    or wall-clock time under ``--wall``.
    """
    wall_start = time.perf_counter()
    cpu_start = _children_cpu()
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=120)
    wall = time.perf_counter() - wall_start
    cpu = _children_cpu() - cpu_start
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed (exit {result.returncode}):\n{result.stderr}")
    return (wall if clock is time.perf_counter else cpu), result.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_code(code: str) -> str:
    """Prefix a child's code with ``clock``, the parent's clock, so both sides are timed alike."""
    name = "perf_counter" if clock is time.perf_counter else "process_time"
    return f"import time\nclock = time.{name}\n{code}"
