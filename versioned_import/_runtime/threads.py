"""The library's own threads (watcher, control channel, signal reloader) stay out of the program's signals."""

from __future__ import annotations

import signal

__all__ = ["quiet_thread"]

# Signals that the thread causing them must take (faults): never blocked.
_SYNCHRONOUS = {getattr(signal, name) for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS",
                                                    "SIGABRT") if hasattr(signal, name)}


def quiet_thread() -> None:
    """Block asynchronous signals in the calling thread (one of ours).

    The kernel hands a process signal to any thread that does not block it,
    and CPython runs Python handlers only in the main thread: a signal landing
    on one of our threads would not interrupt a main thread blocked in a
    system call (``sys.stdin.read()``, ``accept()``), so neither Ctrl-C nor
    the reload signal would act. Blocked here, they go to the program's threads.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - _SYNCHRONOUS)
