"""Requests from outside a process, and the coordinated reload over a leader and its workers (G14).

``reload(pid)`` addresses a *leader* (the process whose pid is given) and its
*workers*: the processes forked from it, and from them, with the control
channel on (found by socket name, see ``_channel``). With one process it is a
plain ``reload``; with several it is two-phase:

1. every process stages the new generations privately (``stage``) and
   replies with the SHA-256 of every module's source as it will be after
   publishing;
2. only if every process staged, and all of them agree on every module they
   share, is ``publish`` sent to each; otherwise every process is sent
   ``abandon`` (or abandons by itself when the connection drops or the
   decision does not come) and the result says which process refused, timed
   out or died, and why.

``rollback(pid, name)`` is decided the same way: every process works out
what undoing the last reload of ``name`` takes (``stage-rollback``), and
only if all can, and would run the same sources after it, do they publish.

A process that exits before it is asked is not a worker of this reload (it
serves nothing); one that dies while asked refuses it. Publishing in one
process is atomic; across processes the publishes happen within a few
milliseconds of each other, not at one instant, and a publish can still fail
in one process after others published: that outcome is ``partial``.

Every result is a JSON-able dict: ``ok``, ``action``, ``pid``, ``outcome``
(``published``, ``nothing``, ``answered``, ``refused``, ``partial``,
``unreachable``), ``reason`` and ``processes`` (one entry per process).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import channel as _channel

__all__ = ["status", "reload", "rollback", "OUTCOMES"]

# outcome -> exit code of the command line (documented in docs/processes.md)
OUTCOMES = {"published": 0, "nothing": 0, "answered": 0, "refused": 1, "unreachable": 3, "partial": 4}


def _participants(pid: int, only: bool, directory: str) -> list[tuple[int, str]]:
    leader = (pid, "leader")
    if only:
        return [leader]
    found, queue = [leader], [pid]
    while queue and len(found) < 10_000:
        children = _channel.workers(queue.pop(0), directory)
        found += [(child, "worker") for child, _ in children]
        queue += [child for child, _ in children]
    return found


class _Session:
    """One connection to one process, for one or two request/reply exchanges."""

    def __init__(self, pid: int, role: str, directory: str, timeout: float) -> None:
        self.pid, self.role, self.timeout = pid, role, timeout
        self.directory = directory
        self.sock: socket.socket | None = None
        self.reply: dict[str, Any] = {}  # empty until the process answers
        self.failure: str | None = None  # why this process gave no usable reply
        self.gone = False  # exited before it was asked: not a participant

    def ask(self, message: dict[str, Any], keep_open: bool = False) -> None:
        try:
            if self.sock is None:
                try:
                    self.sock = _channel.connect(self.pid, self.directory, self.timeout)
                except _channel.Unreachable as exc:
                    self.gone = self.role == "worker" and not _channel.alive(self.pid)
                    raise exc
            try:
                _channel.send(self.sock, message, _channel.MAX_REQUEST)
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered before it read our request (a refusal): the answer is still there to read
            self.reply = _channel.receive(self.sock, _channel.MAX_REPLY, self.timeout)
        except _channel.Unreachable as exc:
            self.failure = str(exc)
        except TimeoutError:
            self.failure = f"no answer within {self.timeout:g} s"
        except (EOFError, ConnectionError, BrokenPipeError):
            self.failure = ("died (the connection closed without an answer)" if _exits(self.pid)
                            else "closed the connection without an answer")
        except (_channel.BadMessage, OSError) as exc:
            self.failure = f"unusable answer: {exc}"
        finally:
            # A refusal ends the session on the server's side too.
            if not keep_open or self.failure is not None or not (self.reply or {}).get("ok"):
                self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"pid": self.pid, "role": self.role}
        if self.failure is not None:
            entry.update(ok=False, error={"type": "Unreachable", "message": self.failure})
        elif self.reply:
            entry.update(self.reply)
        return entry


def _exits(pid: int, within: float = 2.0) -> bool:
    """Whether ``pid`` is gone within ``within`` seconds: a dying process closes its sockets before it exits."""
    deadline = time.monotonic() + within
    pause = threading.Event()
    while _channel.alive(pid):
        if time.monotonic() > deadline:
            return False
        pause.wait(0.005)
    return True


def _all(sessions: list[_Session], ask: Callable[[_Session], None]) -> None:
    threads = [threading.Thread(target=ask, args=(s,), daemon=True) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _result(action: str, pid: int, outcome: str, reason: str | None, sessions: Iterable[_Session],
            **extra: Any) -> dict[str, Any]:
    return {"ok": OUTCOMES[outcome] == 0, "action": action, "pid": pid, "outcome": outcome, "reason": reason,
            "processes": [s.entry() for s in sessions if not s.gone], **extra}


def _error_text(entry: dict[str, Any]) -> str:
    return _errors_text([entry])


def _errors_text(entries: list[dict[str, Any]]) -> str:
    """One clause per distinct error: ``pid 12 (leader), pid 13 (worker): message``."""
    by_message: dict[str, list[str]] = {}
    for entry in entries:
        message = (entry.get("error") or {}).get("message", "no reason given")
        by_message.setdefault(message, []).append(f"pid {entry['pid']} ({entry['role']})")
    return "; ".join(f"{', '.join(who)}: {message}" for message, who in by_message.items())


def _open(pid: int, only: bool, timeout: float, directory: str | None) -> tuple[str, list[_Session]]:
    directory = directory or _channel.runtime_dir()
    return directory, [_Session(p, role, directory, timeout) for p, role in _participants(pid, only, directory)]


def status(pid: int, *, only: bool = False, timeout: float = 30.0, directory: str | None = None) -> dict[str, Any]:
    """Ask the leader and its workers for their generations and source hashes."""
    directory, sessions = _open(pid, only, timeout, directory)
    _all(sessions, lambda s: s.ask({"verb": "status"}))
    leader = sessions[0]
    if leader.failure is not None:
        return _result("status", pid, "unreachable", leader.failure, sessions[:1])
    answered = [s for s in sessions if not s.gone]
    hashes: dict[str, set[str]] = {}
    for s in answered:
        for name, module in ((s.reply or {}).get("modules") or {}).items():
            hashes.setdefault(name, set()).add(module.get("sha256"))
    differing = sorted(name for name, seen in hashes.items() if len(seen) > 1)
    failed = [s.entry() for s in answered if s.failure is not None]
    reason = _errors_text(failed) or None
    return _result("status", pid, "answered", reason, answered, consistent=not differing and not failed,
                   differing=differing)


def reload(pid: int, names: Iterable[str] = (), *, only: bool = False, dependents: bool | str = True,
           timeout: float = 30.0, directory: str | None = None) -> dict[str, Any]:
    """Reload ``names`` (or whatever changed) in the leader and all its workers, or in none of them."""
    names = list(names)
    directory, sessions = _open(pid, only, timeout, directory)
    if len(sessions) == 1:
        message: dict[str, Any] = {"verb": "reload", "names": names} if names else {"verb": "reload-changed"}
        if dependents is not True:
            message["dependents"] = dependents  # False, or "all"
        leader = sessions[0]
        leader.ask(message)
        if leader.failure is not None:
            return _result("reload", pid, "unreachable", leader.failure, sessions)
        if not leader.reply.get("ok"):
            return _result("reload", pid, "refused", _error_text(leader.entry()), sessions)
        return _result("reload", pid, "published" if leader.reply.get("reloaded") else "nothing", None, sessions)
    stage: dict[str, Any] = {"verb": "stage"}
    if names:
        stage["names"] = names
    if dependents is not True:
        stage["dependents"] = dependents
    return _two_phase("reload", pid, stage, names, timeout, sessions)


def _two_phase(action: str, pid: int, stage: dict[str, Any], names: list[str], timeout: float,
               sessions: list[_Session]) -> dict[str, Any]:
    stage = {**stage, "decision_timeout": min(2 * timeout + 5, 300.0)}
    started = time.perf_counter()
    _all(sessions, lambda s: s.ask(stage, keep_open=True))
    leader = sessions[0]
    if leader.failure is not None:
        _decide(sessions, "abandon")
        return _result(action, pid, "unreachable", leader.failure, sessions)
    taking = [s for s in sessions if not s.gone]
    reason, differing = _why_not(taking, names)
    if reason is not None:
        _decide(taking, "abandon")
        return _result(action, pid, "refused", reason + "; nothing was published anywhere", taking,
                       elapsed_ms=_ms(started), differing=differing)
    if not any(s.reply.get("staged") for s in taking):
        _decide(taking, "abandon")
        for s in taking:
            if s.failure is None and s.reply.get("action") == "abandon":
                # Nothing was staged, so nothing was abandoned: each process reports what one alone would.
                s.reply = {**s.reply, "action": action}
        return _result(action, pid, "nothing", None, taking, elapsed_ms=_ms(started))
    staged = {s.pid: s.reply for s in taking}
    _decide(taking, "publish")
    for s in taking:
        if s.failure is None:
            s.reply = {**s.reply, "staged": staged[s.pid].get("staged", {})}
    failed = [s.entry() for s in taking if s.failure is not None or not s.reply.get("ok")]
    if failed:
        return _result(action, pid, "partial", "published in some processes but not in " +
                       _errors_text(failed) + " — they no longer run one generation: "
                       "reload again, or restart them", taking, elapsed_ms=_ms(started))
    return _result(action, pid, "published", None, taking, elapsed_ms=_ms(started))


def _why_not(sessions: list[_Session], names: list[str]) -> tuple[str | None, list[str]]:
    """Return why the staged processes must not publish (None when they all may), and the modules they read
    differently (a file written meanwhile: worth another try)."""
    failed = [s.entry() for s in sessions if s.failure is not None or not s.reply.get("ok")]
    if failed:
        return "refused by " + _errors_text(failed), []
    unknown = set(names)
    for s in sessions:
        unknown &= set(s.reply.get("unknown", ()))
    if unknown:
        # Not versioned in any process: the leader says why, as reload() says it in a process.
        reasons = sessions[0].reply.get("reasons") or {}
        return "; ".join(reasons.get(name) or f"reload of {name!r} refused: no process has a versioned module of "
                         "that name — check the spelling, and that it was imported" for name in sorted(unknown)), []
    seen: dict[str, dict[str, int]] = {}
    for s in sessions:
        for name, digest in (s.reply.get("target") or {}).items():
            seen.setdefault(name, {}).setdefault(digest, s.pid)
    for name, digests in sorted(seen.items()):
        if len(digests) > 1:
            which = ", ".join(f"pid {p} has sha256 {str(d)[:12]}" for d, p in digests.items())
            return (f"the processes would not run the same source of {name!r} ({which}) — the file probably "
                    "changed while they read it; reload again once it is written"), [name]
    return None, []


def _decide(sessions: list[_Session], verb: str) -> None:
    _all([s for s in sessions if s.sock is not None], lambda s: s.ask({"verb": verb}))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def rollback(pid: int, name: str, *, only: bool = False, timeout: float = 30.0,
             directory: str | None = None) -> dict[str, Any]:
    """Undo the last reload of ``name`` in the leader and all its workers, or in none of them."""
    directory, sessions = _open(pid, only, timeout, directory)
    if len(sessions) == 1:
        leader = sessions[0]
        leader.ask({"verb": "rollback", "name": name})
        if leader.failure is not None:
            return _result("rollback", pid, "unreachable", leader.failure, sessions)
        if not leader.reply.get("ok"):
            return _result("rollback", pid, "refused", _error_text(leader.entry()), sessions)
        return _result("rollback", pid, "published", None, sessions)
    return _two_phase("rollback", pid, {"verb": "stage-rollback", "name": name}, [name], timeout, sessions)
