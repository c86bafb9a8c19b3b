"""The control server: a running process answers reload, rollback and status requests from its owner (G14).

One daemon thread accepts connections on the process's socket (see
``_channel`` for where it lives and who may connect); each connection is
served by a short-lived thread, at most ``MAX_CONNECTIONS`` at once. A
request names one verb from ``VERBS`` and only the fields that verb takes;
anything else is answered with an error and changes nothing.

``stage`` is the first step of a coordinated reload (``_coordinate``): the new
generations execute privately, the reply lists the source hashes they were
executed from, and the same connection then carries ``publish`` or
``abandon``. Silence (``decision_timeout``), a closed connection or anything
else abandons: a worker never publishes on its own. ``stage-rollback`` is the
same for a rollback: what would go back, and the sources it would run.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import select
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from .. import _reload
from .._core.state import State
from .._errors import ReloadError, error_location
from .._report import ReloadReport
from . import channel as _channel
from .threads import quiet_thread

__all__ = ["ControlServer", "VERBS", "report_json", "error_json"]

log = logging.getLogger("versioned_import")

MAX_CONNECTIONS = 8
REQUEST_TIMEOUT = 5.0  # seconds a client has to send its request once connected
MAX_DECISION_TIMEOUT = 300.0


# -- replies ------------------------------------------------------------------------

def error_json(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"type": kind, "message": message, **extra}}


def _refusal_json(error: ReloadError) -> dict[str, Any]:
    cause = error.__cause__
    where = error_location(cause, error.path) if cause is not None and error.path else error.path
    return error_json(type(error).__name__, str(error), module=error.module, path=error.path, location=where,
                      cause=type(cause).__name__ if cause is not None else None)


def report_json(report: ReloadReport) -> dict[str, Any]:
    """Turn a report into the JSON a deploy tool reads."""
    return {"ok": report.ok, "action": report.action, "reloaded": list(report.reloaded),
            "generations": dict(report.generations), "elapsed_ms": round(report.elapsed * 1000, 3),
            "replaced": [str(item) for item in report.replaced], "held": list(report.held),
            "unloaded": list(report.unloaded)}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _contents(state: State) -> dict[str, dict[str, Any]]:
    with state.lock:
        records = [r for r in state.records.values() if r.current is not None]
    return {r.name: {"generation": r.generation, "path": r.path,
                     "sha256": _digest(r.current.source.data) if r.current and r.current.source else None}
            for r in records}


# -- request fields -------------------------------------------------------------------

def _names(value: object) -> bool:
    return isinstance(value, list) and len(value) <= 10_000 and all(
        isinstance(n, str) and 0 < len(n) <= 1000 for n in value)


def _name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1000


def _dependents(value: object) -> bool:
    return isinstance(value, bool) or value == "all"


def _seconds(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= MAX_DECISION_TIMEOUT


_FIELD_HELP: dict[Callable[[object], bool], str] = {
    _names: "a list of dotted module names", _name: "one dotted module name",
    _dependents: 'true, false or "all"',
    _seconds: f"a number of seconds, at most {MAX_DECISION_TIMEOUT:g}"}


# -- verbs ----------------------------------------------------------------------------

def _status(server: ControlServer, conn: socket.socket, message: dict[str, Any]) -> dict[str, Any]:
    state = server.state
    watcher = state.watcher
    return {"ok": True, "pid": os.getpid(), "parent": server.parent, "python": sys.version.split()[0],
            "watching": watcher is not None and watcher.alive(), "leader_watches": server.leader_watches,
            "modules": _contents(state), "changed": _reload.changed(state), "held": _reload.held(state)}


def _reload_names(server: ControlServer, conn: socket.socket, message: dict[str, Any]) -> dict[str, Any]:
    if not message.get("names"):
        return error_json("BadRequest", "reload needs at least one module name; use reload-changed for "
                                        "whatever changed")
    return report_json(_reload.reload(server.state, message["names"], dependents=message.get("dependents", True)))


def _reload_changed(server: ControlServer, conn: socket.socket, message: dict[str, Any]) -> dict[str, Any]:
    return report_json(_reload.reload_changed(server.state, dependents=message.get("dependents", True)))


def _rollback(server: ControlServer, conn: socket.socket, message: dict[str, Any]) -> dict[str, Any]:
    name = message.get("name")
    if name is None:
        return error_json("BadRequest", "rollback needs \"name\": the dotted name of one module")
    return report_json(_reload.stage_rollback(server.state, name).publish())


class _NothingStaged:
    """A rollback staged in a process that never imported the module: nothing to publish, nothing held."""

    def publish(self) -> ReloadReport:
        return ReloadReport(action="rollback")

    def abandon(self) -> None:
        pass


def _stage(server: ControlServer, conn: socket.socket, message: dict[str, Any]) -> dict[str, Any] | None:
    state = server.state
    if "names" in message:
        with state.lock:
            known = [n for n in message["names"] if n in state.records]
        unknown = [n for n in message["names"] if n not in known]
    else:
        known, unknown = _reload.changed(state), []
    # Why each unknown name is not versioned here: the coordinator says it as reload() would.
    reasons = {n: _reload.not_versioned_message(state, "reload", n) for n in unknown}
    staged = _reload.stage(state, known, dependents=message.get("dependents", True))
    return _decide(server, conn, message, staged, staged.sources, unknown, reasons)


def _stage_rollback(server: ControlServer, conn: socket.socket, message: dict[str, Any]) -> dict[str, Any] | None:
    name = message.get("name")
    if name is None:
        return error_json("BadRequest", "stage-rollback needs \"name\": the dotted name of one module")
    if name not in server.state.records:
        return _decide(server, conn, message, _NothingStaged(), {}, [name])
    staged = _reload.stage_rollback(server.state, name)
    return _decide(server, conn, message, staged, staged.sources, [])


def _decide(server: ControlServer, conn: socket.socket, message: dict[str, Any], staged: Any,
            sources: dict[str, Any], unknown: list[str], reasons: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Say what was staged, then publish or abandon it as the coordinator decides (see the module docstring)."""
    try:
        digests = {name: _digest(source.data) for name, source in sources.items()}
        target = {name: entry["sha256"] for name, entry in _contents(server.state).items()}
        target.update(digests)
        _channel.send(conn, {"ok": True, "staged": digests, "unknown": unknown, "reasons": reasons or {},
                             "target": target})
        decision = _channel.receive(conn, _channel.MAX_REQUEST, message.get("decision_timeout", 10.0))
    except BaseException as exc:
        staged.abandon()
        log.warning("coordinated %s abandoned: no decision from the coordinator (%s: %s)",
                    "rollback" if message["verb"] == "stage-rollback" else "reload", type(exc).__name__, exc)
        return None
    if decision == {"verb": "publish"}:
        return report_json(staged.publish())
    staged.abandon()
    if decision == {"verb": "abandon"}:
        return {"ok": True, "action": "abandon", "reloaded": [], "generations": {}, "elapsed_ms": 0.0,
                "replaced": [], "held": []}
    return error_json("BadRequest", "after stage, send {\"verb\": \"publish\"} or {\"verb\": \"abandon\"}; "
                                    "the staged reload was abandoned")


