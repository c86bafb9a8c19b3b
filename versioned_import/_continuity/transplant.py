"""Transplants: an existing function object takes another function's whole definition, in place.

Once a reload is published and no pinned reader views an older generation,
every function object taken before it is made *the same function* as the
newest definition: same code, globals, builtins, closure, defaults,
annotations, docstring and attributes. Calling it then costs what any call
costs, no frame of ours sits between the caller and the code, and
``inspect``, ``typing.get_type_hints`` and ``sys._getframe`` see the newest
definition, because that is what the object now is.

``__globals__``, ``__builtins__`` and ``__closure__`` are read-only in
Python, so they are written into the function's C structure, exactly as the
proxy's namespace pointer is (``_proxy.FAST_SWAP``); the layout is checked on
a scratch function at start-up and without it (``TRANSPLANT`` false) old
functions keep forwarding (``_forwarders``).

A frame of the function borrows its globals and builtins from it without
a reference of its own, and keeps borrowing them after it returns: a frame
object in a traceback, a suspended generator, a frame some thread is still
running. The namespace a transplant displaces is therefore kept alive for
exactly as long as the code it was paired with (a weak reference to that
code object), since every such frame holds its code. Each transplant gives
the function a private copy of the newest code, so that tie never outlives
the frames that need it: once the function moves on, only its old frames
hold the old copy.
"""

from __future__ import annotations

import ctypes
import operator
import os
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

from .._core.pointers import swap_pointer
from .._core.proxy import FAST_SWAP

__all__ = ["TRANSPLANT", "Transplant", "plan_transplant", "arm", "transplant_operations", "call_version",
           "fresh_code_objects"]

FunctionType = types.FunctionType

# PyFunctionObject begins with PyObject_HEAD, then globals, builtins, name,
# qualname, code, defaults, kwdefaults, closure (3.11, 3.12, 3.13).
_WORD = ctypes.sizeof(ctypes.c_void_p)
_GLOBALS = object.__basicsize__
_BUILTINS = _GLOBALS + _WORD
_CLOSURE = _GLOBALS + 7 * _WORD

_ATTRIBUTES = ("__defaults__", "__kwdefaults__", "__annotations__", "__doc__", "__name__", "__qualname__",
               "__module__") + (("__type_params__",) if sys.version_info >= (3, 12) else ())


_READ = operator.attrgetter(*_ATTRIBUTES)  # all of them in one C call
_builtins_of: Callable[[FunctionType], dict[str, Any]] = operator.attrgetter("__builtins__")


def _slot(function: FunctionType, offset: int) -> ctypes.c_void_p:
    return ctypes.c_void_p.from_address(id(function) + offset)


class Transplant:
    """A planned transplant: the operations that make ``version`` the function a body is, not applied yet.

    Planning has no side effect (``plan_transplant``); ``arm`` takes the
    references the pass needs, right before it runs.
    """

    __slots__ = ("version", "code", "slots", "do", "undo", "own_code")

    def __init__(self, version: FunctionType, code: types.CodeType, slots: list[tuple[int, Any, Any]],
                 do: list[tuple[Any, ...]], undo: list[tuple[Any, ...]], own_code: types.CodeType) -> None:
        self.version = version
        self.code = code  # the private copy of the body's code the version gets
        self.slots = slots  # (offset, old, new) of the C pointers that change
        self.do = do
        self.undo = undo
        self.own_code = own_code


def plan_transplant(version: FunctionType, body: FunctionType, own_code: types.CodeType, call_version: int = 0,
                    attributes: dict[str, Any] | None = None) -> Transplant:
    """Plan making ``version`` the function ``body`` is: its code, globals, builtins, closure and attributes.

    ``own_code`` is what ``version`` ran on its own (frames of it may borrow
    the namespace it displaces); ``call_version``: see ``call_version``.
    ``attributes`` (``__dict__`` included) override what is read from
    ``body``, for values still to be mapped to identities. Only what differs
    is written.
    """
    # A private copy (see the module docstring); 3.13 is given the body's
    # call version for it, since a copy made in Python has none there.
    code = body.__code__.replace()
    slots = []
    for offset, old, new in ((_GLOBALS, version.__globals__, body.__globals__),
                             (_BUILTINS, _builtins_of(version), _builtins_of(body)),
                             (_CLOSURE, version.__closure__, body.__closure__)):
        if old is not new:
            slots.append((offset, old, new))
    # The closure must have as many cells as the code has free variables when
    # __code__ is assigned, so the closure is written first and restored last
    # (``arm`` puts the pointer writes first).
    do: list[tuple[Any, ...]] = [(setattr, version, "__code__", code)]
    undo: list[tuple[Any, ...]] = [(setattr, version, "__code__", version.__code__)]
    wanted = attributes or {}
    contents = wanted.get("__dict__", body.__dict__)
    if contents or version.__dict__:
        do.append((setattr, version, "__dict__", dict(contents)))
        undo.append((setattr, version, "__dict__", version.__dict__))
    for name, value, before in zip(_ATTRIBUTES, _READ(body), _READ(version)):
        if name in wanted:
            value = wanted[name]
        if before is value:
            continue
        do.append((setattr, version, name, value))
        undo.append((setattr, version, name, before))
    if _VERSION is not None and call_version:
        # Last: assigning __code__ or __defaults__ above reset it to "never specialise".
        version_slot = ctypes.c_uint32.from_address(id(version) + _VERSION)
        do.append((setattr, version_slot, "value", call_version))
        undo.append((setattr, version_slot, "value", 0))
    return Transplant(version, code, slots, do, undo, own_code)


