"""The module-facing side-effects API (G17): ``hot = versioned_import.hot(__name__)``.

What a module's own code uses for what the known registries cannot know: its
own registries, clients, pools, threads, timers. Modelled on the
hot-module-replacement APIs users know (Vite's ``import.meta.hot``: ``dispose``,
``data``, ``decline``; Streamlit's ``cache_resource``: ``keep``), with
versioned_import's transaction: nothing a module asks for here happens for a
refused reload, and rollback brings the older generation's choices back.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .._core.effects import GenerationEffects, Kept
from .._core.state import ModuleRecord, state
from .._errors import ReloadError
from .recording import executing

__all__ = ["Hot", "hot"]

T = TypeVar("T")
Callback = TypeVar("Callback", bound=Callable[[], object])

_NO_DEPS: Hashable = ()


class Hot:
    """One generation of one module's view of the side-effects API; ``versioned_import.hot(__name__)`` gives it.

    ``data`` is a dict that lives as long as the module (across reloads and
    rollbacks): state to hand from one generation to the next. ``keep`` makes
    a resource once and hands the same object to every later generation.
    ``dispose`` registers a cleanup for what this generation created.
    ``decline`` says the module cannot be hot-reloaded.

    Outside versioned_import (the module imported plainly, or the library not
    installed) the same calls work as in a process that never reloads:
    ``keep`` makes the resource, cleanups never run, ``decline`` is noted.
    """

    __slots__ = ("name", "_record", "_effects", "_reloading")

    def __init__(self, name: str, record: ModuleRecord | None, effects: GenerationEffects, reloading: bool) -> None:
        self.name = name
        self._record = record
        self._effects = effects
        self._reloading = reloading

    def __repr__(self) -> str:
        where = "versioned" if self._record is not None else "not versioned"
        return f"<versioned_import.hot({self.name!r}), {where}>"

    @property
    def data(self) -> dict[str, Any]:
        """A dict that survives reloads and rollbacks of this module (not an unload)."""
        if self._record is None:
            return _plain_data.setdefault(self.name, {})
        return self._record.data

    @property
    def versioned(self) -> bool:
        """Whether the module is a versioned module (reloads reach it)."""
        return self._record is not None

    def dispose(self, callback: Callback) -> Callback:
        """Run ``callback()`` when this generation stops being the module's published one.

        That is: a newer generation is published (after the publish, never
        for a refused reload), a rollback goes back past it, or the module is
        unloaded. Use it to stop what the generation started (a timer, a
        listener). Returns ``callback``, so it works as a decorator.
        """
        if not callable(callback):
            raise TypeError(f"hot.dispose() takes a callable, not {type(callback).__name__}")
        self._effects.cleanups.append(callback)
        return callback

    def keep(self, key: str, factory: Callable[[], T], *, deps: Hashable = _NO_DEPS,
             dispose: Callable[[T], object] | None = None) -> T:
        """Return the resource kept under ``key``, made by ``factory()`` the first time (an engine, a client, a thread).

        Every later generation that asks for ``key`` with equal ``deps`` gets
        the same object, so a reload neither recreates it nor leaks the old
        one. When ``deps`` change (a new database URL), ``factory`` runs again;
        the old object is passed to ``dispose`` once no generation a rollback
        can reach uses it, and a refused reload disposes the new one instead.
        """
        if not isinstance(key, str):
            raise TypeError(f"hot.keep() takes a str key, not {type(key).__name__}")
        if self._record is None:
            cache = _plain_kept.setdefault(self.name, {})
            if key not in cache or cache[key].deps != deps:
                cache[key] = Kept(factory(), deps, dispose)
            return cache[key].value  # type: ignore[no-any-return]
        kept = self._effects.uses.get(key)
        if kept is None:
            kept = self._record.kept.get(key)
            if kept is None or kept.disposed or kept.deps != deps:
                kept = Kept(factory(), deps, dispose)
                self._effects.created.add(key)
                if not self._reloading:
                    self._record.kept[key] = kept  # a first import publishes as it goes
            self._effects.uses[key] = kept
        return kept.value  # type: ignore[no-any-return]

    def decline(self, reason: str = "it says it cannot be reloaded") -> None:
        """Refuse any reload that would re-execute this module; the message tells the user to restart.

        Called at a first import, it marks the module; called by new code
        during a reload, it refuses that reload.
        """
        if self._reloading and self._record is not None:
            raise ReloadError(f"reload of {self.name!r} refused: the new code declines hot reload ({reason}) — "
                              "restart the process to load this change", module=self.name, path=self._record.path)
        self._effects.declined = reason


_plain_data: dict[str, dict[str, Any]] = {}
_plain_kept: dict[str, dict[str, Kept]] = {}


def hot(name: str) -> Hot:
    """Return the side-effects API for module ``name`` (pass ``__name__``).

    Called by the module's code while it executes, it belongs to the
    generation being executed (a reload's new one, until it is published or
    refused); called later, to the published generation.
    """
    if not isinstance(name, str):
        raise TypeError(f"versioned_import.hot() takes the module's __name__ (str), not {type(name).__name__}")
    recording = executing(name)
    if recording is not None:
        return Hot(name, recording.record, recording.generation.effects, recording.reloading)
    record = state.records.get(name)
    if record is not None and record.current is not None:
        return Hot(name, record, record.current.effects, False)
    return Hot(name, None, GenerationEffects(), False)
