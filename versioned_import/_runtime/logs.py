"""One log line per publish and per refusal, on the ``versioned_import`` logger.

Every report that published or refused goes to the logger as exactly one
line: INFO for a publish or rollback, ERROR for a refusal. The full
``ReloadError`` (with the offending source line) and the report ride on the
record as ``record.error`` and ``record.report`` for handlers that want them.

When the application configured no logging at all (no handler on our logger
or any ancestor, root included), Python would drop the INFO lines and print
the ERROR ones through its "last resort" handler, unprefixed. Instead, the
record goes to stderr through a handler of our own, one prefixed line each,
the same line the command line prints. Configuring any handler (even a
``logging.NullHandler()`` on the ``versioned_import`` logger) hands the lines
to that configuration, and then its levels decide.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .._report import PREFIX, describe

if TYPE_CHECKING:
    from .._report import ReloadReport

__all__ = ["emit"]

# Made at the first line to emit: ``logging`` is imported only then, so that
# importing versioned_import stays cheap for the many programs that never reload.
_fallback: Any = None


def _stderr_handler(logging: Any) -> Any:
    class StderrHandler(logging.StreamHandler):  # type: ignore[misc]  # ``logging`` arrives as a parameter
        """Writes to whatever ``sys.stderr`` is at the time (tests and servers replace it)."""

        @property
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass  # StreamHandler.__init__ assigns one; the current sys.stderr is always used

    handler = StderrHandler()
    handler.setFormatter(logging.Formatter(PREFIX + "%(message)s"))
    return handler


def emit(report: ReloadReport) -> None:
    """Log the report's one line; to stderr directly when the application configured no logging."""
    if report.error is None and not report.reloaded and not report.unloaded:
        return  # nothing was published, unloaded or refused
    global _fallback
    import logging

    log = logging.getLogger("versioned_import")
    level = logging.INFO if report.error is None else logging.ERROR
    record = log.makeRecord(log.name, level, __file__, 0, describe(report), (), None, "emit",
                            {"report": report, "error": report.error})
    if log.hasHandlers():
        if log.isEnabledFor(level):
            log.handle(record)
    elif not log.disabled:
        if _fallback is None:
            _fallback = _stderr_handler(logging)
        _fallback.handle(record)
