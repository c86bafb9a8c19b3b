"""Publishing: making a set of generations current in one step, and keeping tracebacks true to it."""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any, Protocol

from .atomic import apply_atomically
from .proxy import set_view_class, swap_operations
from .source import Source
from .state import Generation, ModuleRecord, Published, State

__all__ = ["PublishFailed", "PublishPlan", "commit", "register_linecache", "register_source"]


class PublishFailed(Exception):
    """A publish failed and changed nothing; ``module`` is the module whose change failed (None: not known).

    Raised from the original exception: the refusal names that module and
    carries that exception as its cause.
    """

    def __init__(self, module: str | None) -> None:
        super().__init__(module)
        self.module = module


class PublishPlan(Protocol):
    """What continuity hands the publisher (``_continuity.operations.Plan``): its part of the one atomic pass.

    ``owners`` names, for each operation of ``do``, the module it changes.
    """

    do: list[tuple[Any, ...]]
    undo: list[tuple[Any, ...]]
    owners: list[str | None]

    def prepare(self, forwarding: Callable[[int], bool]) -> list[Callable[[], None]]:
        """Add the last operations, chosen under the state lock; return what must run after the pass, applied or not.

        ``forwarding(id(proxy))``: whether a pinned reader views another generation of that module than the one published.
        """

    def committed(self) -> None:
        """Finish continuity's bookkeeping once the pass is applied."""


def commit(state: State, pairs: list[tuple[ModuleRecord, Generation]], plans: PublishPlan, keep_history: bool = True) -> None:
    """Publish ``pairs`` (record, generation) atomically; the caller holds ``state.lock``.

    A reload (``keep_history``) keeps the generations it replaces for rollback
    and is logged as one ``Published`` entry that a rollback undoes whole; it
    also ends any rollback's hold on those modules (a published file is what
    runs). A rollback manages the history and the log itself.

    Raises ``PublishFailed``, naming the module whose change failed, when the
    pass fails (it was undone).
    """
    old_world = state.world
    new_world = state.next_world({id(r.proxy): g for r, g in pairs})
    do: list[tuple[Any, ...]] = []
    undo: list[tuple[Any, ...]] = []
    owners: list[str | None] = []
    finishers: list[Callable[[], None]] = []
    if old_world.pins:
        state.pinned_stale.add(old_world)
    published = {id(r.proxy): (r, g) for r, g in pairs}

    def forwarding(proxy_id: int) -> bool:
        entry = published.get(proxy_id)
        return entry is None or state.needs_view(*entry)

    try:
        finishers.extend(plans.prepare(forwarding))
        # Pinned readers must be on the view class before the namespace moves.
        for record, generation in pairs:
            operation = set_view_class(record.proxy, state.needs_view(record, generation), generation.module_class)
            if operation is not None:
                do.append(operation)
                undo.append((object.__setattr__, record.proxy, "__class__", type(record.proxy)))
                owners.append(record.name)
        do.extend(plans.do)
        undo.extend(plans.undo)
        owners.extend(plans.owners)
        for record, generation in pairs:
            swap_do, swap_undo, finish = swap_operations(record.proxy, generation.namespace)
            do.extend(swap_do)
            undo.extend(swap_undo)
            owners.extend([record.name] * len(swap_do))
            finishers.append(finish)
        do.append((object.__setattr__, state, "world", new_world))
        undo.append((object.__setattr__, state, "world", old_world))
        owners.append(None)
        failed: list[int] = []
        try:
            apply_atomically(do, undo, failed)
        except Exception as exc:
            raise PublishFailed(owners[failed[0]] if failed and failed[0] < len(owners) else None) from exc
    finally:
        for finish in finishers:
            finish()
    replaced: list[tuple[ModuleRecord, Generation | None]] = []
    for record, generation in pairs:
        if keep_history and record.current is not None and record.current is not generation:
            replaced.append((record, record.current))
            record.history.append(record.current)
            while len(record.history) > state.rollback_depth:
                record.history.popleft()
        if keep_history:
            record.held = frozenset()
        record.current = generation
        register_linecache(generation)
    if replaced:
        imports = frozenset().union(*(generation.imports for _, generation in pairs))
        state.published.append(Published(replaced, imports))
        state.prune_published()
    plans.committed()
    state.refresh_views([r for r, _ in pairs])


def register_linecache(generation: Generation | None) -> None:
    """Make tracebacks and ``inspect`` show the source that actually runs."""
    if generation is not None and generation.source is not None:
        register_source(generation.source)


def register_source(source: Source) -> None:
    """Put ``source`` in linecache for its path: the text of the published generation.

    Registered at every publish (and rollback), so tracebacks and ``inspect``
    keep showing the code that runs even after the file is edited again or a
    reload is refused. A refusal's message quotes the failing new line itself.
    """
    known = _registered.get(source.path)
    if known is not None and known[0] is source and linecache.cache.get(source.path) is known[1]:
        return
    try:
        text = source.text()
    except (SyntaxError, UnicodeDecodeError, ValueError):
        linecache.cache.pop(source.path, None)  # undecodable: let linecache read what it can
        return
    # mtime None: linecache.checkcache() leaves such entries alone.
    entry = (len(text), None, text.splitlines(keepends=True), source.path)
    linecache.cache[source.path] = entry
    _registered[source.path] = (source, entry)


# path -> (the source registered, its linecache entry): a source registered again costs nothing.
_registered: dict[str, tuple[Source, Any]] = {}
