"""Whether some process holds a file open for writing: asked of the kernel, not guessed from timestamps (G11).

A save in place (truncate, then write) can be caught between the two; no
rule on sizes or modification times can tell a writer that paused from a
finished file. The kernel can: on Linux a *read lease* (``fcntl(F_SETLEASE,
F_RDLCK)``) is granted only while no process, this one included, has the
file open for writing, and refused with ``EAGAIN`` otherwise. The lease is
released at once: it is a question, not a lock.

While the lease exists (microseconds), a process opening the file for
writing waits for its release, and the kernel signals this process. The
signal is set to ``SIGURG``, whose default action is to ignore it, so that
the default ``SIGIO`` cannot end the program.

Where the answer is unknown — another system, a file owned by another user
(leases need ownership), a filesystem or configuration without leases —
``open_for_writing`` returns None and the caller decides otherwise.
"""

from __future__ import annotations

import errno
import signal
import sys

__all__ = ["open_for_writing"]

try:
    import fcntl
except ImportError:  # not a Unix
    fcntl = None  # type: ignore[assignment]

_SUPPORTED = sys.platform.startswith("linux") and fcntl is not None and hasattr(fcntl, "F_SETLEASE")
_SIGNAL = getattr(signal, "SIGURG", 0)  # ignored unless the program handles it


def open_for_writing(fd: int) -> bool | None:
    """Return whether any process has the file behind ``fd`` (opened read-only) open for writing; None if unknown."""
    if not _SUPPORTED:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, _SIGNAL)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        if exc.errno == errno.EAGAIN:
            return True  # a writer has it open (or it is mapped for writing)
        return None  # EACCES (another owner), EINVAL (no leases here): the kernel cannot say
    # Releasing cannot fail on a lease just granted; closing the descriptor (the caller does) releases it too.
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    return False
