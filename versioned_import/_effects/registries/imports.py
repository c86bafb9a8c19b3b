"""The import system's own registries: ``sys.modules`` entries and ``sys.meta_path`` finders a module's code adds.

six puts a module object of its own making in ``sys.modules``
(``sys.modules.setdefault(__name__ + ".moves", moves)``) and a finder on
``sys.meta_path``; a vendoring shim aliases modules the same way. Re-executed
as is, the new code finds the old generation's objects there and keeps them
(``setdefault``), or adds a second finder. So the previous generation's go out
before the new code runs, as a fresh process would have it, and come back if
the reload is refused. Modules the import system imported meanwhile are not
the module's registrations (they have a spec); versioned_import's own finder
is never one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..._core.effects import Effect
from ..recording import Recording

__all__ = ["ImportSystemEntry"]

_ABSENT: Any = object()


@dataclass(eq=False)
class ModuleAliased:
    name: str
    module: Any
    before: Any
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return ("sys.modules", self.name)

    def retract(self) -> None:
        if sys.modules.get(self.name) is self.module:
            if self.before is _ABSENT:
                del sys.modules[self.name]
            else:
                sys.modules[self.name] = self.before
        self.applied = False

    def restore(self) -> None:
        sys.modules[self.name] = self.module
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"sys.modules[{self.name!r}]"


@dataclass(eq=False)
class FinderAdded:
    finder: Any
    index: int
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, int]:
        return ("sys.meta_path", id(self.finder))

    def retract(self) -> None:
        if any(f is self.finder for f in sys.meta_path):
            sys.meta_path[:] = [f for f in sys.meta_path if f is not self.finder]
        self.applied = False

    def restore(self) -> None:
        if not any(f is self.finder for f in sys.meta_path):
            sys.meta_path.insert(min(self.index, len(sys.meta_path)), self.finder)
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"sys.meta_path finder {self.finder!r}"


def _registered(value: object) -> bool:
    # What the module's code put there itself: the import system gives what it imports a spec.
    return getattr(value, "__spec__", None) is None


class ImportSystemEntry:
    library: str = "sys"
    markers: tuple[str, ...] = ("modules", "meta_path")

    def start(self, recording: Recording) -> object:
        return dict(sys.modules), list(sys.meta_path)

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        modules: dict[str, Any]
        finders: list[Any]
        modules, finders = started  # type: ignore[misc]  # what start() returned
        found: list[Effect] = []
        for name, module in list(sys.modules.items()):
            before = modules.get(name, _ABSENT)
            if module is not before and _registered(module) and name != recording.record.name:
                found.append(ModuleAliased(name, module, before))
        own = recording.record.spec.loader
        for index, finder in enumerate(sys.meta_path):
            if not any(finder is old for old in finders) and type(finder).__module__ != own.__class__.__module__:
                found.append(FinderAdded(finder, index))
        return found
