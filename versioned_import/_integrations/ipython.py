"""The IPython/Jupyter extension: ``%load_ext versioned_import``.

Loading it installs the finder (roots: the working directory, unless
``versioned_import.install()`` was already called with a scope of its own),
versions the modules in that scope imported before it (``_reload.adopt``;
one line names them, and one names each module it cannot version and why),
and before each cell reloads the versioned modules whose files changed, all-or-
nothing. Each reload, refusal or rollback is one line printed *before* the
cell runs, so it lands above the cell's output: reports and library log
records that arrive from other threads (a watcher) wait for the next cell
instead of printing into the prompt. A refusal is printed once; the same bytes are not retried until a file
changes again. After ``%vi_rollback`` the files rolled back from are left alone
until they are saved again: the library holds them (G9), as for the watcher.

Magics: ``%vi_reload [module ...]`` (no names: whatever changed),
``%vi_rollback module`` and ``%vi_generations``.

Like the watcher, the extension decides once for a group of processes: in a
kernel with the control channel on that forked workers (a ``multiprocessing``
pool), the reloads and rollbacks before cells and from the magics are the
coordinated ones over it and its workers, all or none (``_runtime.group``).

IPython itself is never imported here: the shell object IPython passes in is
all this module uses (``events.register``, ``register_magic_function``,
``magics_manager``), so importing versioned_import costs nothing in a plain
interpreter.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from .. import _api, _reload
from .._core.state import state
from .._report import ReloadReport, terminal_line
from .._runtime import group

__all__ = ["load_ipython_extension", "unload_ipython_extension", "Extension"]



class _Waiting(logging.Handler):
    """Queues the library's log records (a failed on_reload callback, a watcher error) for the next cell."""

    def __init__(self, extension: Extension) -> None:
        super().__init__(logging.WARNING)
        self.extension = extension

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "refusal", False) or getattr(record, "report", None) is not None:
            return  # a report's own line: the extension's on_reload subscriber prints it
        self.extension.wait_for_cell(f"[versioned_import] {self.format(record)}", True)


