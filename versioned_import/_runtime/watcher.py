"""The watcher thread (G11): it calls ``reload_changed`` on finished writes, and never dies.

When to look: on Linux the kernel says when an entry of a directory holding
versioned files changes (``_inotify``), so a save is seen within milliseconds
and an idle watcher does no work; it still scans everything every
``BACKSTOP`` intervals, for what notifications miss (network filesystems).
Elsewhere it polls every ``interval`` seconds.

When a changed file is finished — the kernel is asked, not a clock:

1. the file was read, and right after, no process had it open for writing
   (``_core.writers``: a read lease; Linux, files of our own user). A save in
   place caught between its truncation and its last write is still open: it
   is looked at again when its writer closes it. Finished on the first look
   otherwise, with no delay;
2. where that cannot be asked, the notifications say it: a file is being
   written from its first modification until its writer closes it, and a
   file renamed into place arrives finished;
3. where neither can say (polling on another system, or a file another user
   owns): its stat key held still for ``settle`` seconds, or its modification
   time is older than the coarsest timestamps (``RACY_NS``) — a writer that
   pauses longer than that mid-save is the one case left to chance.

A file that vanished is given ``settle`` seconds to come back (editors that
delete, then write anew). Each distinct refusal (module, source bytes) is
attempted once; its one log line comes from the reload itself. A refusal
because a file was caught mid-save is tried again. With workers forked
under the control channel, the reload is the coordinated one over all of
them (``group``), and the workers run no watcher of their own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from .._core.source import RACY_NS, Source
from .._reload import changed_sources
from . import group
from .inotify import Notifier
from .threads import quiet_thread

__all__ = ["Watcher"]

log = logging.getLogger("versioned_import")

# Where neither the kernel nor notifications can say a write is finished: how long a changed
# file must hold still before it is reloaded (seconds).
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
        self._pending: dict[str, tuple[tuple[int, ...] | None, int]] = {}  # name -> (stat key, when first seen with it)
        # path -> whether notifications say it is being written (True) or was finished (False) since it changed
        self._writing: dict[str, bool] = {}
        self._settling = False  # a pending file waits for the settle rule: look again after ``settle``
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

    def close_in_child(self) -> None:
        """In a forked child: close this process's copies of the parent's notification descriptors."""
        if self._notifier is not None:
            self._notifier.close()
            self._notifier = None

    def respawn(self) -> Watcher:
        """In a forked child: the same watch on a thread of the child's own (threads are not copied by fork)."""
        self.close_in_child()
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
        timeout = min(self.interval, self.settle) if self._settling else self.interval
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
            self._writing.clear()  # events were lost: what they said of writes is unknown now
            return True
        watched = self._watched[1]
        for path, writing in touched.items():
            if writing is not None and path in watched:
                self._writing[path] = writing
        # After watching directories anew, look once: files may have changed while nobody watched.
        return resynced or self._settling or not watched.isdisjoint(touched)

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
        """Reload what changed and is finished; each distinct refusal is attempted, logged and reported once."""
        state = self._state
        sources = changed_sources(state)
        now = self.clock()
        finished = []
        verified: dict[str, Source] = {}
        self._settling = False
        for name, source in sources.items():
            if self._finished(name, source, now):
                if source is not None:
                    verified[name] = source  # executed as read while the file still holds it
                # The bytes changed_sources() just read fingerprint the attempt: no second read here.
                finished.append((name, source.digest if source is not None else b"<unreadable>"))
                self._pending.pop(name, None)
        for name in list(self._pending):
            if name not in sources:
                del self._pending[name]
        if not sources:
            self._writing.clear()
        if not finished:
            return
        # A refusal is about the whole set of changed files as they are now:
        # the same bytes are not retried, any edit to any of them is.
        fingerprint = frozenset(finished)
        if fingerprint in self._refused:
            return
        for name, _ in finished:
            record = state.records.get(name)
            if record is not None:
                self._writing.pop(record.path, None)
        outcome = group.reload(state, [name for name, _ in finished], sources=verified)
        if outcome.error is not None and not outcome.transient:
            self._refused.add(fingerprint)  # its one log line was written where it was refused (see _logs)

    def _finished(self, name: str, source: Source | None, now: int) -> bool:
        """Whether the write that changed ``name`` is finished (see the module docstring)."""
        if source is not None and source.writing is not None:
            return not source.writing  # the kernel said, right after the read
        if source is not None:
            record = self._state.records.get(name)
            paths = (record.path, os.path.realpath(record.path)) if record is not None else ()
            said = [self._writing[path] for path in paths if path in self._writing]
            if said:
                return not any(said)  # closed after writing, or renamed into place
        # Nobody can say: the settle rule, on the stat key (a gone file has none).
        key = source.stat_key if source is not None else None
        settle = int(self.settle * 1e9)
        if key is not None and key[0] <= now - RACY_NS:
            return True  # older than any timestamp granularity: nothing has written it lately
        seen = self._pending.get(name)
        if seen is not None and seen[0] == key and seen[1] <= now - settle:
            return True
        if seen is None or seen[0] != key:
            self._pending[name] = (key, now)  # seen changing: look again once it has had time to settle
        self._settling = True
        return False
