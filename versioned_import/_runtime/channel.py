"""The control channel's plumbing: where the sockets live, who may connect, and how a message is framed (G14).

Every process with the channel on listens on one Unix socket in a private
runtime directory (mode 0700, owned by the user): ``$VERSIONED_IMPORT_RUNTIME_DIR``,
else ``$XDG_RUNTIME_DIR/versioned_import``, else ``<tempdir>/versioned_import-<uid>``.
A socket is named ``<parent>-<pid>.sock``: ``parent`` is the pid of the process
it was forked from when that process had the channel on (its *leader*), else 0,
so a leader's workers are found by name alone. The socket file is mode 0600,
and the server also checks the peer's uid (``SO_PEERCRED``): only the owner of
the process gets an answer.

A message is one JSON object on one line, at most ``MAX_REQUEST`` bytes for a
request and ``MAX_REPLY`` for a reply, read within a deadline. Messages carry
verbs and module names, never code.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import struct
import tempfile
import time
from typing import Any

__all__ = ["ChannelError", "Unreachable", "BadMessage", "SUPPORTED", "MAX_REQUEST", "MAX_REPLY", "runtime_dir",
           "socket_name", "find", "workers", "peer_uid", "send", "receive", "connect", "alive"]

# Without the peer's credentials the channel could not tell its owner from anyone else.
SUPPORTED = hasattr(socket, "AF_UNIX") and hasattr(socket, "SO_PEERCRED")

MAX_REQUEST = 64 * 1024
MAX_REPLY = 8 * 1024 * 1024
_ENVIRONMENT = "VERSIONED_IMPORT_RUNTIME_DIR"


class ChannelError(Exception):
    """A control request could not be carried out; the message says why and what to do."""


class Unreachable(ChannelError):
    """No process answers: no such pid, no channel, another user's process, or no answer in time."""


class BadMessage(ChannelError):
    """A message that is not one JSON object on one line within the size limit."""


def runtime_dir(create: bool = False) -> str:
    """Return the private directory the sockets live in, creating it (mode 0700) if asked.

    Refuses (``ChannelError``) a directory that another user owns or that others
    can enter: a socket there could be replaced by someone else's.
    """
    path = os.environ.get(_ENVIRONMENT)
    if not path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        if xdg and os.path.isabs(xdg) and os.path.isdir(xdg):
            path = os.path.join(xdg, "versioned_import")
        else:
            path = os.path.join(tempfile.gettempdir(), f"versioned_import-{os.geteuid()}")
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ChannelError(f"cannot create the control directory {path}: {exc.strerror} — set "
                               f"{_ENVIRONMENT} to a directory only you can enter") from exc
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path  # nothing listens yet; callers find no sockets
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise ChannelError(f"the control directory {path} is not private (owner uid {info.st_uid}, mode "
                           f"{stat.filemode(info.st_mode)}; it must be a directory of uid {os.geteuid()} with mode "
                           f"0700) — remove it, or set {_ENVIRONMENT} to a directory only you can enter")
    return path


def socket_name(parent: int, pid: int) -> str:
    return f"{parent}-{pid}.sock"


def _entries(directory: str) -> list[tuple[int, int, str]]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except PermissionError as exc:
        raise Unreachable(f"permission denied on the control directory {directory}: it belongs to another "
                          "user — run this command as the user of the process") from exc
    entries = []
    for name in names:
        stem, _, suffix = name.partition(".")
        parent, dash, pid = stem.partition("-")
        if suffix == "sock" and dash and parent.isdigit() and pid.isdigit():
            entries.append((int(parent), int(pid), os.path.join(directory, name)))
    return entries


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (of any user) and has not exited (a zombie has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            # "pid (comm) S ...": the state follows the last ')' (comm may hold any byte).
            return stream.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:
        return True  # no /proc here: trust kill()


def _prune(entries: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop (and remove) sockets of processes that are gone: ``os._exit`` and kills skip cleanup."""
    living = []
    for entry in entries:
        if alive(entry[1]):
            living.append(entry)
        else:
            try:
                os.unlink(entry[2])
            except FileNotFoundError:
                pass
    return living


def find(pid: int, directory: str) -> str:
    """Return the socket of ``pid``; ``Unreachable`` says why there is none."""
    matches = [e for e in _prune(_entries(directory)) if e[1] == pid]
    if matches:
        return matches[-1][2]
    if not alive(pid):
        raise Unreachable(f"no process has pid {pid} — check the pid (e.g. `pgrep -f yourserver`)")
    raise Unreachable(f"process {pid} has no versioned_import control channel in {directory} — start it with "
                      "install(control=True) or `python -m versioned_import run`, run this command as the "
                      "process's user, and with the same VERSIONED_IMPORT_RUNTIME_DIR / XDG_RUNTIME_DIR")


def workers(pid: int, directory: str) -> list[tuple[int, str]]:
    """Return ``(pid, socket)`` of each live process forked from ``pid`` with the channel on."""
    return sorted((child, path) for parent, child, path in _prune(_entries(directory)) if parent == pid)


def peer_uid(sock: socket.socket) -> int:
    """Return the uid of the process at the other end of a connected Unix socket (Linux ``SO_PEERCRED``)."""
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def send(sock: socket.socket, message: dict[str, Any], limit: int = MAX_REPLY) -> None:
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"
    if len(data) > limit:
        raise BadMessage(f"message of {len(data)} bytes is over the {limit}-byte limit")
    sock.sendall(data)


def receive(sock: socket.socket, limit: int, timeout: float | None) -> dict[str, Any]:
    """Read one message: one JSON object on one line of at most ``limit`` bytes, within ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    data = bytearray()
    while True:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete message within {timeout:g} s")
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(65536, limit + 1 - len(data)))
        except TimeoutError as exc:
            raise TimeoutError(f"no complete message within {timeout:g} s") from exc
        if not chunk:
            if data:
                raise BadMessage("the message ended without a newline: send one JSON object followed by \\n")
            raise EOFError("the other side closed the connection")
        data += chunk
        end = data.find(b"\n")
        if end >= 0:
            if end + 1 != len(data):
                raise BadMessage("one message per line, and nothing after it before the reply")
            break
        if len(data) > limit:
            raise BadMessage(f"message over the {limit}-byte limit")
    try:
        message = json.loads(bytes(data[:end]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadMessage(f"a message is a JSON object, not {type(message).__name__}")
    return message


def connect(pid: int, directory: str, timeout: float) -> socket.socket:
    """Connect to the channel of ``pid``; ``Unreachable`` with the reason if that is impossible."""
    path = find(pid, directory)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except PermissionError as exc:
        sock.close()
        raise Unreachable(f"permission denied on {path}: process {pid} belongs to another user — run this "
                          "command as that user") from exc
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        if not alive(pid):
            raise Unreachable(f"process {pid} exited") from exc
        raise Unreachable(f"process {pid} does not answer on {path} ({exc.strerror}) — it may be shutting down, "
                          "or the socket is stale") from exc
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EAGAIN:
            raise Unreachable(f"process {pid} is too busy to accept a connection; try again") from exc
        raise Unreachable(f"cannot connect to process {pid} at {path}: {exc.strerror}") from exc
    return sock
