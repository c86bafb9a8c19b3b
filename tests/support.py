"""The sandbox every test uses: real files in a temporary directory, real imports, everything put back."""

from __future__ import annotations

import contextlib
import importlib
import linecache
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

import versioned_import as vi
from versioned_import import _registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Sandbox(unittest.TestCase):
    """A temporary directory on ``sys.path``; ``sys.path``, ``sys.meta_path`` and ``sys.modules`` restored in place."""

    def setUp(self) -> None:
        super().setUp()
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="vi-test-"))
        saved_path = sys.path[:]
        saved_meta = sys.meta_path[:]
        saved_modules = sys.modules.copy()
        threads_before = set(threading.enumerate())

        def restore() -> None:
            vi.uninstall()
            _registry.state.reset()
            for name in list(sys.modules):
                if name not in saved_modules:
                    del sys.modules[name]
                elif sys.modules[name] is not saved_modules[name]:
                    sys.modules[name] = saved_modules[name]
            for name, module in saved_modules.items():
                if name not in sys.modules:
                    sys.modules[name] = module
            sys.path[:] = saved_path
            sys.meta_path[:] = saved_meta
            for key in [k for k in linecache.cache if isinstance(k, str) and k.startswith(self.root)]:
                del linecache.cache[key]
            importlib.invalidate_caches()
            shutil.rmtree(self.root, ignore_errors=True)
            leftover = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
            for thread in leftover:
                thread.join(5)

        self.addCleanup(restore)
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
