"""Pins (G5, G12): a reader that keeps seeing the generations current when it started.

A pin is a count on the published ``World`` and that world set as the
reader's view (a context variable, so per thread and per asyncio task).
``pinned()`` is the block form users see; ``hold``/``release`` and ``viewing``
are its two halves, for a pin that outlives one block (a WSGI response body
streamed after the application returned).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .proxy import World, view
from .state import State, state

__all__ = ["pinned", "hold", "release", "viewing"]


def hold(state: State = state) -> World | None:
    """Take a pin on the published world, or return None when an outer pin already holds one."""
    if view.get() is not None:
        return None
    return state.enter_pin()


def release(world: World | None, state: State = state) -> None:
    """Release a pin ``hold`` took (nothing for None)."""
    if world is not None:
        state.exit_pin(world)


@contextlib.contextmanager
def viewing(world: World | None) -> Iterator[None]:
    """Resolve proxies through ``world`` inside the block (nothing changes for None)."""
    if world is None:
        yield
        return
    token = view.set(world)
    try:
        yield
    finally:
        view.reset(token)


@contextlib.contextmanager
def pinned() -> Iterator[None]:
    """Inside the block, proxies resolve to the generations current at entry.

    Per thread and per asyncio task (``contextvars``): one request sees one
    consistent version of the code even if a reload publishes meanwhile. A
    nested ``pinned()`` keeps the outer pin.
    """
    world = hold()
    try:
        with viewing(world):
            yield
    finally:
        release(world)
