"""One decision for a leader and its workers: what the watcher and the IPython extension reload, and where (G11, G14).

A process with the control channel on that forked workers (processes with
channels of their own, named after it: see ``channel``) is their *leader*.
What decides by itself that the code should change — the watcher seeing a
finished save, the IPython extension before a cell, its rollback magic —
decides in the leader for all of them, through the coordinated two-phase
reload or rollback of ``coordinate``: an edit refused in any process is
published in none, and all end on one generation. The workers run no
watcher of their own (``fork``). Without workers, it is this process alone.

Each call returns an ``Outcome`` instead of raising, so that a caller that
retries (the watcher) can tell a refusal of the code from a file caught
mid-save. A refusal is logged and reported to ``on_reload`` subscribers once,
here: by the transaction for this process's own refusal, or as one report
for a refusal that happened in a worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .. import _reload
from .._core.source import Source, SourceChangedWhileReading
from .._core.state import State
from .._errors import ReloadError
from .._report import ReloadReport
from . import channel as _channel
from . import coordinate as _coordinate

__all__ = ["Outcome", "leader_directory", "reload", "rollback"]

# Causes that say a file was caught mid-save, not that the code is wrong: worth another try once it settles.
_MID_SAVE = ("SourceChangedWhileReading", "SourceBeingWritten")


@dataclass(frozen=True)
class Outcome:
    """What one decision did: ``published`` (something changed), or ``error`` with whether to retry (``transient``)."""

    published: bool = False
    error: ReloadError | None = None
    transient: bool = False


def leader_directory(state: State) -> str | None:
    """Return the control directory when this process leads workers (their channels are there), else None."""
    control = state.control
    if control is None or not control.alive():
        return None
    try:
        return control.directory if _channel.workers(os.getpid(), control.directory) else None
    except _channel.ChannelError:
        return None  # the directory became unreadable: this process decides for itself


def reload(state: State, names: list[str] | None, dependents: bool | str = True,
           sources: dict[str, Source] | None = None) -> Outcome:
    """Reload ``names`` (None: what changed) here, or in this process and all its workers, or in none of them.

    ``sources``, read and found finished by the caller, are what this process
    executes for those modules (the workers read their own files).
    """
    directory = leader_directory(state)
    if directory is None:
        try:
            if names is None:
                report = _reload.reload_changed(state, dependents=dependents)
            else:
                report = _reload.reload(state, names, dependents=dependents, sources=sources)
        except ReloadError as error:
            return Outcome(error=error, transient=isinstance(error.__cause__, SourceChangedWhileReading))
        return Outcome(published=bool(report.reloaded))
    result = _coordinate.reload(os.getpid(), names or (), dependents=dependents, directory=directory)
    return _decided(state, result)


def rollback(state: State, name: str) -> Outcome:
    """Undo the last reload of ``name`` here, or in this process and all its workers, or in none of them."""
    directory = leader_directory(state)
    if directory is None:
        try:
            _reload.rollback(state, name)
        except ReloadError as error:
            return Outcome(error=error)
        return Outcome(published=True)
    return _decided(state, _coordinate.rollback(os.getpid(), name, directory=directory))


def _decided(state: State, result: dict[str, Any]) -> Outcome:
    if result["ok"]:
        return Outcome(published=result["outcome"] == "published")
    entries = result["processes"]
    failed = [e for e in entries if not e.get("ok")]
    first = (failed[0].get("error") or {}) if failed else {}
    count = len(entries)
    error = ReloadError(f"{result['action']} over {count} process{'es' * (count != 1)} {result['outcome']}: "
                        f"{result['reason']}", module=first.get("module"), path=first.get("path"))
    transient = bool(result.get("differing")) or any((e.get("error") or {}).get("cause") in _MID_SAVE
                                                     for e in failed)
    mine: dict[str, Any] = next((e for e in entries if e.get("pid") == os.getpid()), {})
    if (mine.get("error") or {}).get("type") not in ("ReloadError", "NotVersionedError"):
        # Not refused by this process's own transaction (which told them): its subscribers and log hear of it here.
        _reload.notify(state, ReloadReport(error=error, action=result["action"]))
    return Outcome(error=error, transient=transient)
