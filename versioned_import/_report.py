"""What a reload reports: the plain records ``_continuity`` and ``_reload`` both produce."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import ReloadError

__all__ = ["ReloadReport", "Replaced"]


@dataclass(frozen=True)
class Replaced:
    """An object that could not be continued: the new one took its place (G7)."""

    module: str
    qualname: str
    reason: str

    def __str__(self) -> str:
        return f"{self.module}.{self.qualname}: {self.reason}"


@dataclass(frozen=True)
class ReloadReport:
    """What one reload, rollback or refused attempt did.

    ``reloaded`` lists the modules executed (or republished), in execution
    order; ``generations`` maps each to its new generation number;
    ``elapsed`` is in seconds; ``replaced`` lists objects that could not be
    continued, with why. A refused attempt has ``error`` set and publishes
    nothing.
    """

    reloaded: tuple[str, ...] = ()
    generations: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    replaced: tuple[Replaced, ...] = ()
    error: ReloadError | None = None
    action: str = "reload"

    @property
    def ok(self) -> bool:
        """True when the attempt published (or had nothing to do)."""
        return self.error is None
