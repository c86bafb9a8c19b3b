"""Django: placeholder, filled below."""

from __future__ import annotations

from ..._core.effects import Effect
from ..._core.state import ModuleRecord
from ..recording import Recording

__all__ = ["DjangoEntry"]


class DjangoEntry:
    library = "django.apps"
    markers = (b"models.Model",)

    def start(self, recording: Recording) -> object:
        return None

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        return []

    def related(self, records: dict[str, ModuleRecord], names: set[str]) -> set[str]:
        return set()

    def staged(self, recordings: list[Recording]) -> None:
        pass

    def settled(self, records: list[ModuleRecord]) -> None:
        pass
