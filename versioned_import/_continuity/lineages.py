"""Lineage records: what one generation defines, and the identity a class is continued as.

Pure data shared by both sides of continuity: ``_continuity`` (the pipeline
and the classes) and ``_functions`` (the functions) read and write them, and
this module imports neither. ``FunctionLineage`` lives with the forwarders
that call it (``_forwarders``).
"""

from __future__ import annotations

import types
import weakref
from dataclasses import dataclass, field
from typing import Any

from .classes import ClassState

__all__ = ["Definitions", "ClassLineage"]

FunctionType = types.FunctionType


@dataclass(eq=False)
class Definitions:
    """The classes and functions one generation defines, found by walking its namespace."""

    classes: dict[str, type] = field(default_factory=dict)
    functions: dict[tuple[str, str], FunctionType] = field(default_factory=dict)
    caches: dict[tuple[str, str], Any] = field(default_factory=dict)
    codes: dict[tuple[str, str], types.CodeType] = field(default_factory=dict)
    states: dict[str, ClassState] = field(default_factory=dict)
    # What each lineage resolved to before this generation was published, so
    # that rolling it back restores definitions the republished source lacks.
    previous_targets: dict[tuple[str, str], Any] = field(default_factory=dict)
    previous_states: dict[str, weakref.ref[Any] | None] = field(default_factory=dict)
    bodies: dict[tuple[str, str], FunctionType] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)  # see _transplant.call_version
    # Class attributes whose identity keeps its own, equal object (``equivalence``): qualname -> names.
    kept: dict[str, set[str]] = field(default_factory=dict)


class ClassLineage:
    """The identity of a class defined at one place: strong while defined, weak once the source drops it."""

    __slots__ = ("identity", "dormant", "state")

    def __init__(self, identity: type, state: ClassState | None = None) -> None:
        self.identity: type | None = identity
        self.dormant: weakref.ref[Any] | None = None
        # The ClassState last applied to the identity, held weakly: it lives as
        # long as the generation that defined it is kept.
        self.state: weakref.ref[Any] | None = weakref.ref(state) if state is not None else None

    def get(self) -> type | None:
        if self.identity is not None:
            return self.identity
        return self.dormant() if self.dormant is not None else None

    def revive(self, identity: type) -> None:
        self.identity, self.dormant = identity, None

