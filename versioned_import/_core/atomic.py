"""One step for every other thread: a list of C-level operations applied with no bytecode in between, or undone."""

from __future__ import annotations

import collections
import gc
import itertools
import operator
from typing import Any

__all__ = ["apply_atomically"]


def apply_atomically(do: list[tuple[Any, ...]], undo: list[tuple[Any, ...]], failed: list[int] | None = None) -> None:
    """Run ``do`` (each ``(c_callable, *args)``) as one step for every other thread.

    Every callable is a C function, iterated by C code (``starmap`` drained by
    a zero-length ``deque``): no bytecode executes, so the interpreter never
    reaches a point where it hands the GIL to another thread. The collector is
    paused so no finaliser runs Python code in between. If an operation fails,
    the ones already applied are undone in reverse and the error re-raised;
    its index in ``do`` is appended to ``failed``, when given.
    """
    progress = itertools.count()
    steps = []
    for operation in do:
        steps.append(operation)
        steps.append((next, progress))
    collecting = gc.isenabled()
    gc.disable()
    try:
        collections.deque(itertools.starmap(operator.call, steps), maxlen=0)
    except BaseException:
        applied = next(progress)
        if failed is not None:
            failed.append(applied)
        collections.deque(itertools.starmap(operator.call, reversed(undo[:applied])), maxlen=0)
        raise
    finally:
        if collecting:
            gc.enable()
