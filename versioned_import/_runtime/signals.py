"""Reload on a signal (``install(reload_signal=signal.SIGHUP)``), for process managers (G14).

The handler runs in the main thread between two bytecodes, possibly while
that thread holds one of our locks or is inside a reload, so it does nothing
but write one byte to a pipe (no lock, no allocation that could block). A
daemon thread reads the pipe and runs the reload it was given (``_api``:
what changed, here and in the workers forked from here); a refusal is logged
(logger ``versioned_import``) and reported to ``on_reload`` subscribers like
any other. Signals that arrive while a reload runs coalesce into one more.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from .._errors import ReloadError
from .threads import quiet_thread

__all__ = ["SignalReloader"]

log = logging.getLogger("versioned_import")

class SignalReloader:
    """Owns the handler of one signal and the thread that reloads when it arrives."""

    def __init__(self, signum: int, action: Callable[[], object]) -> None:
        self.signum = signum
        self._action = action
        self.received = 0
        self._previous: Any = None
        self._read, self._write = -1, -1

    def start(self) -> SignalReloader:
        """Install the handler (main thread only) and start the reloading thread."""
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("install(reload_signal=...) must be called from the main thread: only it can set "
                             "signal handlers")
        self._open()
        try:
            self._previous = signal.signal(self.signum, self._handler)
        except (ValueError, OSError) as exc:
            self._close()
            raise ValueError(f"install(reload_signal={self.signum!r}): that signal cannot be caught ({exc})") from exc
        return self

    def _open(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._thread = threading.Thread(target=self._run, args=(self._read,), name="versioned_import-signal",
                                        daemon=True)
        self._thread.start()

    def _close(self) -> None:
        for fd in (self._write, self._read):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._read = self._write = -1

    def alive(self) -> bool:
        return self._write >= 0 and self._thread.is_alive()

    def _handler(self, signum: int, frame: object) -> None:
        try:
            os.write(self._write, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a reload is already due) or being replaced after a fork

    def _run(self, read: int) -> None:
        quiet_thread()
        while True:
            try:
                data = os.read(read, 4096)  # several signals at once: one reload
            except OSError:
                return
            if not data:
                return  # the write end was closed: stopped
            self.received += len(data)
            try:
                self._action()
            except ReloadError as error:
                log.error("%s", error, extra={"refusal": True})
            except Exception:
                log.exception("versioned_import reload on signal %d failed", self.signum)

    def stop(self) -> None:
        """Put the previous handler back (from the main thread) and stop the thread; safe to call twice."""
        if self._write < 0:
            return
        if threading.current_thread() is threading.main_thread() and signal.getsignal(self.signum) == self._handler:
            signal.signal(self.signum, self._previous)
        write, self._write = self._write, -1
        os.close(write)  # the thread reads EOF and ends
        self._thread.join()
        os.close(self._read)
        self._read = -1

    def respawn(self) -> SignalReloader:
        """In a forked child: a pipe and thread of its own; the handler (this object's) stays installed."""
        self._close()  # the parent's pipe: the child must not wake the parent's thread
        self._open()
        return self
