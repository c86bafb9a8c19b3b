"""The records of side effects (G17): what a generation's code did to the process outside its namespace.

A module's code registers things in process-wide state (a logging handler, an
``atexit`` function, a signal handler, a metric in a registry, ORM tables and
mappers). Each such registration is an ``Effect`` that can be retracted (the
process as if it had never happened) and restored (the same objects put back),
any number of times; ``_effects`` records them and drives them through the
transaction. ``GenerationEffects`` is what one generation did; ``Kept`` a
resource kept across generations (``hot.keep``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Effect", "GenerationEffects", "Kept"]


class Effect(Protocol):
    """One registration in process-wide state, undoable and redoable."""

    @property
    def key(self) -> Hashable:
        """What identifies it: a newer generation's effect with the same key replaces this one."""

    # Whether it is in the process right now. A deferred effect starts unapplied: the publish applies it.
    applied: bool
    # True: the previous generation's effect of this kind is retracted before the new code runs (the
    # registry would refuse a duplicate, or the new code must start from a clean slate) and restored
    # if the reload is refused. False: it is retracted at the publish.
    retract_before: bool

    def retract(self) -> None:
        """Undo the registration (nothing if not applied)."""

    def restore(self) -> None:
        """Redo it with the same objects (nothing if applied)."""

    def discard(self) -> None:
        """It will never be restored: release what it holds (close a handler); called when not applied."""

    def describe(self) -> str:
        """Say what it is, for messages: ``logging handler StreamHandler on 'app'``."""


@dataclass(eq=False)
class Kept:
    """A resource ``hot.keep`` made once and hands to every generation that asks for it with the same ``deps``."""

    value: Any
    deps: Hashable
    dispose: Callable[[Any], object] | None = None
    disposed: bool = False


@dataclass(eq=False)
class GenerationEffects:
    """What one generation's execution did outside its namespace, and what it asked of ``hot``."""

    effects: list[Effect] = field(default_factory=list)
    # ``hot.dispose`` callbacks: run once, when the generation stops being the published one for good
    # (a newer one published, a rollback away from it, an unload) — never for a refused reload.
    cleanups: list[Callable[[], object]] = field(default_factory=list)
    cleaned: bool = False
    # ``hot.decline(reason)``: a reload that would re-execute the module is refused.
    declined: str | None = None
    # The kept resources it uses, by key; ``created`` those whose factory ran for it.
    uses: dict[str, Kept] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