class Extension:
    """The extension's state for one shell: its magics, its pre-cell hook, the lines waiting to print."""

    def __init__(self, shell: Any, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.shell = shell
        self._out = out
        self._err = err
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, bool]] = []  # (line, is a refusal), in arrival order
        # Sets of (module, source digest) refused before a cell: not retried until a file changes again.
        self._refused: set[frozenset[tuple[str, bytes]]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._installed_here = False
        self._log_handler = _Waiting(self)
        self.magics: dict[str, Callable[[str], object]] = {
            "vi_reload": self.reload_magic,
            "vi_rollback": self.rollback_magic,
            "vi_generations": self.generations_magic,
        }

    # -- lifecycle ----------------------------------------------------------------

    def load(self) -> None:
        """Install the finder unless it is, version what was imported before, subscribe, register hook and magics."""
        if state.finder is None:
            _api.install(roots=[os.getcwd()])
            self._installed_here = True
        # In a notebook the imports often come first: version what is in scope already, name what cannot be.
        adopted, refused = _reload.adopt_imported(state, list(sys.modules.values()))
        if adopted:
            print(f"[versioned_import] versioning {len(adopted)} module{'s' * (len(adopted) != 1)} imported before "
                  f"%load_ext: {', '.join(adopted)}", file=self._out or sys.stdout, flush=True)
        for name, reason in refused.items():
            print(f"[versioned_import] {name} was imported before %load_ext and cannot be versioned, so it will "
                  f"not be reloaded: {reason} — restart the kernel and load the extension first",
                  file=self._err or sys.stderr, flush=True)
        self._unsubscribe = _api.on_reload(self._arrived)
        # With no handler, logging's last resort would print from the watcher's thread into the prompt.
        logging.getLogger("versioned_import").addHandler(self._log_handler)
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        for name, magic in self.magics.items():
            self.shell.register_magic_function(magic, magic_kind="line", magic_name=name)

    def unload(self) -> None:
        """Remove what ``load`` added; safe to call twice."""
        if self._unsubscribe is None:
            return  # not loaded
        self.shell.events.unregister("pre_run_cell", self.pre_run_cell)
        line_magics = self.shell.magics_manager.magics["line"]
        for name, magic in self.magics.items():
            if line_magics.get(name) == magic:
                del line_magics[name]
        self._unsubscribe()
        self._unsubscribe = None
        logging.getLogger("versioned_import").removeHandler(self._log_handler)
        if self._installed_here:
            _api.uninstall()  # proxies already imported keep working
            self._installed_here = False

    # -- printing -------------------------------------------------------------------

    def _arrived(self, report: ReloadReport) -> None:
        # Any thread may publish; the line waits for the main thread's next flush().
        if report.error is None and not report.reloaded:
            return
        self.wait_for_cell(terminal_line(report), report.error is not None)

    def wait_for_cell(self, line: str, to_stderr: bool) -> None:
        """Keep ``line`` for the next flush (before the next cell, or after a magic)."""
        with self._lock:
            self._waiting.append((line, to_stderr))

    def flush(self) -> None:
        """Print the lines that arrived since the last flush: reloads to stdout, refusals to stderr."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for line, refusal in waiting:
            stream = (self._err or sys.stderr) if refusal else (self._out or sys.stdout)
            print(line, file=stream, flush=True)

    # -- before each cell -------------------------------------------------------------

    def reload_changed(self) -> None:
        """Reload what changed since the last cell; a refusal of the same bytes is not retried."""
        sources = _reload.changed_sources(state)
        if not sources:
            return
        fingerprint = _fingerprint(sources)
        if fingerprint in self._refused:
            return
        outcome = group.reload(state, list(sources))
        if outcome.error is not None and not outcome.transient:
            self._refused.add(fingerprint)  # the report (and its line) went to _arrived

    def pre_run_cell(self, info: object = None) -> None:
        self.reload_changed()
        self.flush()

    # -- magics ---------------------------------------------------------------------------

    def reload_magic(self, line: str) -> None:
        """%vi_reload [module ...]: reload the modules (and their dependents); no names: what changed."""
        outcome = group.reload(state, line.split() or None)
        if outcome.error is not None:
            self._forget_waiting_refusal()
            print(f"[versioned_import] {outcome.error}", file=self._err or sys.stderr, flush=True)
            return
        self.flush()
        if not outcome.published:
            held = _reload.held(state)
            print("[versioned_import] nothing changed" + (
                f" (held back by a rollback: {', '.join(held)}; %vi_reload {' '.join(held)} takes the file)"
                if held else ""), file=self._out or sys.stdout, flush=True)

    def rollback_magic(self, line: str) -> None:
        """%vi_rollback module: undo the last reload of module (every module it published)."""
        names = line.split()
        if len(names) != 1:
            print("usage: %vi_rollback module", file=self._err or sys.stderr, flush=True)
            return
        outcome = group.rollback(state, names[0])
        if outcome.error is not None:
            self._forget_waiting_refusal()
            print(f"[versioned_import] {outcome.error}", file=self._err or sys.stderr, flush=True)
            return
        # The files still hold the code rolled back from: the library leaves them alone until saved again.
        self.flush()

    def generations_magic(self, line: str) -> None:
        """%vi_generations: each versioned module with its current generation and file."""
        records = _reload.versioned_records(state)
        out = self._out or sys.stdout
        if not records:
            print("[versioned_import] no versioned module is imported yet", file=out, flush=True)
            return
        width = max(len(r.name) for r in records)
        for record in sorted(records, key=lambda r: r.name):
            print(f"{record.name.ljust(width)}  gen {record.generation:<3}  {record.path}", file=out)
        out.flush()

    def _forget_waiting_refusal(self) -> None:
        # The magic prints the full refusal message itself; the short line would repeat it.
        with self._lock:
            self._waiting = [(line, refusal) for line, refusal in self._waiting if not refusal]


def _fingerprint(sources: dict[str, Any]) -> frozenset[tuple[str, bytes]]:
    return frozenset((name, b"<unreadable>" if source is None else source.digest) for name, source in sources.items())


_extensions: dict[int, Extension] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext versioned_import``: install the finder, the pre-cell reload and the magics."""
    if id(ipython) in _extensions:
        return
    extension = Extension(ipython)
    extension.load()
    _extensions[id(ipython)] = extension


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext versioned_import``: remove what loading added."""
    extension = _extensions.pop(id(ipython), None)
    if extension is not None:
        extension.unload()
