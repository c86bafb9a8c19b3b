"""The class side's decisions: which new classes continue as their identities, and which are replaced (G7).

``Matching`` is the bookkeeping of one publish's classes; ``decide_all``
decides every candidate, bases and metaclasses first, and replaces a base
that no subclass can sit on.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass, field
from typing import Any

from .._report import Replaced
from .classes import (
    HAVE_GC,
    enum_incompatibility,
    incompatibility,
    probe,
)
from .holders import bases_of, dict_of, mro_of, retype_operations, set_bases
from .operations import Plan, mapped
from .references import Holders

__all__ = ["Matching", "decide_all", "enum_members", "first_instances"]

FunctionType = types.FunctionType


@dataclass(eq=False)
class Matching:
    """The classes of one publish: which continue (``mapping``: new -> identity), which start afresh."""

    candidates: list[tuple[str, str, type, type, Any]] = field(default_factory=list)
    continued: list[tuple[str, str, type, type, Any]] = field(default_factory=list)
    fresh: list[tuple[str, str, type, Any]] = field(default_factory=list)
    restarted: list[tuple[str, str]] = field(default_factory=list)  # (module, "Class.") of replaced classes
    mapping: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    found: Holders | None = None
    mapped: Any = None
    class_dicts: set[int] = field(default_factory=set)
    scope: Any = None
    functions: list[FunctionType] = field(default_factory=list)  # new functions that have an identity to become
    originals: dict[str, dict[tuple[str, str], FunctionType]] = field(default_factory=dict)

    def own(self) -> set[int]:
        """The ids of this bookkeeping, which refers to the new objects and is never rewritten."""
        ids = {id(self.candidates), id(self.continued), id(self.fresh), id(self.mapping), id(self.functions)}
        ids.update(id(item) for item in self.candidates)
        ids.update(id(item) for item in self.fresh)
        return ids

    def release(self) -> None:
        """Let go of every new object at once: ``mapped`` is a closure over ``mapping`` that refers to
        itself (a cycle), so without this the throwaway new objects would wait for the collector."""
        self.mapping.clear()
        if self.found is not None:
            # ``mapped`` refers to ``found`` too: what it holds (containers of the application) goes now.
            self.found.rewrites.clear()
            self.found.copies.clear()
            self.found.copiers.clear()
        self.candidates, self.continued, self.fresh, self.found, self.mapped, self.scope = [], [], [], None, None, None
        self.functions = []



class _Cascade(Exception):
    """A new class cannot be put on the identities of its bases: those bases must be replaced too."""

    def __init__(self, bases: list[type], reason: str) -> None:
        super().__init__(reason)
        self.bases = bases
        self.reason = reason


def decide_all(result: Plan, matching: Matching, instances: dict[int, Any]) -> None:
    """Decide every candidate, bases and metaclasses first; a base no subclass can sit on is replaced.

    Deciding puts each new class on the identities of its bases (it is still
    private to the reload). Where CPython refuses that for a subclass (3.11
    compares int-derived and ``__weakref__``-slotted layouts strictly), the
    bases it names are decided again as replaced, and everything restarts
    from the original bases: no class ends up on a base that was not kept.
    """
    fresh, forced = list(matching.fresh), dict[int, str]()
    original = {id(cls): (cls, bases_of(cls)) for cls in [c[3] for c in matching.candidates] + [c[2] for c in fresh]}
    mapped_so_far = functools.partial(mapped, mapping=matching.mapping)
    for _ in range(len(original) + 1):
        replaced: list[Replaced] = []
        try:
            for module, qualname, identity, cls, new in matching.candidates:
                reason = forced.get(id(cls)) or _decide(identity, cls, mapped_so_far, instances.get(id(cls)))
                if reason is not None:
                    replaced.append(Replaced(module, qualname, reason))
                    matching.fresh.append((module, qualname, cls, new))
                    matching.restarted.append((module, qualname + "."))
                else:
                    matching.mapping[id(cls)] = (cls, identity)
                    matching.continued.append((module, qualname, identity, cls, new))
            for module, qualname, cls, _ in matching.fresh:
                _rebase(cls, mapped_so_far, f"{module}.{qualname}")
        except _Cascade as cascade:
            for base in cascade.bases:
                forced[id(base)] = cascade.reason
            for cls, bases in original.values():
                if bases_of(cls) != bases:
                    set_bases(cls, bases)
            matching.mapping.clear()
            matching.continued.clear()
            matching.restarted.clear()
            matching.fresh[:] = fresh
            continue
        result.replaced.extend(replaced)
        return
    raise AssertionError("class decisions did not settle")  # each round forces at least one more base


def _rebase(cls: type, mapped: Any, where: str) -> None:
    """Put the new class ``cls`` on the identities of its bases, or say which bases cannot be kept."""
    bases = tuple(map(mapped, bases_of(cls)))
    if bases == bases_of(cls):
        return
    try:
        set_bases(cls, bases)
    except TypeError as error:
        raise _Cascade(_offending(cls, bases), f"its subclass {where} cannot be put on the existing class ({error}); "
                       "the new class takes its place and existing instances keep the old class") from None


def _offending(cls: type, bases: tuple[type, ...]) -> list[type]:
    """Return the bases of ``cls`` that CPython refuses to see replaced by their identity (all, if none alone)."""
    original = bases_of(cls)
    changed = [index for index, (new, identity) in enumerate(zip(original, bases)) if identity is not new]
    offending = []
    for index in changed:
        trial = original[:index] + (bases[index],) + original[index + 1:]
        if probe([((set_bases, cls, trial), (set_bases, cls, original))]) is not None:
            offending.append(original[index])
    return offending or [original[index] for index in changed]


def enum_members(cls: type) -> list[Any]:
    members = dict_of(cls).get("_member_map_")
    return list(members.values()) if type(members) is dict else []


def first_instances(found: Holders) -> dict[int, Any]:
    """One instance of each class among the holders (instances hold their class), for probing retyping."""
    instances: dict[int, Any] = {}
    for holder, _ in found.rewrites:
        instances.setdefault(id(type(holder)), holder)
    for holder in found.copies.values():
        instances.setdefault(id(type(holder)), holder)
    return instances


def _decide(identity: type, cls: type, mapped: Any, instance: Any) -> str | None:
    """Say why ``cls`` cannot continue ``identity`` (None: it can), asking CPython itself where it decides.

    The new class is first put on the identities of its bases (``_rebase``),
    so that its instances created at import can take the identity's class:
    CPython compares the layouts of both classes up to a common base.
    """
    reason = incompatibility(identity, cls, mapped) or enum_incompatibility(identity, cls)
    if reason is not None:
        return reason
    old_base, new_base = identity.__base__ or object, cls.__base__ or object
    if bool(old_base.__flags__ & HAVE_GC) != bool(new_base.__flags__ & HAVE_GC):
        # CPython refuses this __bases__ assignment ("deallocator differs"),
        # e.g. a class that derived from object alone now derives from a class.
        return (f"its base changed from {old_base.__qualname__} to {new_base.__qualname__}, which "
                "CPython cannot apply to an existing class; existing instances keep the old class")
    if instance is not None:
        # Its instances must be able to take the identity's class; without any, the new class
        # is dropped after the publish and its own bases never matter.
        _rebase(cls, mapped, f"{cls.__module__}.{cls.__qualname__}")
    bases = tuple(map(mapped, bases_of(cls)))
    steps = []
    inverted = any(base is identity or identity in mro_of(base) for base in bases)
    if bases != bases_of(identity) and not inverted:
        # An inverted hierarchy only works once the bases are continued too: not probed.
        steps.append(((set_bases, identity, bases), (set_bases, identity, bases_of(identity))))
    if instance is not None and not inverted:
        steps.append(retype_operations(instance, identity))
    refusal = probe(steps) if steps else None
    if refusal is None:
        return None
    if instance is not None and len(steps) == 1:
        return (f"an instance created at import cannot take the existing class ({refusal}); the new class takes "
                "its place and existing instances keep the old class")
    return f"its new base classes cannot be applied in place ({refusal}); existing instances keep the old class"
