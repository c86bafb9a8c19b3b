"""``python -m versioned_import demo``: a live HTTP service takes new code without a restart.

Uses only the public API. Copies a tiny service to a temporary directory,
serves it on 127.0.0.1 (ephemeral port) from a thread, and narrates while it
edits the code under the running server. Leaves no files and no threads.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import versioned_import as vi

__all__ = ["main"]

_GREETING_V1 = '''\
"""What the shop says. Edit me while the server runs."""

GREETING = "Hello"


class Greeter:
    def __init__(self, name):
        self.name = name

    def greet(self):
        return f"{GREETING}, {self.name}."
'''

_GREETING_V2 = '''\
"""What the shop says. Edit me while the server runs."""

GREETING = "Welcome back"


class Greeter:
    def __init__(self, name):
        self.name = name

    def greet(self):
        return f"{GREETING}, {self.name}! (now with {self.extras()})"

    def extras(self):
        return "free coffee"
'''

_GREETING_BROKEN = _GREETING_V2.replace('return "free coffee"', 'return "free coffee"\n        oops(')

_GREETING_V3 = _GREETING_V2.replace("free coffee", "free coffee and cake")

_APP = '''\
"""The request handler: it builds one Greeter when the service starts."""

from demo_shop.greeting import Greeter

FIRST_VISITOR = Greeter("first visitor")   # created once, at start-up, and kept


def handle(path):
    return FIRST_VISITOR.greet()
'''


class _Narrator:
    def __init__(self) -> None:
        self.step = 0

    def say(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}")

    def show(self, text: str) -> None:
        print(textwrap.indent(text, "     "))


def _serve(handle: Callable[[str], str]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with vi.pinned():  # one request sees one version of the code
                body = handle(self.path).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-http", daemon=True)
    thread.start()
    return server, thread


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    importlib.invalidate_caches()


def _restart_cost(directory: str) -> float:
    """Seconds for a fresh interpreter to start and import the service: the least a restart costs."""
    env = dict(os.environ, PYTHONPATH=directory)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import demo_shop.app"], env=env, check=True,
                       stdin=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    """Run the tour; return the exit code."""
    narrator = _Narrator()
    directory = tempfile.mkdtemp(prefix="versioned_import-demo-")
    package = os.path.join(directory, "demo_shop")
    os.makedirs(package)
    greeting_path = os.path.join(package, "greeting.py")
    _write(os.path.join(package, "__init__.py"), "")
    _write(greeting_path, _GREETING_V1)
    _write(os.path.join(package, "app.py"), _APP)
    sys.path.insert(0, directory)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    print("versioned_import demo: a running HTTP service takes new code without a restart.")
    # The tour narrates every reload itself: its log lines would only repeat it on stderr.
    quiet = logging.NullHandler()
    logging.getLogger("versioned_import").addHandler(quiet)
    try:
        vi.install(roots=[directory])
        app = importlib.import_module("demo_shop.app")
        greeting = importlib.import_module("demo_shop.greeting")
        server, thread = _serve(lambda path: app.handle(path))
        url = f"http://127.0.0.1:{server.server_address[1]}/"

        narrator.say(f"The service is up at {url} (code in {package}). A request:")
        narrator.show(_get(url))
        kept = greeting.Greeter("an object created before the edit")

        narrator.say("Edit demo_shop/greeting.py under the running server (new greeting, new method), then reload:")
        _write(greeting_path, _GREETING_V2)
        report = vi.reload_changed()
        narrator.show(f"reloaded {', '.join(report.reloaded)} in {report.elapsed * 1000:.1f} ms "
                      f"(generation {vi.generation('demo_shop.greeting')}); no restart, same process")
        narrator.say("The next request runs the new code:")
        narrator.show(_get(url))
        narrator.say("Objects taken before the edit follow it too (same class object, new method):")
        narrator.show(f"kept.greet() -> {kept.greet()}")
        narrator.show(f"isinstance(kept, greeting.Greeter) -> {isinstance(kept, greeting.Greeter)}")

        narrator.say("A broken edit (a syntax error) is refused, and the service keeps answering:")
        _write(greeting_path, _GREETING_BROKEN)
        try:
            vi.reload_changed()
        except vi.ReloadError as error:
            narrator.show(f"ReloadError: {error}")
        narrator.show(f"request -> {_get(url)}")

        narrator.say("Fix the file and reload:")
        _write(greeting_path, _GREETING_V3)
        report = vi.reload_changed()
        latency = report.elapsed
        narrator.show(f"reloaded in {latency * 1000:.1f} ms -> {_get(url)}")

        narrator.say("Changed your mind? Roll back to the previous generation (no module code runs):")
        number = vi.rollback("demo_shop.greeting")
        narrator.show(f"generation {number} -> {_get(url)}")

        narrator.say("What a restart would have cost instead:")
        restart = _restart_cost(directory)
        narrator.show(f"reload: {latency * 1000:.1f} ms   restart (new interpreter + import, before any of your "
                      f"start-up work): {restart * 1000:.0f} ms   -> {restart / max(latency, 1e-9):.0f}x faster, "
                      "and no connection was dropped")
        print("\nNext: `python -m versioned_import run your_script.py` runs any program like this. See README.md.")
        return 0
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
            if thread is not None:
                thread.join(5)
        vi.uninstall()
        logging.getLogger("versioned_import").removeHandler(quiet)
        for name in [n for n in sys.modules if n == "demo_shop" or n.startswith("demo_shop.")]:
            try:
                vi.unload(name)
            except vi.NotVersionedError:
                sys.modules.pop(name, None)
        if directory in sys.path:
            sys.path.remove(directory)
        shutil.rmtree(directory, ignore_errors=True)