Verb = Callable[["ControlServer", socket.socket, dict[str, Any]], "dict[str, Any] | None"]

# verb -> (handler, {field: validator}). A verb or field that is not here is refused.
VERBS: dict[str, tuple[Verb, dict[str, Callable[[object], bool]]]] = {
    "status": (_status, {}),
    "reload": (_reload_names, {"names": _names, "dependents": _dependents}),
    "reload-changed": (_reload_changed, {"dependents": _dependents}),
    "rollback": (_rollback, {"name": _name}),
    "stage": (_stage, {"names": _names, "dependents": _dependents, "decision_timeout": _seconds}),
    "stage-rollback": (_stage_rollback, {"name": _name, "decision_timeout": _seconds}),
}


def _checked(message: dict[str, Any]) -> tuple[Verb, None] | tuple[None, dict[str, Any]]:
    verb = message.get("verb")
    entry = VERBS.get(verb) if isinstance(verb, str) else None
    if entry is None:
        return None, error_json("BadRequest", f"unknown verb {verb!r}; the verbs are {', '.join(sorted(VERBS))}")
    handler, fields = entry
    for key, value in message.items():
        if key == "verb":
            continue
        check = fields.get(key)
        if check is None:
            allowed = ", ".join(sorted(fields)) or "none"
            return None, error_json("BadRequest", f"{verb} takes no field {key!r} (its fields: {allowed})")
        if not check(value):
            return None, error_json("BadRequest", f"{verb}: {key!r} must be {_FIELD_HELP[check]}")
    return handler, None


# -- the server ---------------------------------------------------------------------

