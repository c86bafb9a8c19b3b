"""The watcher thread (G11): it calls ``reload_changed`` and never dies.

When to look: on Linux the kernel says when an entry of a directory holding
versioned files changes (``_inotify``), so a save is seen within milliseconds
and an idle watcher does no work; it still scans everything every
``BACKSTOP`` intervals, for what notifications miss (network filesystems).
Elsewhere it polls every ``interval`` seconds.

What to reload: a changed file is only reloaded once it has settled — its
modification time at least ``settle`` seconds old, or its stat key unchanged
across ``settle`` seconds — so a file caught mid-write (or written in several
bursts) is looked at again ``settle`` seconds later instead of being refused.
Each distinct refusal (module, source bytes) is attempted once; its one log
line comes from the reload itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from .._errors import ReloadError
from .._reload import changed_sources, reload
from .inotify import Notifier
from .threads import quiet_thread

__all__ = ["Watcher"]

log = logging.getLogger("versioned_import")

# How long a changed file must have been left alone before it is reloaded (seconds).
SETTLE = 0.05
# With notifications, a full scan every this many intervals regardless.
BACKSTOP = 10
# With notifications, the longest sleep between two looks at which directories to watch (seconds).
WAKE = 1.0


class Watcher:
    """Watches the versioned modules' files: woken by change notifications, else polling every ``interval`` s."""

    def __init__(self, state: Any, interval: float, settle: float = SETTLE) -> None:
        self._state = state
        self.interval = interval
        self.settle = settle
        self.clock = time.time_ns  # the settle rule's clock (wall time: it is compared with mtimes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="versioned_import-watcher", daemon=True)
        self._pending: dict[str, tuple[tuple[int, ...], int]] = {}  # name -> (stat key, when first seen with it)
        self._refused: set[frozenset[tuple[str, bytes]]] = set()
        self._notifier: Notifier | None = None
        self._watched: tuple[int, frozenset[str]] = (-1, frozenset())  # (state.layout, versioned paths)
        self._directories: set[str] = set()  # their directories, to watch
        self._missing: set[str] = set()  # those that could not be watched at the last try
        self.ticks = 0  # times the watcher woke
        self.scans = 0  # times it looked at the files

    def start(self) -> None:
        self._notifier = Notifier.create()
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        if self._notifier is not None:
            self._notifier.wake()
        if self._thread is not threading.current_thread() and self._thread.is_alive():
            self._thread.join()

    def respawn(self) -> Watcher:
        """In a forked child: the same watch on a thread of the child's own (threads are not copied by fork)."""
        if self._notifier is not None:
            # The parent's change notifications: this process's copies of its descriptors only.
            self._notifier.close()
            self._notifier = None
        watcher = Watcher(self._state, self.interval, self.settle)
        watcher._pending = dict(self._pending)
        watcher._refused = set(self._refused)
        watcher.start()
        return watcher

    def _run(self) -> None:
        quiet_thread()
        scanned = time.monotonic()
        try:
            while not self._stop.is_set():
                due = self._wait()
                if self._stop.is_set():
                    break
                if due or time.monotonic() - scanned >= self.interval * BACKSTOP:
                    scanned = time.monotonic()
                    self.scans += 1
                    try:
                        self.tick()
                    except BaseException:
                        # The watcher must outlive anything; a bug here is logged, not fatal.
                        log.exception("versioned_import watcher tick failed; continuing")
                self.ticks += 1
        finally:
            if self._notifier is not None:
                self._notifier.close()

    def _wait(self) -> bool:
        """Sleep until the next look; return whether a scan is due now (a versioned file changed, or polling)."""
        timeout = min(self.interval, self.settle) if self._pending else self.interval
        notifier = self._notifier
        resynced = False
        if notifier is not None:
            try:
                resynced = self._watch_directories(notifier)
            except OSError as exc:
                log.warning("versioned_import watcher: %s; polling every %g s instead", exc.strerror, self.interval)
                notifier.close()
                notifier = self._notifier = None
        if notifier is None:
            self._stop.wait(timeout)
            return True
        # Waking at least every WAKE seconds picks up the directories of modules imported meanwhile.
        touched = notifier.wait(0 if resynced else min(timeout, WAKE))
        if touched is None:
            self._watched = (-1, self._watched[1])  # a directory may have gone: watch them afresh
            return True
        # After watching directories anew, look once: files may have changed while nobody watched.
        return resynced or bool(self._pending) or not touched.isdisjoint(self._watched[1])

    def _watch_directories(self, notifier: Notifier) -> bool:
        """Keep the notifier on the directories of the versioned files; return whether one was added.

        They are recomputed when modules come or go, and after a watched directory went away;
        a directory missing for now (a checkout half-way) is tried again at every wake.
        """
        state = self._state
        if state.layout != self._watched[0]:
            with state.lock:
                count, files = state.layout, [record.path for record in state.records.values()]
            # A symlinked file changes where it really lives: watch that directory too.
            paths = frozenset(files) | {os.path.realpath(path) for path in files}
            self._watched = (count, paths)
            self._directories = {os.path.dirname(path) for path in paths}
        elif not self._missing:
            return False
        added, self._missing = notifier.watch(self._directories)
        return added > 0

    def tick(self) -> None:
        """Reload what changed and has settled; each distinct refusal is attempted, logged and reported once."""
        state = self._state
        sources = changed_sources(state)
        now = self.clock()
        settle = int(self.settle * 1e9)
        settled = []
        for name, source in sources.items():
            # The bytes changed_sources() just read: no second read here.
            key, digest = (source.stat_key, source.digest) if source is not None else (None, b"<unreadable>")
            seen = self._pending.get(name)
            old_enough = key is not None and key[0] <= now - settle
            held_still = seen is not None and seen[0] == key and seen[1] <= now - settle
            if key is None or old_enough or held_still:
                settled.append((name, digest))
                self._pending.pop(name, None)
            elif seen is None or seen[0] != key:
                self._pending[name] = (key, now)  # seen changing: look again once it has had time to settle
        for name in list(self._pending):
            if name not in sources:
                del self._pending[name]
        if not settled:
            return
        # A refusal is about the whole set of changed files as they are now:
        # the same bytes are not retried, any edit to any of them is.
        fingerprint = frozenset(settled)
        if fingerprint in self._refused:
            return
        try:
            reload(state, [name for name, _ in settled])
        except ReloadError:
            self._refused.add(fingerprint)  # the refusal's one log line was written by the reload (see _logs)
