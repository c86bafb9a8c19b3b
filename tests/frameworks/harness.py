"""Real servers in real processes: a project written to a temporary directory, served, edited, asked.

Each test writes a small project (the recipe of docs/frameworks.md), starts
the framework's own server on a free port of 127.0.0.1 in a child process,
and edits the project's files while it runs. The child's output is kept and
shown only when a test fails. Every wait is bounded; none is a timing.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from collections.abc import Callable, Sequence

from tests.servers import get

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WAIT = 60.0  # the most any step waits for the server (a bound against hangs, never a timing)


def require(*modules: str) -> Callable[[type], type]:
    """Skip the test class, saying what to install, unless every module in ``modules`` is importable.

    With ``VERSIONED_IMPORT_FRAMEWORKS=required`` (as ``.ci/run`` sets) a missing module fails instead.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    reason = (f"{', '.join(missing)} not installed: pip install -r tests/frameworks/requirements.txt "
              "to run the framework tests")
    if missing and os.environ.get("VERSIONED_IMPORT_FRAMEWORKS") == "required":
        raise ImportError(reason)
    return unittest.skipIf(missing, reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, path: str = "/", method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request to 127.0.0.1:port: (status, body); (0, error) if the server did not answer (or was cut off)."""
    try:
        return get(port, path, method, body, headers)
    except (OSError, http.client.HTTPException) as exc:  # a restarting server may cut a response short
        return 0, f"{type(exc).__name__}: {exc}"


class Server:
    """A child process serving the project; its stderr and stdout are collected line by line."""

    def __init__(self, command: Sequence[str], cwd: str, env: dict[str, str]) -> None:
        self.command = list(command)
        self.lines: list[str] = []
        self.process = subprocess.Popen(self.command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(WAIT)
        self._reader.join(WAIT)
        self.process.stdout.close()


class FrameworkCase(unittest.TestCase):
    """A temporary project directory, a server to start in it, and bounded waits on what it serves."""

    def setUp(self) -> None:
        super().setUp()
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="vi-framework-"))
        self.addCleanup(shutil.rmtree, self.root, True)
        self.server: Server | None = None

    def write(self, relative: str, source: str) -> str:
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(textwrap.dedent(source))
        return path

    def environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([self.root, REPO])
        environment["PYTHONUNBUFFERED"] = "1"
        return environment

    def start(self, *command: str, port: int, ready: str = "/") -> Server:
        self.server = server = Server(command, self.root, self.environment())
        self.addCleanup(server.stop)
        self.port = port
        deadline = time.monotonic() + WAIT
        while request(port, ready)[0] == 0:
            if server.process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                self.fail(f"the server did not start: {' '.join(command)}\n{server.output()}")
            threading.Event().wait(0.05)
        return server

    def get(self, path: str = "/", **options) -> tuple[int, str]:
        return request(self.port, path, **options)

    def wait_for(self, what: str, predicate: Callable[[], bool], consecutive: int = 1) -> None:
        """Wait until ``predicate()`` holds ``consecutive`` times in a row (several workers: each must answer)."""
        deadline = time.monotonic() + WAIT
        streak = 0
        while streak < consecutive:
            streak = streak + 1 if predicate() else 0
            if time.monotonic() > deadline:
                self.fail(f"timed out after {WAIT:.0f} s waiting for {what}\n--- server output\n"
                          f"{self.server.output() if self.server else ''}")
            if streak < consecutive:
                threading.Event().wait(0.02)

    def wait_for_line(self, text: str, after: int = 0) -> int:
        """Wait until the server printed a line containing ``text`` (at index >= ``after``); return its index."""
        found: list[int] = []

        def seen() -> bool:
            found[:] = [i for i, line in enumerate(list(self.server.lines)) if i >= after and text in line]
            return bool(found)

        self.wait_for(f"the server to print {text!r}", seen)
        return found[0]

    def answers_while(self, path: str, until: Callable[[], bool]) -> list[tuple[int, str]]:
        """Request ``path`` again and again until ``until()`` holds (bounded by ``WAIT``); return every answer.

        Bounded by time, not by a number of requests: on a loaded machine the
        reload may come after any number of fast answers.
        """
        answers = []
        deadline = time.monotonic() + WAIT
        while not until():
            answers.append(self.get(path))
            if time.monotonic() > deadline:
                self.fail(f"timed out after {WAIT:.0f} s\n{self.server.output()}")
        answers.append(self.get(path))
        return answers

    def assert_one_line_each(self, needle: str, processes: int = 1) -> None:
        """Each publish or refusal printed once per process: no doubled line, no last-resort handler output."""
        lines = [line for line in self.server.lines if needle in line]
        doubled = [line for line in set(lines) if lines.count(line) > processes]
        self.assertEqual(doubled, [], "\n".join(lines))
        self.assertFalse([line for line in self.server.lines if line.startswith("reload of ")],
                         "a refusal went through Python's last-resort handler")


PYTHON = sys.executable
