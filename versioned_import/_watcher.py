"""The polling thread (G11): it calls ``reload_changed`` and never dies.

A change is only acted on once the file's stat key has held still for one
tick (or the file is older than the tick), so a file caught mid-write is
retried on the next tick instead of being refused. Each distinct refusal
(module, source bytes) is logged once; subscribers hear about it once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ._errors import ReloadError
from ._reload import changed_sources, reload
from ._signals import quiet_thread

__all__ = ["Watcher"]

log = logging.getLogger("versioned_import")


class Watcher:
    """Polls the versioned modules' files every ``interval`` seconds."""

    def __init__(self, state: Any, interval: float) -> None:
        self._state = state
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="versioned_import-watcher", daemon=True)
        self._pending: dict[str, tuple] = {}
        self._refused: set[frozenset[tuple[str, bytes]]] = set()
        self.ticks = 0

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread() and self._thread.is_alive():
            self._thread.join()

    def respawn(self) -> Watcher:
        """In a forked child: the same watch on a thread of the child's own (threads are not copied by fork)."""
        watcher = Watcher(self._state, self.interval)
        watcher._pending = dict(self._pending)
        watcher._refused = set(self._refused)
        watcher.start()
        return watcher

    def _run(self) -> None:
        quiet_thread()
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except BaseException:
                # The watcher must outlive anything; a bug here is logged, not fatal.
                log.exception("versioned_import watcher tick failed; continuing")
            self.ticks += 1

    def tick(self) -> None:
        """Reload what changed and has settled; each distinct refusal is attempted, logged and reported once."""
        state = self._state
        sources = changed_sources(state)
        now = time.time_ns()
        settled = []
        for name, source in sources.items():
            # The bytes changed_sources() just read: no second read here.
            key, digest = (source.stat_key, source.digest) if source is not None else (None, b"<unreadable>")
            old_enough = key is not None and key[0] < now - int(self.interval * 1e9)
            if key is None or old_enough or self._pending.get(name) == key:
                settled.append((name, digest))
                self._pending.pop(name, None)
            else:
                self._pending[name] = key  # seen changing: give the writer one more tick
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
        except ReloadError as error:
            self._refused.add(fingerprint)
            log.error("%s", error, extra={"refusal": True})
