"""What a reload reports: the plain records ``_continuity`` and ``_reload`` both produce, and its one line."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import ReloadError, error_location

__all__ = ["ReloadReport", "Replaced", "describe", "terminal_line", "PREFIX"]

# What starts every line the library writes to a terminal or stderr.
PREFIX = "[versioned_import] "


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
    nothing. After a rollback, ``held`` lists the modules whose file on disk
    still holds the source rolled back from: ``changed()``, ``reload_changed()``
    and the watcher leave them alone until the file is saved with other bytes
    (or the module is reloaded by name). ``unloaded`` lists the modules whose file was deleted and
    that the new sources no longer import, unloaded by the same reload.
    """

    reloaded: tuple[str, ...] = ()
    generations: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    replaced: tuple[Replaced, ...] = ()
    error: ReloadError | None = None
    action: str = "reload"
    held: tuple[str, ...] = ()
    unloaded: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the attempt published (or had nothing to do)."""
        return self.error is None


def describe(report: ReloadReport) -> str:
    """Return the one line for a report: what was published, or why it was refused (no prefix, no newline)."""
    if report.error is not None:
        cause = report.error.__cause__ or report.error
        where = error_location(cause, report.error.path) if report.error.path else report.error.module
        detail = cause.msg if isinstance(cause, SyntaxError) and cause.msg else str(cause)
        detail = " ".join(str(detail).split())  # one line, whatever the exception's message holds
        return f"refused: {where}: {type(cause).__name__}: {detail} (old code still running)"
    modules = ", ".join(f"{name} (gen {report.generations.get(name)})" for name in report.reloaded)
    verb = "rolled back" if report.action == "rollback" else "reloaded"
    line = f"{verb} {modules}" if modules else ""
    if report.unloaded:
        line += ("; " if line else "") + "unloaded " + ", ".join(report.unloaded)
    line += f" in {report.elapsed * 1000:.1f} ms"
    if report.replaced:
        line += "; replaced: " + "; ".join(str(item) for item in report.replaced)
    if report.held:
        line += f"; not taken from disk until saved again: {', '.join(report.held)}"
    return line


def terminal_line(report: ReloadReport) -> str:
    """Return the report's one line as printed on a terminal: ``describe`` with the library's prefix."""
    return PREFIX + describe(report)
