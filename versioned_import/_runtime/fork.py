"""Fork safety (G14): after ``os.fork()`` the child's state is consistent and it keeps reloading.

A child starts with one thread, the one that called ``fork()``; every other
thread (the watcher, a reload in progress, readers inside ``pinned()``) is
gone, but whatever it held is copied as it was. So, around every fork:

* before: the forking thread takes ``reload_lock`` (waiting for a reload in
  progress to finish, at most ``FORK_WAIT`` seconds) and then ``lock``. The
  child therefore never inherits half a transaction, nor a publish that has
  paused the collector (publishing runs under ``lock``). A thread that is
  itself inside an import does not wait (the reload might be waiting for that
  import's lock) and neither does a thread that is reloading: it owns the lock.
* after, in the parent: release them.
* after, in the child: release them as well; if the wait timed out, the child
  gets fresh locks and the interrupted reload's staging is dropped, so its
  next reload starts clean. Pins held by threads that do not exist in the
  child are dropped (the forking thread's own pin stays). The services the
  parent ran — the watcher, the control channel, the reload signal's thread —
  start again in the child, each its own; except the watcher when the
  channel is on: the child is then a *worker* of the parent, whose watcher
  decides for both (``group``: one coordinated reload, never each alone).

The hooks are registered once per process, at the first ``install()``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from .._core.edges import importer
from .._core.proxy import World, view
from .._core.state import State

__all__ = ["register", "FORK_WAIT"]

log = logging.getLogger("versioned_import")

FORK_WAIT = 10.0

# The state attributes holding services (objects with ``alive()`` and ``respawn()``)
# that a child runs again if its parent ran them, in start order.
SERVICES = ("watcher", "control", "reload_signal")


@dataclass
class _Held:
    reload_lock: Any = None
    lock: Any = None
    services: list[tuple[str, Any]] = field(default_factory=list)


_held: dict[int, _Held] = {}
_registered: list[State] = []


def register(state: State) -> None:
    """Register the fork hooks for ``state``, once per process."""
    if _registered:
        return
    _registered.append(state)
    os.register_at_fork(before=lambda: _before(state), after_in_parent=lambda: _after_in_parent(state),
                        after_in_child=lambda: _after_in_child(state))


def _before(state: State) -> None:
    held = _Held()
    # A thread inside an import must not wait: the reload may be waiting for its module lock.
    wait = 0.0 if importer.get() is not None else FORK_WAIT
    reload_lock = state.reload_lock
    if reload_lock.acquire(timeout=wait) if wait else reload_lock.acquire(blocking=False):
        held.reload_lock = reload_lock
    lock = state.lock
    if lock.acquire(timeout=FORK_WAIT):
        held.lock = lock
    for name in SERVICES:
        service = getattr(state, name, None)
        if service is not None and service.alive():
            held.services.append((name, service))
    _held[threading.get_ident()] = held


def _after_in_parent(state: State) -> None:
    held = _held.pop(threading.get_ident(), None)
    if held is None:
        return
    if held.lock is not None:
        held.lock.release()
    if held.reload_lock is not None:
        held.reload_lock.release()


def _after_in_child(state: State) -> None:
    _held_here = _held.pop(threading.get_ident(), None) or _Held()
    _held.clear()  # entries of other threads that were forking at the same moment: they do not exist here
    if _held_here.lock is not None:
        _held_here.lock.release()
    else:
        state.lock = threading.RLock()  # held by a thread that does not exist here
    if _held_here.reload_lock is not None:
        _held_here.reload_lock.release()
    elif state.reloading_thread != threading.get_ident():
        # Another thread was inside a reload and did not finish in time: it
        # does not exist here, so its staged generations will never publish.
        log.warning("fork during a reload that did not finish within %g s: the child drops it and starts clean",
                    FORK_WAIT)
        state.reload_lock = threading.RLock()
        state.reloading_thread = None
        state.staging.clear()
        if state.paused_scope is not None:
            # It paused the collector for its search for holders (see _referrers): resume it here.
            state.paused_scope.__exit__(None, None, None)
            state.paused_scope = None
    _drop_foreign_pins(state)
    names = [name for name, _ in _held_here.services]
    leader_watches = "watcher" in names and "control" in names
    for name, service in _held_here.services:
        if name == "watcher" and leader_watches:
            service.close_in_child()
            state.watcher = None  # a worker: the leader's watcher reloads it, with the others, all or none
            continue
        try:
            setattr(state, name, service.respawn())
        except Exception:
            setattr(state, name, None)
            log.exception("versioned_import could not restart its %s in forked process", name)
    if leader_watches and state.control is not None:
        state.control.leader_watches = True


def _drop_foreign_pins(state: State) -> None:
    """Keep only the forking thread's pin: every other pinned reader is gone with its thread."""
    with state.lock:
        mine = view.get()
        for world in (state.world, *state.pinned_stale):
            world.pins = 0
        state.pinned_stale = set()
        if type(mine) is World:  # a plain pin, not a reload's staging view
            mine.pins = 1
            if mine is not state.world:
                state.pinned_stale.add(mine)
        state.refresh_views(list(state.records.values()) + state.detached)
        state.detached = [r for r in state.detached if state.needs_view(r)]
