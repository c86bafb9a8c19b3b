"""A lineage's held functions moving to a new body at a publish: transplanted in the pass, or forwarding.

``plan_functions`` (``functions``) decides, per lineage, which versions —
the function objects callers hold — must run the new body, and plans their
transplants while the mapping to identities is at hand. Which way they move
is decided under the state lock, right before the publishing pass
(``Plan.prepare``): where no reader is pinned to another generation of the
module, the versions take the new definition in that very pass (a
transplant, ``transplant``); otherwise they forward to it (``forwarders``)
and ``Lineages.settle`` transplants them once the pin ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from . import forwarders as _forwarders
from .forwarders import FunctionLineage, show_operations, shown
from .transplant import Transplant, arm

__all__ = ["Switch"]


class Switch:
    """The versions of one lineage that a publish moves to ``body``, and the lineage's records afterwards."""

    __slots__ = ("unsettled", "lineage", "body", "moves", "kept", "meta", "generation", "identity", "transplants")

    def __init__(self, unsettled: Any, lineage: FunctionLineage, body: Any,
                 moves: list[tuple[int, Any, Any]], kept: list[Any], meta: Any, generation: Any, identity: Any,
                 transplants: list[Transplant] | None) -> None:
        self.unsettled = unsettled
        self.lineage = lineage
        self.body = body
        self.moves = moves  # (index in kept, version, the code it runs on its own)
        self.kept = kept  # the lineage's versions after the publish (entries of moved ones are refreshed)
        self.meta = meta
        self.generation = generation
        self.identity = identity
        self.transplants = transplants  # planned where transplants are possible, else None

    def operations(self, forward: bool) -> tuple[list[Any], list[Any], list[Callable[[], None]], Callable[[], None]]:
        """Return ``(do, undo, finishers, after)``: forwarders when ``forward`` (or no transplant planned), else transplants."""
        do: list[Any] = []
        undo: list[Any] = []
        if forward or self.transplants is None:
            lineage, meta = self.lineage, self.meta
            for _, version, code in self.moves:
                if version.__code__ is code or lineage.meta != meta:
                    forwarder = _forwarders.forwarder(lineage, code, self.body.__code__, len(version.__closure__ or ()))
                    do.append((setattr, version, "__code__", forwarder))
                    undo.append((setattr, version, "__code__", version.__code__))
                # What it shows (docstring, defaults, annotations, attributes) switches with
                # everything else; a functools.wraps wrapper keeps its own __wrapped__.
                steps, back = show_operations(version, shown(self.body), lineage.newest)
                do.extend(steps)
                undo.extend(back)
            return do, undo, [], self._forwarding
        finishers = []
        for transplant in self.transplants:
            steps, back, finish = arm(transplant)
            do.extend(steps)
            undo.extend(back)
            finishers.append(finish)
        return do, undo, finishers, self._transplanted

    def _forwarding(self) -> None:
        lineage = self.lineage
        lineage.versions, lineage.meta, lineage.identity = self.kept, self.meta, self.identity
        self.unsettled.add(lineage)  # transplanted once no pinned reader needs another generation

    def _transplanted(self) -> None:
        lineage, kept = self.lineage, self.kept
        own = weakref.ref(self.generation)
        for (index, version, _), transplant in zip(self.moves, self.transplants or ()):
            reference = kept[index][0]
            if reference() is version:
                kept[index] = (reference, transplant.code, own, shown(version))
        lineage.versions, lineage.meta, lineage.identity = kept, self.meta, self.identity
        self.unsettled.discard(lineage)
