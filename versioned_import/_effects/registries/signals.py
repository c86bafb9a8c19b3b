"""Signal handlers a module's code installs with ``signal.signal``.

Intercepted while a module that mentions ``signal`` executes. In a reload the
new handler is installed at the publish, not while the new code runs, and
from any thread: CPython lets only the main thread call ``signal.signal``, so a
reload on another thread (the watcher, the control channel) hands the call to
the main thread as a *pending call* (``Py_AddPendingCall``), which the main
thread runs between two bytecodes, before it runs any Python signal handler.
A handler that is a continued function of the module (the same definition)
needs nothing at all: the function object installed is the newest
definition itself (G7).
"""

from __future__ import annotations

import collections
import ctypes
import logging
import signal
import threading
import types
from dataclasses import dataclass
from typing import Any

from ..recording import InterceptingEntry, Interception, current

__all__ = ["SignalEntry", "set_handler"]

log = logging.getLogger("versioned_import")

_signal = signal.signal
_queue: collections.deque[tuple[int, Any]] = collections.deque()
_queue_lock = threading.Lock()


def _run_pending(_: object) -> int:
    # In the main thread, holding the GIL, between two bytecodes. Never raises: a pending call that
    # fails would raise its exception in whatever the main thread was running.
    while True:
        with _queue_lock:
            if not _queue:
                return 0
            signum, handler = _queue.popleft()
        try:
            _signal(signum, handler)
        except Exception:
            log.exception("installing the handler of signal %s in the main thread failed", signum)


_PENDING = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(_run_pending)
_add_pending_call = ctypes.pythonapi.Py_AddPendingCall
_add_pending_call.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_add_pending_call.restype = ctypes.c_int


def set_handler(signum: int, handler: Any) -> None:
    """Install ``handler`` for ``signum``: now on the main thread, else as soon as the main thread runs Python."""
    if threading.current_thread() is threading.main_thread():
        _signal(signum, handler)
        return
    with _queue_lock:
        _queue.append((signum, handler))
    if _add_pending_call(ctypes.cast(_PENDING, ctypes.c_void_p), None) != 0:
        log.error("the handler of signal %s could not be handed to the main thread (its pending calls are full); "
                  "it will be installed with the next one", signum)


def _same_definition(installed: Any, handler: Any) -> bool:
    # A continued function (G7) is the newest definition itself: the object installed by an older
    # generation needs no replacing by the new generation's object of the same definition.
    if installed is handler:
        return True
    return isinstance(installed, types.FunctionType) and isinstance(handler, types.FunctionType) \
        and installed.__module__ == handler.__module__ and installed.__qualname__ == handler.__qualname__


@dataclass(eq=False)
class HandlerSet:
    signum: int
    before: Any
    handler: Any
    applied: bool = False
    retract_before: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return ("signal", self.signum)

    def retract(self) -> None:
        if self.applied and _same_definition(signal.getsignal(self.signum), self.handler) \
                and not _same_definition(self.before, self.handler):
            set_handler(self.signum, self.before)
        self.applied = False

    def restore(self) -> None:
        if not _same_definition(signal.getsignal(self.signum), self.handler):
            set_handler(self.signum, self.handler)
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"handler {getattr(self.handler, '__qualname__', self.handler)!r} of signal {self.signum}"


def signal_(signalnum: int, handler: Any, /) -> Any:
    """``signal.signal`` while a versioned module executes: recorded, and deferred inside a reload."""
    recording = current.get()
    if recording is None:
        return _signal(signalnum, handler)
    before = signal.getsignal(signalnum)
    effect = HandlerSet(int(signalnum), before, handler)
    if recording.reloading:
        if not isinstance(handler, int) and not callable(handler):
            raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object")
        recording.intercepted.append(effect)
        return before  # as signal.signal answers: the handler installed until now
    result = _signal(signalnum, handler)
    effect.applied = True
    recording.intercepted.append(effect)
    return result


class SignalEntry(InterceptingEntry):
    library: str = "signal"
    markers: tuple[str, ...] = ("signal",)
    interception = Interception(signal, "signal", signal_)
