"""What a refused transaction names: the module (or stage hook's module) that failed, and the error users see."""

from __future__ import annotations

from typing import NamedTuple

from .._core.source import Source
from .._core.state import ModuleRecord
from .._errors import ReloadError, refusal_message

__all__ = ["Blame", "FailureRecord", "refusal_error"]


class Blame(NamedTuple):
    """What a refusal names when the failure is not a module of the set (a stage hook's app factory)."""

    name: str
    path: str | None
    generation: int


# The first failure of a transaction: who, what, the remedy to suggest, and the new source if any.
FailureRecord = tuple[ModuleRecord | Blame, BaseException, str, Source | None]


def refusal_error(failure: FailureRecord) -> ReloadError:
    """Return the ``ReloadError`` for a transaction's first failure, its cause chained."""
    record, exc, remedy, source = failure
    text = None
    if source is not None:
        try:
            text = source.text()
        except (SyntaxError, UnicodeDecodeError, ValueError):
            text = None
    message = refusal_message("reload", record.name, record.path, exc, record.generation, remedy, text)
    error = ReloadError(message, module=record.name, path=record.path)
    error.__cause__ = exc
    return error
