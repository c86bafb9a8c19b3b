"""logging: the handlers, filters and levels a module's code gives to loggers.

Compared before and after the execution. A reload takes the previous
generation's out before the new code runs (``retract_before``), so
``logging.basicConfig()`` and ``getLogger(__name__).addHandler(...)`` find
the loggers as a fresh process would, and a refused reload puts them back.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..._core.effects import Effect
from ..recording import Recording

__all__ = ["LoggingEntry"]


def _loggers(logging: Any) -> list[Any]:
    loggers = [logging.getLogger()]
    loggers.extend(value for value in list(logging.Logger.manager.loggerDict.values())
                   if isinstance(value, logging.Logger))
    return loggers


@dataclass(eq=False)
class HandlerAdded:
    logger: Any
    handler: Any
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, int, int]:
        return ("logging.handler", id(self.logger), id(self.handler))

    def retract(self) -> None:
        self.logger.removeHandler(self.handler)
        self.applied = False

    def restore(self) -> None:
        self.logger.addHandler(self.handler)  # addHandler ignores a handler already there
        self.applied = True

    def discard(self) -> None:
        self.handler.close()

    def describe(self) -> str:
        return f"logging handler {type(self.handler).__name__} on {self.logger.name!r}"


@dataclass(eq=False)
class FilterAdded:
    logger: Any
    filter: Any
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, int, int]:
        return ("logging.filter", id(self.logger), id(self.filter))

    def retract(self) -> None:
        self.logger.removeFilter(self.filter)
        self.applied = False

    def restore(self) -> None:
        self.logger.addFilter(self.filter)
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"logging filter {self.filter!r} on {self.logger.name!r}"


@dataclass(eq=False)
class LevelSet:
    logger: Any
    before: int
    after: int
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, int]:
        return ("logging.level", id(self.logger))

    def retract(self) -> None:
        if self.logger.level == self.after:
            self.logger.setLevel(self.before)
        self.applied = False

    def restore(self) -> None:
        self.logger.setLevel(self.after)
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"level {self.after} of logger {self.logger.name!r}"


class LoggingEntry:
    library: str = "logging"
    markers: tuple[str, ...] = ("addHandler", "addFilter", "setLevel", "basicConfig", "dictConfig", "fileConfig")

    def start(self, recording: Recording) -> object:
        logging = sys.modules.get("logging")
        if logging is None:
            return {}
        return {id(logger): (logger, list(logger.handlers), list(logger.filters), logger.level)
                for logger in _loggers(logging)}

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        logging = sys.modules.get("logging")
        if logging is None:
            return []
        before: dict[int, tuple[Any, list[Any], list[Any], int]] = started  # type: ignore[assignment]  # from start()
        found: list[Effect] = []
        for logger in _loggers(logging):
            _, handlers, filters, level = before.get(id(logger), (logger, [], [], logging.NOTSET))
            found.extend(HandlerAdded(logger, h) for h in logger.handlers if not any(h is old for old in handlers))
            found.extend(FilterAdded(logger, f) for f in logger.filters if not any(f is old for old in filters))
            if logger.level != level:
                found.append(LevelSet(logger, level, logger.level))
        return found
