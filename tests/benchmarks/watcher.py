"""Figures 9 and 10: the watcher at its default settings, over 2,000 versioned modules.

9. Save to first response with the new code: a WSGI app served by wsgiref
   through ``vi.wsgi_app`` on 127.0.0.1, the watcher on at the default
   interval; each sample writes a new version of the app's module and
   requests the page every 2 ms until the new text comes back. Wall-clock
   time (this is a latency), median of the samples. The baseline is one
   request that needs no reload.
10. What an idle watcher costs: the process's CPU time over a window in which
   nothing changes and the main thread sleeps, as a fraction of one core
   (wall time of the window). The polling fallback (no change notifications,
   as on systems without inotify) is shown for information.
"""

from __future__ import annotations

import importlib
import statistics
import threading
import time
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import versioned_import as vi
from versioned_import._runtime import watcher as _watcher

from .harness import Row, Settings, Workspace

MODULES = 2000
LATENCY_TARGET = 0.25  # seconds
IDLE_TARGET = 0.01  # fraction of one core

_APP = '''\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"version {number}"]
'''


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request on stderr would swamp the table


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _populate(workspace: Workspace) -> None:
    names = [f"bench_watch_{index:04d}" for index in range(MODULES)]
    for index, name in enumerate(names):
        workspace.write(f"{name}.py", f"VALUE = {index}\n")
    importlib.invalidate_caches()
    workspace.install()
    for name in names:
        importlib.import_module(name)


def _latency(settings: Settings) -> list[Row]:
    samples = 7 if settings.quick else 21
    with Workspace() as workspace:
        _populate(workspace)
        path = workspace.write("bench_watch_app.py", _APP.format(number=0))
        importlib.invalidate_caches()
        importlib.import_module("bench_watch_app")
        server: WSGIServer = make_server("127.0.0.1", 0, vi.wsgi_app("bench_watch_app:app"), handler_class=_Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        vi.watch()  # the default interval
        url = f"http://127.0.0.1:{server.server_port}/"
        pause = threading.Event()
        try:
            plain = []
            for _ in range(samples):
                start = time.perf_counter()
                _get(url)
                plain.append(time.perf_counter() - start)
            latencies = []
            for number in range(1, samples + 1):
                pause.wait(0.3)  # edits come apart, as a person's saves do
                expected = f"version {number}".encode()
                with open(path, "w", encoding="utf-8") as stream:
                    stream.write(_APP.format(number=number))
                saved = time.perf_counter()
                deadline = saved + 30
                while _get(url) != expected:
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"the edit to version {number} was not served within 30 s")
                    pause.wait(0.002)
                latencies.append(time.perf_counter() - saved)
        finally:
            vi.stop_watching()
            server.shutdown()
            server.server_close()
            thread.join(10)
    measured = statistics.median(latencies)
    notified = _watcher.Notifier.create() is not None
    return [Row(f"9. save -> first response with the new code ({MODULES:,} modules, defaults)", "one request",
                statistics.median(plain), measured, "ms", None, f"<= {LATENCY_TARGET * 1000:.0f} ms",
                measured <= LATENCY_TARGET,
                note=f"wall clock, median of {samples}; max {max(latencies) * 1000:.0f} ms; change notifications "
                     f"{'on' if notified else 'off (polling)'}")]


def _idle_fraction(window: float, polling: bool) -> float:
    """Fraction of one core the process burns over ``window`` seconds while only the watcher could run."""
    create = _watcher.Notifier.create
    if polling:
        _watcher.Notifier.create = classmethod(lambda cls: None)  # as on a system without inotify
    try:
        vi.watch()
    finally:
        _watcher.Notifier.create = create
    pause = threading.Event()
    try:
        pause.wait(1.0)  # the first scans after start-up are not the idle state
        cpu, wall = time.process_time(), time.perf_counter()
        pause.wait(window)
        return (time.process_time() - cpu) / (time.perf_counter() - wall)
    finally:
        vi.stop_watching()


def _idle(settings: Settings) -> list[Row]:
    window = 3.0 if settings.quick else 10.0
    with Workspace() as workspace:
        _populate(workspace)
        pause = threading.Event()
        cpu, wall = time.process_time(), time.perf_counter()
        pause.wait(window)
        baseline = (time.process_time() - cpu) / (time.perf_counter() - wall)
        notified = _idle_fraction(window, polling=False)
        polled = _idle_fraction(window, polling=True)
    rows = [Row(f"10. idle watcher over {MODULES:,} modules, share of one core", "no watcher", baseline * 100,
                notified * 100, "%", None, f"<= {IDLE_TARGET * 100:g} %", notified <= IDLE_TARGET,
                note=f"process CPU time over {window:g} s of wall time; change notifications "
                     f"{'on' if _watcher.Notifier.create() is not None else 'off (polling)'}"),
            Row("10b. the same, polling (no change notifications)", "no watcher", baseline * 100, polled * 100, "%",
                None, "info", None, note="what systems without inotify pay at the default interval")]
    return rows


def run(settings: Settings) -> list[Row]:
    return _latency(settings) + _idle(settings)