def arm(transplant: Transplant) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Callable[[], None]]:
    """Return ``(do, undo, finish)`` for one atomic pass; ``finish()`` must run once after it, applied or undone.

    ``finish`` settles reference counts and keeps the displaced namespace
    alive while a frame may borrow it: a frame of the code the version ran
    on its own, or of the code it has now (a forwarder, an earlier copy).
    """
    version, code = transplant.version, transplant.code
    old_code = version.__code__
    # The function's pointers are strong references: ``swap_pointer`` keeps the counts right.
    swaps = [swap_pointer(id(version) + offset, old, new) for offset, old, new in transplant.slots]
    do = [swap[0] for swap in swaps] + transplant.do
    undo = [swap[1] for swap in swaps] + transplant.undo
    settled: list[bool] = []

    def finish() -> None:
        if settled:
            return
        settled.append(True)
        applied = version.__code__ is code
        if applied:
            # A frame copies its closure's cells, but borrows globals and builtins.
            borrowed = tuple(old for offset, old, _ in transplant.slots if offset != _CLOSURE)
            if borrowed:
                _keep_while_frames_may_borrow(borrowed, (old_code, transplant.own_code))
        for _, _, settle in swaps:
            settle(applied)

    return do, undo, finish


def transplant_operations(version: FunctionType, body: FunctionType, own_code: types.CodeType,
                          call_version: int = 0
                          ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Callable[[], None],
                                     types.CodeType]:
    """Plan and arm making ``version`` the function ``body`` is; return ``(do, undo, finish, the code it gets)``."""
    transplant = plan_transplant(version, body, own_code, call_version)
    do, undo, finish = arm(transplant)
    return do, undo, finish, transplant.code


# id(weak reference to a code object) -> (that reference, what its frames may borrow).
_borrowed: dict[int, tuple[weakref.ref[types.CodeType], tuple[Any, ...]]] = {}


def _keep_while_frames_may_borrow(objects: tuple[Any, ...], codes: tuple[types.CodeType, ...]) -> None:
    """Keep ``objects`` alive while a frame of one of ``codes`` may exist (each frame holds its code)."""
    distinct = {id(code): code for code in codes}  # code objects compare by content: keyed by identity
    for code in distinct.values():
        reference = weakref.ref(code, _release)
        _borrowed[id(reference)] = (reference, objects)


def _release(reference: weakref.ref[types.CodeType], borrowed: dict[int, Any] = _borrowed) -> None:
    # ``borrowed`` is bound now: a code object may die at shutdown, after module globals are cleared.
    borrowed.pop(id(reference), None)


def fresh_code_objects(code: types.CodeType) -> types.CodeType:
    """Return a copy of ``code`` whose nested code objects (its functions' code) are copies too."""
    consts = tuple(fresh_code_objects(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_consts=consts)


# 3.13 specialises a call only for a function whose version is set, which
# only MAKE_FUNCTION does: it is the code's version, and assigning __code__
# or __defaults__ resets it to 0. Earlier versions assign one on demand.
# uint32 after PyObject_HEAD, 8 pointers, doc, dict, weakreflist, module,
# annotations, typeparams and vectorcall.
_VERSION: int | None = (_GLOBALS + 15 * _WORD) if sys.version_info[:2] == (3, 13) else None


def call_version(function: FunctionType) -> int:
    """Return the version CPython gave ``function`` when MAKE_FUNCTION made it (0 where none is needed)."""
    if _VERSION is None or not TRANSPLANT:
        return 0
    return ctypes.c_uint32.from_address(id(function) + _VERSION).value


def _check_version_offset() -> bool:
    if _VERSION is None:
        return True
    namespace: dict[str, Any] = {}
    exec(compile("def probe():\n    return 1\n", "<versioned_import version check>", "exec"), namespace)
    probe = namespace["probe"]
    slot = ctypes.c_uint32.from_address(id(probe) + _VERSION)
    made = slot.value
    probe.__code__ = probe.__code__
    return made != 0 and slot.value == 0


def _check_transplant() -> bool:
    """Verify on scratch functions that the C layout is the one written above, and a write works."""
    if not FAST_SWAP:
        return False

    def make(value: int) -> FunctionType:
        def scratch() -> int:
            return value
        return scratch  # type: ignore[return-value]  # a def is a FunctionType

    try:
        first, second = make(1), make(2)
        second_globals = {"__builtins__": __builtins__}
        second = FunctionType(second.__code__, second_globals, "scratch", None, second.__closure__)
        for function in (first, second):
            if (_slot(function, _GLOBALS).value, _slot(function, _BUILTINS).value, _slot(function, _CLOSURE).value) \
                    != (id(function.__globals__), id(_builtins_of(function)), id(function.__closure__)):
                return False
        do, _, finish, _ = transplant_operations(first, second, first.__code__)
        for operation in do:
            operation[0](*operation[1:])
        finish()
        return (first() == 2 and first.__globals__ is second_globals and first.__closure__ is second.__closure__
                and _check_version_offset())
    except Exception:  # any surprise means: do not touch C structures, keep forwarding
        return False


# On wherever the layout checks out; VERSIONED_IMPORT_TRANSPLANT=0 keeps held
# functions forwarding (one extra call and frame, same identity).
TRANSPLANT: bool = os.environ.get("VERSIONED_IMPORT_TRANSPLANT") != "0" and _check_transplant()
