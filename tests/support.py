"""The sandbox every test uses: real files in a temporary directory, real imports, everything put back."""

from __future__ import annotations

import contextlib
import importlib
import linecache
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from collections.abc import Iterator
from typing import Any

import versioned_import as vi
from versioned_import._core import state as _registry

# Tests reload thousands of times: their one log line each (see versioned_import._runtime.logs) is not wanted on
# stderr. assertLogs still sees every record; the behaviour without any handler is tested in a subprocess.
logging.getLogger("versioned_import").addHandler(logging.NullHandler())

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# How long a test may wait for a thread or a condition: a bound against hangs, never a timing.
WAIT = 60.0


class _Collect(logging.Handler):
    """Keeps a copy of the records it is given, printing nothing.

    The copy has its message formatted and loses what it referred to (a
    report, an error and its traceback): those hold the frames and so the
    generations of a refused reload, which leak tests must see die.
    """

    _DROPPED = frozenset({"report", "error", "exc_info", "args", "msg"})

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        kept = {key: value for key, value in record.__dict__.items() if key not in self._DROPPED}
        self.records.append(logging.makeLogRecord({**kept, "msg": record.getMessage(), "args": None}))


class SavedInterpreter:
    """``sys.path``, ``sys.meta_path`` and ``sys.modules`` as they were; ``restore`` puts them back, in place.

    The one teardown of the whole suite (the sandbox, the hypothesis models and
    the benchmarks' workspace use it): the library is uninstalled and its state
    reset, modules added since are removed and replaced ones put back (same
    objects), and the linecache entries and files under ``directory`` go.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = sys.path[:]
        self.meta_path = sys.meta_path[:]
        self.modules = sys.modules.copy()

    def restore(self, remove_directory: bool = True) -> None:
        vi.uninstall()
        _registry.state.reset()
        for name in list(sys.modules):
            if name not in self.modules:
                del sys.modules[name]
            elif sys.modules[name] is not self.modules[name]:
                sys.modules[name] = self.modules[name]
        for name, module in self.modules.items():
            if name not in sys.modules:
                sys.modules[name] = module
        sys.path[:] = self.path
        sys.meta_path[:] = self.meta_path
        prefix = self.directory.rstrip(os.sep) + os.sep
        for key in [k for k in linecache.cache if isinstance(k, str) and k.startswith(prefix)]:
            del linecache.cache[key]
        importlib.invalidate_caches()
        if remove_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class Sandbox(unittest.TestCase):
    """A temporary directory on ``sys.path``; ``sys.path``, ``sys.meta_path`` and ``sys.modules`` restored in place."""

    def setUp(self) -> None:
        super().setUp()
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="vi-test-"))
        saved = SavedInterpreter(self.root)
        threads_before = set(threading.enumerate())

        def restore() -> None:
            saved.restore()
            leftover = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
            for thread in leftover:
                thread.join(5)

        self.addCleanup(restore)
        # The library logs refusals and failed callbacks (logger "versioned_import"); with no handler,
        # logging's last resort would print them into the test run. Tests read them from self.logged.
        self.logged: list[logging.LogRecord] = []
        collector = _Collect(self.logged)
        logging.getLogger("versioned_import").addHandler(collector)
        self.addCleanup(logging.getLogger("versioned_import").removeHandler, collector)
        _registry.state.reset()
        sys.path.insert(0, self.root)

    def write(self, relative: str, source: str = "") -> str:
        """Write ``source`` (dedented) to ``relative`` under the sandbox; return the path."""
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(textwrap.dedent(source))
        importlib.invalidate_caches()
        return path

    def write_bytes(self, relative: str, data: bytes) -> str:
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as stream:
            stream.write(data)
        importlib.invalidate_caches()
        return path

    def install(self, **options) -> None:
        options.setdefault("roots", [self.root])
        vi.install(**options)

    def run_python(self, *args: str, env: dict | None = None, timeout: float = 60, cwd: str | None = None):
        """Run a fresh interpreter with the repository importable; return the CompletedProcess."""
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([REPO, environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        environment.update(env or {})
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                              env=environment, cwd=cwd or self.root, stdin=subprocess.DEVNULL)

    def assertProcessOK(self, result) -> None:
        if result.returncode != 0:
            self.fail(f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")

    def repeat_during(self, request, action, minimum: int) -> list[Any]:
        """Call ``request()`` over and over on another thread while ``action()`` runs here; return every answer.

        At least ``minimum`` answers, at most 500; ``action`` starts once the first answer is in.
        """
        answers: list[Any] = []
        started = threading.Event()

        def client(barrier, stop):
            barrier.wait()
            while not stop.is_set() or len(answers) < minimum:
                answers.append(request())
                started.set()
                if len(answers) >= 500:
                    break

        def main(stop):
            started.wait(60)
            action()

        self.run_threads([client], main)
        return answers

    def run_threads(self, targets, main=None) -> None:
        """Start ``targets`` (callables taking ``(barrier, stop)``), run ``main(stop)`` here, then stop and join.

        The threads and this one meet at a barrier before anything runs; an
        exception a thread raises fails the test instead of being lost.
        """
        barrier = threading.Barrier(len(targets) + 1)
        stop = threading.Event()
        crashed = []

        def wrap(target):
            def run():
                try:
                    target(barrier, stop)
                except BaseException as exc:  # reported by the test, never lost
                    crashed.append(exc)
                    barrier.abort()
            return run

        threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
        for thread in threads:
            thread.start()
        try:
            barrier.wait()
            if main is not None:
                main(stop)
        except threading.BrokenBarrierError:
            pass  # a thread crashed before the start; reported below
        finally:
            stop.set()
            for thread in threads:
                thread.join(WAIT)
        self.assertFalse([t for t in threads if t.is_alive()], "a thread did not finish (deadlock?)")
        self.assertEqual(crashed, [])

    def wait_until(self, predicate, what: str, detail=lambda: "") -> None:
        """Poll ``predicate`` until it holds; fail after ``WAIT`` seconds (a bound, not a timing)."""
        deadline = time.monotonic() + WAIT
        pause = threading.Event()
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(f"timed out after {WAIT:.0f} s waiting for {what} {detail()}".rstrip())
            pause.wait(0.005)


def versioned(name: str) -> bool:
    """Whether the library treats ``name`` as versioned (the public answer, not an internal flag)."""
    try:
        vi.generation(name)
    except vi.NotVersionedError:
        return False
    return True


def forget_unkept(published: list[Any], history_of: Any) -> list[Any]:
    """A model's log of publishes as the library prunes it: generations out of the history, then empty entries.

    Each entry has ``replaced`` (module index -> what it replaced, None once
    not kept); ``history_of(index)`` is what the model says that module keeps.
    """
    for entry in published:
        for index, before in entry.replaced.items():
            if before is not None and not any(before is kept for kept in history_of(index)):
                entry.replaced[index] = None
    return [entry for entry in published if any(before is not None for before in entry.replaced.values())]


@contextlib.contextmanager
def publish_fails_last() -> Iterator[None]:
    """Fault injection into our own plan: every publish meanwhile fails at its last continuity operation.

    The operation runs after classes, forwarders, holders and namespaces were
    touched in the same pass, so a test sees whether everything is undone.
    """
    import operator

    import versioned_import._continuity as continuity

    original = continuity.plan

    def failing_plan(*args: Any, **kwargs: Any) -> Any:
        plan = original(*args, **kwargs)
        plan.add((operator.truediv, 1, 0), (operator.truediv, 1, 1))
        return plan

    continuity.plan = failing_plan
    try:
        yield
    finally:
        continuity.plan = original


class raises:
    """``with raises(E):`` for plain assertions inside hypothesis state machines (no TestCase there)."""

    def __init__(self, expected: type[BaseException]) -> None:
        self.expected = expected

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is None:
            raise AssertionError(f"{self.expected.__name__} not raised")
        return issubclass(kind, self.expected)
