"""atexit: the functions a module's code registers to run at exit, once per module, not once per generation.

``atexit`` cannot be read back, so the registering call is intercepted while
a module that mentions ``atexit`` executes (only on that thread). In a reload
the registration is deferred to the publish; at the publish the previous
generation's registrations are unregistered.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..recording import InterceptingEntry, Interception, current

__all__ = ["AtexitEntry"]

_register = atexit.register


@dataclass(eq=False)
class Registered:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    applied: bool = False
    retract_before: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return ("atexit", id(self.function))

    def retract(self) -> None:
        if self.applied:
            atexit.unregister(self.function)
            self.applied = False

    def restore(self) -> None:
        if not self.applied:
            atexit.unregister(self.function)  # exactly one registration, whatever came before
            _register(self.function, *self.args, **self.kwargs)
            self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"atexit function {getattr(self.function, '__qualname__', self.function)!r}"


def register(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """``atexit.register`` while a versioned module executes: recorded, and deferred inside a reload."""
    recording = current.get()
    if recording is None:
        return _register(function, *args, **kwargs)
    effect = Registered(function, args, kwargs)
    if not recording.reloading:
        _register(function, *args, **kwargs)
        effect.applied = True
    recording.intercepted.append(effect)
    return function


class AtexitEntry(InterceptingEntry):
    library: str = "atexit"
    markers: tuple[str, ...] = ("atexit",)
    interception = Interception(atexit, "register", register)
