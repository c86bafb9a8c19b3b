"""Exceptions raised by versioned_import, and how their messages read.

Every refusal names the module, the file and what to do next, and says which
generation is still live: a refused reload loses nothing.
"""

from __future__ import annotations

import traceback
from typing import Any

__all__ = ["ReloadError", "NotVersionedError", "refusal_message", "error_location", "error_line"]


class ReloadError(ImportError):
    """A reload (or rollback) was refused; the previous generation is still live.

    ``module`` is the dotted name of the module that failed, ``path`` its
    source file (or ``None``), and ``__cause__`` the original exception, whose
    traceback points into the new source.
    """

    def __init__(self, message: str, *, module: str | None = None, path: str | None = None) -> None:
        super().__init__(message, name=module, path=path)
        self.module = module

    def __reduce__(self) -> tuple[Any, ...]:  # keep module/path through pickling (multiprocessing, logging handlers)
        return (_rebuild, (type(self), self.msg, self.module, self.path))


class NotVersionedError(ReloadError):
    """A name or module was passed that is not a versioned module (``math``, a typo, an unloaded module)."""


def _rebuild(cls: type[ReloadError], message: str, module: str | None, path: str | None) -> ReloadError:
    return cls(message, module=module, path=path)


def error_line(exc: BaseException, path: str | None) -> int | None:
    """Return the line in ``path`` where ``exc`` happened (the innermost frame there), or None."""
    if isinstance(exc, SyntaxError) and exc.filename == path and exc.lineno:
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    return line


def error_location(exc: BaseException, path: str | None) -> str:
    """Return ``file:line`` for where ``exc`` happened in ``path``, or just the file."""
    line = error_line(exc, path)
    return str(path) if line is None else f"{path}:{line}"


def refusal_message(action: str, module: str, path: str | None, exc: BaseException, live: int | None, remedy: str,
                    source_text: str | None = None) -> str:
    """Format the one message every refusal uses.

    ``reload of 'app.views' refused: SyntaxError at app/views.py:12: invalid
    syntax; generation 3 is still live — fix the file and reload again``,
    followed by the offending line of the *new* source when it is known
    (tracebacks keep showing the source that runs, which is the old one).
    """
    what = type(exc).__name__
    detail = str(exc.msg if isinstance(exc, SyntaxError) and exc.msg else exc)
    where = error_location(exc, path) if path else "<no file>"
    text = f"{action} of {module!r} refused: {what} at {where}"
    if detail:
        text += f": {detail}"
    if live:
        text += f"; generation {live} is still live"
    else:
        text += "; nothing was changed"
    text += f" — {remedy}"
    line = error_line(exc, path) if path else None
    if source_text is not None and line is not None:
        lines = source_text.splitlines()
        if 0 < line <= len(lines) and lines[line - 1].strip():
            text += f"\n    {line} | {lines[line - 1].strip()}"
    return text
