"""The publish plan: ``(c_callable, *args)`` operations with their undo, and the small helpers that build them.

Everything continuity changes is planned here first and applied by the
publisher in one C-level pass (``_core.atomic.apply_atomically``), so the helpers
only ever produce C callables and arguments; the undo side may be Python.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

__all__ = ["Plan", "add_sequence", "replace_contents", "mapped", "real_dict", "nothing"]


class Plan:
    """Operations that carry continuity over, run by the publisher in one step."""

    def __init__(self) -> None:
        self.do: list[tuple[Any, ...]] = []
        self.undo: list[tuple[Any, ...]] = []
        # The module whose change is being planned, and that of each operation: a failure names it.
        self.owner: str | None = None
        self.owners: list[str | None] = []
        self.replaced: list[Any] = []
        # How held functions move to their new bodies (``switches.Switch``), decided by ``prepare``, with their module.
        self.switches: list[tuple[str | None, Any]] = []
        self.switch_at = 0  # where their operations go in ``do``: before anything added after the plan was made
        self._after: list[Any] = []

    def add(self, do: tuple[Any, ...], undo: tuple[Any, ...]) -> None:
        self.do.append(do)
        self.undo.append(undo)
        self.owners.append(self.owner)

    def prepare(self, forwarding: Callable[[int], bool]) -> list[Callable[[], None]]:
        """Add the held functions' moves to the pass; return what must run once after it, applied or undone.

        Called by the publisher under the state lock, where no pin can start,
        right before the pass: ``forwarding(proxy_id)`` says whether a reader
        pinned at this moment still views another generation of that module,
        whose held functions must then forward rather than be transplanted.
        """
        do: list[tuple[Any, ...]] = []
        undo: list[tuple[Any, ...]] = []
        owners: list[str | None] = []
        finishers: list[Callable[[], None]] = []
        after = []
        for owner, switch in self.switches:
            steps, back, finish, then = switch.operations(forwarding(switch.lineage.proxy_id))
            do.extend(steps)
            undo.extend(back)
            owners.extend([owner] * len(steps))
            finishers.extend(finish)
            after.append(then)
        self.switches = []
        at = self.switch_at
        self.do[at:at] = do
        self.undo[at:at] = undo
        self.owners[at:at] = owners
        self._after[:0] = after
        return finishers

    def committed(self) -> None:
        """Finish bookkeeping once the operations are published."""
        for action in self._after:
            action()
        self._after.clear()


def nothing(*_: Any) -> None:
    pass


def mapped(value: Any, mapping: dict[int, tuple[Any, Any]]) -> Any:
    entry = mapping.get(id(value))
    return entry[1] if entry is not None and entry[0] is value else value


def add_sequence(result: Plan, do: tuple[tuple[Any, ...], ...], undo: tuple[tuple[Any, ...], ...]) -> None:
    # The undo of a sequence sits on its first step (undos run in reverse).
    for index, operation in enumerate(do):
        result.add(operation, (_run_all, undo) if index == 0 else (nothing,))


def _run_all(operations: tuple[tuple[Any, ...], ...]) -> None:
    for function, *arguments in operations:
        function(*arguments)


def replace_contents(result: Plan, target: dict[Any, Any] | set[Any], contents: dict[Any, Any] | set[Any]) -> None:
    """Plan ``target.clear(); target.update(contents)`` as two C calls.

    ``update`` from an exact dict reuses the stored hashes, so no Python
    ``__hash__`` runs inside the publishing step. The restore sits on the
    ``clear`` so that an undo after either step leaves ``target`` as it was.
    """
    before = target.copy()
    restore = _restore_dict if isinstance(target, dict) else _restore_set
    result.add((type(target).clear, target), (restore, target, before))
    result.add((type(target).update, target, contents), (nothing,))


def _restore_dict(target: dict[Any, Any], contents: dict[Any, Any]) -> None:
    target.clear()
    target.update(contents)


def _restore_set(target: set[Any], contents: set[Any]) -> None:
    target.clear()
    target.update(contents)


def real_dict(cls: type) -> Any:
    """Return the dict behind ``cls.__dict__``'s mapping proxy (read through ``type``: a metaclass may shadow it)."""
    referents = gc.get_referents(_TYPE_DICT(cls))
    return referents[0] if referents else None


_TYPE_DICT = type.__dict__["__dict__"].__get__
