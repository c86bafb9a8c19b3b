"""Figures 1–3: ``m.x`` and ``m.f()`` through a proxy, and inside ``pinned()``, against a plain module.

Both modules are real files with the same source; the plain one is imported
before ``install()`` from a directory outside the roots. Every variant runs
the same compiled loop (``for _ in r: m.x``, the statement unrolled 20 times so
the loop's own overhead is a small share), each in its own function object so
that CPython's per-instruction inline caches specialise for one module only,
as they would in a program. The time is per statement (load ``m``, read the
attribute, discard it), as ``timeit`` would report it: on 3.13 the attribute
read alone is about a nanosecond, below what a shared machine can resolve
once the statement's other instructions are subtracted.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from collections.abc import Callable

import versioned_import as vi
from versioned_import._continuity import transplant as _transplant

from . import harness
from .harness import Row, Settings, Workspace, gc_paused, interleaved, median, ratio_row
from .sources import SMALL_MODULE

UNROLL = 20

_LOOP = "def run(r, m):\n    for _ in r:\n{body}"


def make_loop(expression: str) -> Callable[[range, object], None]:
    """Compile a fresh function running ``expression`` UNROLL times per iteration (its own inline caches)."""
    body = "".join(f"        {expression}\n" for _ in range(UNROLL))
    namespace: dict = {}
    exec(compile(_LOOP.format(body=body), f"<benchmark loop: {expression}>", "exec"), namespace)
    return namespace["run"]


class Variant:
    """One loop bound to one module, calibrated so a sample lasts about ``seconds``."""

    def __init__(self, expression: str, subject: object, seconds: float,
                 around: Callable[[Callable[[], float]], float] | None = None) -> None:
        self.run = make_loop(expression)
        self.subject = subject
        self.around = around
        self.iterations = 64
        self.warm()
        while self._time(self.iterations) < seconds:
            self.iterations *= 2

    def warm(self) -> None:
        """Run a few iterations so the interpreter specialises the loop for what the module is now."""
        self.run(range(64), self.subject)

    def _time(self, iterations: int) -> float:
        loops = range(iterations)
        clock = harness.clock
        with gc_paused():
            start = clock()
            self.run(loops, self.subject)
            return clock() - start

    def __call__(self) -> float:
        """Return the seconds per unrolled operation of one sample."""
        if self.around is not None:
            return self.around(lambda: self._time(self.iterations)) / (self.iterations * UNROLL)
        return self._time(self.iterations) / (self.iterations * UNROLL)


def statement(samples: dict[str, list[float]], name: str) -> float:
    return median(samples[name])


def inside_pinned(sample: Callable[[], float]) -> float:
    with vi.pinned():
        return sample()


def run(settings: Settings) -> list[Row]:
    rows: list[Row] = []
    with Workspace() as workspace:
        plain_dir = workspace.path("plain")
        versioned_dir = workspace.path("versioned")
        workspace.write("plain/bench_read_plain.py", SMALL_MODULE)
        workspace.write("versioned/bench_read_proxy.py", SMALL_MODULE)
        sys.path[:0] = [plain_dir, versioned_dir]
        importlib.invalidate_caches()
        plain = importlib.import_module("bench_read_plain")
        workspace.install(versioned_dir)
        proxy = importlib.import_module("bench_read_proxy")
        if vi.generation(proxy) != 1 or vi.generation("bench_read_proxy") != 1:
            raise RuntimeError("the proxy module was not versioned")
        mode = "exact ModuleType, swapped namespace" if type(proxy) is types.ModuleType else type(proxy).__name__
        seconds = settings.sample_seconds

        # -- 1 and 2: reads and calls, before any reload ---------------------
        variants = {
            "read plain": Variant("m.x", plain, seconds),
            "read proxy": Variant("m.x", proxy, seconds),
            "call plain": Variant("m.f()", plain, seconds),
            "call proxy": Variant("m.f()", proxy, seconds),
            "read pinned": Variant("m.x", proxy, seconds, around=inside_pinned),
        }
        samples = interleaved(variants, settings.rounds)
        read_plain = statement(samples, "read plain")
        rows.append(ratio_row("1. m.x through a proxy", "m.x, plain module", read_plain,
                              statement(samples, "read proxy"), "ns", 1.5, note=f"proxy: {mode}"))
        rows.append(ratio_row("2. m.f() through a proxy", "m.f(), plain module", statement(samples, "call plain"),
                              statement(samples, "call proxy"), "ns", 1.2))
        rows.append(ratio_row("3. m.x inside pinned()", "m.x, plain module", read_plain,
                              statement(samples, "read pinned"), "ns", 2.0,
                              note="no reload published while pinned"))

        # -- the same loops after publishes ----------------------------------
        held = proxy.f  # a function object taken before the reloads: it becomes the newest definition
        for _ in range(5):
            vi.reload("bench_read_proxy")
        if vi.generation(proxy) != 6 or proxy.f is not held:
            raise RuntimeError("the reloads did not publish, or the held function lost its identity")
        for variant in variants.values():
            variant.warm()  # the inline caches meet the new namespace here, not in a sample
        after = {name: variants[name] for name in ("read plain", "read proxy", "call plain", "call proxy")}
        after["call held"] = Variant("m()", held, seconds)
        after["call plain function"] = Variant("m()", plain.f, seconds)
        samples = interleaved(after, settings.rounds)
        rows.append(ratio_row("1b. m.x through a proxy, after 5 reloads", "m.x, plain module",
                              statement(samples, "read plain"), statement(samples, "read proxy"), "ns", 1.5))
        rows.append(ratio_row("2b. m.f() through a proxy, after 5 reloads", "m.f(), plain module",
                              statement(samples, "call plain"), statement(samples, "call proxy"), "ns", 1.2))
        rows.append(ratio_row("2c. f() held from before the reloads", "f(), plain module",
                              statement(samples, "call plain function"), statement(samples, "call held"), "ns",
                              3.0, note="a function taken before a reload is the newest definition itself "
                                        "(transplanted in place)" if _transplant.TRANSPLANT else
                              "old function objects forward to the newest body (portable mode, or "
                              "VERSIONED_IMPORT_TRANSPLANT=0)"))

        # -- 3b: a reload published while this thread is pinned --------------
        rows.append(_pinned_after_publish(settings, plain, proxy))
    return rows


def _pinned_after_publish(settings: Settings, plain: types.ModuleType, proxy: types.ModuleType) -> Row:
    """Read inside a pin that a reload on another thread made stale: the slow path, by design."""
    with vi.pinned():
        reloader = threading.Thread(target=vi.reload, args=("bench_read_proxy",))
        reloader.start()
        reloader.join()
        if type(proxy) is types.ModuleType:
            raise RuntimeError("the proxy did not switch to the view class while pinned")
        variants = {
            "read plain": Variant("m.x", plain, settings.sample_seconds),
            "read stale pin": Variant("m.x", proxy, settings.sample_seconds),
        }
        samples = interleaved(variants, max(5, settings.rounds // 3))
        slow_class = type(proxy).__name__
    if type(proxy) is not types.ModuleType and vi._proxy.FAST_SWAP:
        raise RuntimeError("the proxy did not return to the fast path after the pin ended")
    return ratio_row("3b. m.x inside pinned() after a publish", "m.x, plain module",
                     statement(samples, "read plain"), statement(samples, "read stale pin"), "ns", None,
                     note=f"slow path by design: the proxy is a {slow_class} only while a pin is stale")
