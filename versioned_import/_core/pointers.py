"""Overwriting one strong object pointer inside a C structure, as a step of an atomic pass.

The proxy's namespace (``proxy``) and a held function's globals, builtins and
closure (``_continuity.transplant``) are pointers in C structures that Python
code cannot assign. ``swap_pointer`` plans the write as ``(c_callable, *args)``
operations for ``apply_atomically`` and keeps the reference counts right
whichever way the pass ends: the new object gains its reference before the
pass, and the one the structure no longer holds loses it after.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

__all__ = ["incref", "decref", "swap_pointer"]

incref = ctypes.pythonapi.Py_IncRef
incref.argtypes = [ctypes.py_object]
incref.restype = None
decref = ctypes.pythonapi.Py_DecRef
decref.argtypes = [ctypes.py_object]
decref.restype = None


def _pointer(value: object) -> int | None:
    return None if value is None else id(value)


def swap_pointer(address: int, old: object, new: object
                 ) -> tuple[tuple[Any, ...], tuple[Any, ...], Callable[[bool], None]]:
    """Plan replacing the pointer to ``old`` at ``address`` by one to ``new`` (either may be None).

    Returns ``(do, undo, settle)``. ``settle(applied)`` must run once after
    the pass, while the caller still holds ``old`` and ``new``: it drops the
    reference of whichever object the structure no longer points to.
    """
    slot = ctypes.c_void_p.from_address(address)
    if new is not None:
        incref(new)

    def settle(applied: bool) -> None:
        dropped = old if applied else new
        if dropped is not None:
            decref(dropped)

    return (setattr, slot, "value", _pointer(new)), (setattr, slot, "value", _pointer(old)), settle
