"""Change notifications from the kernel (Linux inotify, through ctypes), so that the watcher need not poll.

The watcher subscribes to the directories that hold versioned source files
and sleeps until an entry in one of them is written, moved in, created,
removed or has its attributes changed: it wakes within milliseconds of a save,
and costs nothing while nothing changes. Directories, not files, are watched,
because editors that save by writing a new file and renaming it over the old
one replace the file a per-file watch would follow.

Notifications say *when* to look, and whether a write is finished: a file
is being written from its first modification (or creation) until its
writer closes it (``IN_CLOSE_WRITE``), and a file renamed into place
(``IN_MOVED_TO``) arrives finished. What changed is still decided by reading
the bytes (``_reload.changed_sources``). Where inotify is not
available (another system, a C library without it, the per-user watch limit
reached), ``Notifier.create()`` returns None and the watcher polls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
from collections.abc import Iterable

__all__ = ["Notifier"]

_IN_MODIFY = 0x00000002
_IN_ATTRIB = 0x00000004
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_DELETE = 0x00000200
_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = getattr(os, "O_CLOEXEC", 0o2000000)

_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
         | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR)
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name, NUL-padded)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None  # no C library we can load, or one without inotify: the watcher polls
    return libc


class Notifier:
    """One inotify instance: watch directories, wait for changes in them, be woken to stop."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc = libc
        self._fd = fd
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._by_directory: dict[str, int] = {}
        self._by_descriptor: dict[int, str] = {}

    @classmethod
    def create(cls) -> Notifier | None:
        """Return a notifier, or None where the kernel offers none (then poll)."""
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            return None  # EMFILE: the per-user limit of inotify instances is reached
        return cls(libc, fd)

    def watch(self, directories: Iterable[str]) -> tuple[int, set[str]]:
        """Watch exactly ``directories``; return how many were added, and those that cannot be watched now.

        Raises ``OSError`` (ENOSPC) when the kernel refuses more watches
        (``fs.inotify.max_user_watches``): then only polling is left.
        """
        wanted = set(directories)
        for directory in [d for d in self._by_directory if d not in wanted]:
            descriptor = self._by_directory.pop(directory)
            self._by_descriptor.pop(descriptor, None)
            self._libc.inotify_rm_watch(self._fd, descriptor)
        missing = set()
        added = 0
        for directory in wanted - self._by_directory.keys():
            descriptor = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), _MASK)
            if descriptor < 0:
                code = ctypes.get_errno()
                if code == errno.ENOSPC:
                    raise OSError(code, "the inotify watch limit is reached (fs.inotify.max_user_watches)")
                missing.add(directory)  # the watcher's own scans report a file that is gone
                continue
            self._by_directory[directory] = descriptor
            self._by_descriptor[descriptor] = directory
            added += 1
        return added, missing

    def wait(self, timeout: float) -> dict[str, bool | None] | None:
        """Wait up to ``timeout`` seconds; return the paths whose entries changed, or None if events were lost
        or a watched directory went away (then only a full scan is safe).

        Each path maps to what its last events say of a write: True while it is
        being written, False once finished (closed after writing, or renamed
        into place), None when they say nothing of it (attributes, removal).
        """
        ready, _, _ = select.select([self._fd, self._wake_read], [], [], timeout)
        if self._wake_read in ready:
            try:
                os.read(self._wake_read, 512)
            except BlockingIOError:
                pass  # another reader drained it: the wake-up was delivered all the same
        if self._fd not in ready:
            return {}
        return self._read_events()

    def _read_events(self) -> dict[str, bool | None] | None:
        paths: dict[str, bool | None] | None = {}
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return paths
            offset = 0
            while offset + _EVENT.size <= len(data):
                descriptor, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size:offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                if mask & _IN_Q_OVERFLOW:
                    paths = None  # the kernel dropped events: only a full scan is safe
                    continue
                directory = self._by_descriptor.get(descriptor)
                if mask & (_IN_IGNORED | _IN_MOVE_SELF | _IN_DELETE_SELF):
                    # The directory itself went away or was moved (a checkout replacing it): its
                    # watch no longer follows the path. Forget it and say "scan everything"; the
                    # next watch() adds the path back if it is still wanted.
                    if directory is not None:
                        self._by_descriptor.pop(descriptor, None)
                        self._by_directory.pop(directory, None)
                        if not mask & _IN_IGNORED:
                            self._libc.inotify_rm_watch(self._fd, descriptor)
                    paths = None
                    continue
                if directory is not None and paths is not None:
                    path = os.path.join(directory, os.fsdecode(name)) if name else directory
                    if mask & (_IN_CLOSE_WRITE | _IN_MOVED_TO):
                        paths[path] = False
                    elif mask & (_IN_MODIFY | _IN_CREATE):
                        paths[path] = True
                    else:
                        paths.setdefault(path, None)

    def wake(self) -> None:
        """Make a ``wait`` in another thread return now."""
        try:
            os.write(self._wake_write, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is pending anyway) or already closed

    def close(self) -> None:
        """Release the inotify instance and the wake-up pipe; safe to call twice."""
        for fd in (self._fd, self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass  # already closed
        self._fd = self._wake_read = self._wake_write = -1
