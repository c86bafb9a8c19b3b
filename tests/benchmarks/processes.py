"""Figures for G14: fork-to-first-reload latency, and a coordinated-reload soak over a pre-fork server.

``python -m tests.benchmarks.processes [--forks N] [--reloads N] [--workers N] [--json FILE]``

Wall-clock times (``perf_counter``, which is the same monotonic clock in a
parent and its forked child). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from tests.test_workers import A_SOURCE, B_SOURCE, PREFORK  # noqa: E402

MODULE = "".join(f"def f{i}(x):\n    return x + {i}\n\nclass C{i}:\n    def m(self):\n        return {i}\n\n"
                 for i in range(25))


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3), "n": len(ordered)}


def _fork_samples(forks: int, child) -> list[tuple[float, ...]]:
    samples = []
    for _ in range(forks):
        read, write = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read)
                os.write(write, json.dumps([t - started for t in child()]).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as stream:
            samples.append(tuple(json.loads(stream.read())))
        os.waitpid(pid, 0)
    return samples


def fork_latency(forks: int) -> dict[str, object]:
    """Fork to the child's first completed reload, with the watcher and the control channel on."""
    directory = tempfile.mkdtemp(prefix="vi-bench-fork-")
    runtime = tempfile.mkdtemp(prefix="vi-bench-run-")
    os.environ["VERSIONED_IMPORT_RUNTIME_DIR"] = runtime
    sys.path.insert(0, directory)
    try:
        for i in range(20):
            with open(os.path.join(directory, f"bf_{i}.py"), "w") as stream:
                # One 200-line module and 19 small dependents: DESIGN.md's reference reload.
                stream.write(f"import bf_0\n\ndef g(x):\n    return bf_0.f1(x) + {i}\n" if i else MODULE)
        plain = _fork_samples(forks, lambda: [time.perf_counter()])

        import versioned_import as vi

        vi.install(roots=[directory], watch=True, interval=0.05, control=True)
        for i in range(20):
            __import__(f"bf_{i}")
        first = time.perf_counter()
        vi.reload("bf_0")  # the first reload also starts the continuity lineages: not a fork cost
        first = time.perf_counter() - first
        in_parent = []
        for _ in range(10):
            began = time.perf_counter()
            vi.reload("bf_0")
            in_parent.append(time.perf_counter() - began)

        def reload_in_child():
            arrived = time.perf_counter()
            vi.reload("bf_0")  # bf_0 and its 19 dependents
            return [arrived, time.perf_counter()]

        explicit = _fork_samples(forks, reload_in_child)

        def watcher_in_child():
            # The child's own edit, made right after the fork, taken by the child's restarted watcher.
            arrived = time.perf_counter()
            base = vi.generation("bf_0")
            with open(os.path.join(directory, "bf_0.py"), "w") as stream:
                stream.write(MODULE + f"CHILD = {os.getpid()}\n")
            deadline = arrived + 10
            while vi.generation("bf_0") == base and time.perf_counter() < deadline:
                time.sleep(0.001)
            return [arrived, time.perf_counter()]

        watched = _fork_samples(min(forks, 20), watcher_in_child)
        vi.uninstall()
        return {"parent_first_reload_ms": round(first * 1000, 3), "parent_reload_ms": _summary(in_parent),
                "plain_fork_ms": _summary([s[0] for s in plain]),
                "fork_with_hooks_ms": _summary([s[0] for s in explicit]),
                "fork_to_first_reload_ms": _summary([s[1] for s in explicit]),
                "fork_to_watcher_reload_ms": _summary([s[1] for s in watched]) if watched else None,
                "modules": 20}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


def soak(reloads: int, workers: int) -> dict[str, object]:
    """Coordinated reloads over a pre-fork server while two clients send requests."""
    from versioned_import._runtime import coordinate as _coordinate
    directory = tempfile.mkdtemp(prefix="vi-bench-soak-")
    runtime = os.path.join(directory, "run")
    os.mkdir(runtime, 0o700)
    for name, text in (("cw_a.py", A_SOURCE.format(version=1, extra="")), ("cw_b.py", B_SOURCE),
                       ("prefork.py", PREFORK)):
        with open(os.path.join(directory, name), "w") as stream:
            stream.write(text)
    environment = dict(os.environ, PYTHONPATH=REPO, VERSIONED_IMPORT_RUNTIME_DIR=runtime)
    leader = subprocess.Popen([sys.executable, "prefork.py", str(workers)], cwd=directory, env=environment,
                              text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(leader.stdout.readline().split()[0])
        deadline = time.monotonic() + 30
        while len(_coordinate.status(leader.pid, directory=runtime)["processes"]) < workers + 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers' channels did not open")
            time.sleep(0.01)
        stop = threading.Event()
        answered, lost, mixed, per_worker = [0], [0], [0], {}

        def client():
            while not stop.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
                        conn.sendall(b"go\n")
                        pid, first, second, third = map(int, conn.makefile().readline().split())
                except (OSError, ValueError):
                    lost[0] += 1
                    continue
                answered[0] += 1
                per_worker[pid] = per_worker.get(pid, 0) + 1
                mixed[0] += not first == second == third

        clients = [threading.Thread(target=client) for _ in range(2)]
        for thread in clients:
            thread.start()
        times, outcomes = [], {}
        started = time.perf_counter()
        for version in range(2, reloads + 2):
            with open(os.path.join(directory, "cw_a.py"), "w") as stream:
                stream.write(A_SOURCE.format(version=version, extra=""))
            began = time.perf_counter()
            result = _coordinate.reload(leader.pid, directory=runtime, timeout=20)
            times.append(time.perf_counter() - began)
            outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
        elapsed = time.perf_counter() - started
        stop.set()
        for thread in clients:
            thread.join()
        return {"workers": workers, "reloads": reloads, "outcomes": outcomes,
                "coordinated_reload_ms": _summary(times), "seconds": round(elapsed, 2),
                "requests": answered[0], "requests_per_s": round(answered[0] / elapsed, 1),
                "mixed": mixed[0], "lost": lost[0], "per_worker": sorted(per_worker.values())}
    finally:
        leader.stdin.close()
        leader.wait(30)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.processes")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--reloads", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    arguments = parser.parse_args()
    figures = {"python": sys.version.split()[0], "fork": fork_latency(arguments.forks),
               "soak": soak(arguments.reloads, arguments.workers)}
    print(json.dumps(figures, indent=2))
    if arguments.json:
        with open(arguments.json, "w") as stream:
            json.dump(figures, stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