class ControlServer:
    """Listens on this process's socket and answers its owner's requests."""

    def __init__(self, state: State, parent: int = 0, leader_watches: bool = False) -> None:
        if not _channel.SUPPORTED:
            raise _channel.ChannelError("the control channel needs Unix sockets with peer credentials "
                                        "(SO_PEERCRED, Linux); use reload_signal=... or the API instead")
        self.state = state
        self.parent = parent
        # A worker whose leader's watcher decides for it (it runs none of its own; see ``group``).
        self.leader_watches = leader_watches
        self.pid = os.getpid()
        self.directory = _channel.runtime_dir(create=True)
        self.path = os.path.join(self.directory, _channel.socket_name(parent, self.pid))
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._connections: set[socket.socket] = set()  # being served: a forked child must close its copies
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._wake_r, self._wake_w = os.pipe()
        try:
            try:
                os.unlink(self.path)  # a dead process's socket with our pid
            except FileNotFoundError:
                pass
            self._listener.bind(self.path)
            # The directory is 0700, so nobody else reaches the socket before this chmod.
            os.chmod(self.path, 0o600)
            self._inode = os.stat(self.path).st_ino
            self._listener.listen(MAX_CONNECTIONS)
        except OSError as exc:
            self._close_fds()
            raise _channel.ChannelError(f"cannot listen on {self.path}: {exc.strerror}") from exc
        atexit.register(self._remove_at_exit)
        self._thread = threading.Thread(target=self._accept, name="versioned_import-control", daemon=True)

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop accepting and remove the socket; safe to call twice."""
        if self.pid != os.getpid():
            return  # a forked copy: the socket is the parent's (``respawn`` handles the child)
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self._remove_socket()
        self._close_fds()

    def respawn(self) -> ControlServer:
        """In a forked child: drop the parent's listener (not its file) and listen on the child's own socket.

        The copies of connections the parent is serving are closed too, so a
        client still sees the end of its connection when the parent closes it.
        """
        for conn in list(self._connections):
            conn.close()
        self._close_fds()
        return ControlServer(self.state, parent=self.pid, leader_watches=self.leader_watches).start()

    def _remove_at_exit(self) -> None:
        if self.pid == os.getpid():  # a forked child inherits this registration: not its socket
            self._remove_socket()

    def _remove_socket(self) -> None:
        try:
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass

    def _close_fds(self) -> None:
        self._listener.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def _accept(self) -> None:
        quiet_thread()
        while True:
            try:
                waiting: list[Any] = [self._listener, self._wake_r]
                ready, _, _ = select.select(waiting, [], [])
            except (OSError, ValueError):
                return  # closed under us: stopping
            if self._wake_r in ready:
                return
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            if not self._slots.acquire(blocking=False):
                self._answer_busy(conn)
                continue
            threading.Thread(target=self._serve, args=(conn,), name="versioned_import-control-request",
                             daemon=True).start()

    def _answer_busy(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(1.0)
                _channel.send(conn, error_json("Busy", f"already serving {MAX_CONNECTIONS} requests; try again"))
            except OSError:
                pass

    def _serve(self, conn: socket.socket) -> None:
        quiet_thread()
        self._connections.add(conn)
        try:
            with conn:
                reply = self._answer(conn)
                if reply is not None:
                    conn.settimeout(REQUEST_TIMEOUT)
                    _channel.send(conn, reply)
        except OSError as exc:
            log.warning("control request dropped: the client went away (%s)", exc)
        except BaseException:
            log.exception("control request failed")
        finally:
            self._connections.discard(conn)
            self._slots.release()

    def _answer(self, conn: socket.socket) -> dict[str, Any] | None:
        uid = _channel.peer_uid(conn)
        if uid != os.geteuid():
            log.warning("control request from uid %d refused: only uid %d may control process %d",
                        uid, os.geteuid(), self.pid)
            return error_json("PermissionDenied", f"uid {uid} may not control process {self.pid}: only its "
                                                  f"owner (uid {os.geteuid()}) may")
        try:
            message = _channel.receive(conn, _channel.MAX_REQUEST, REQUEST_TIMEOUT)
        except (_channel.BadMessage, TimeoutError, EOFError) as exc:
            return error_json("BadRequest", f"{exc}; nothing was changed")
        handler, refusal = _checked(message)
        if handler is None:
            return refusal
        try:
            return handler(self, conn, message)
        except ReloadError as error:
            return _refusal_json(error)
        except Exception as exc:
            log.exception("control request %r failed", message.get("verb"))
            return error_json("InternalError", f"{type(exc).__name__}: {exc} — please report this with the "
                                               "traceback from the process's log")
