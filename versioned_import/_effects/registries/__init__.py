"""The known registries (G17): one entry per library, each active only when its library is already imported.

Importing versioned_import imports none of these libraries; an entry looks
at a module only if the library is in ``sys.modules`` (or the module imports
it) and the module's source mentions it. To add one, write an ``Entry`` (see
``_effects.recording``) whose ``start``/``finish`` return ``Effect`` records
(``_core.effects``), and list it here; an entry whose registrations tie
modules together (ORM mappers, models) is also a ``Coordinated`` one, listed
in ``COORDINATED`` too. docs/side-effects.md says how.

May import: what ``_effects`` may (``_errors``, ``_core``), and ``_effects.recording``.
"""

from ..recording import Coordinated, Entry
from .django import DjangoEntry
from .exits import AtexitEntry
from .imports import ImportSystemEntry
from .logs import LoggingEntry
from .metrics import MetricsEntry
from .signals import SignalEntry
from .sqlalchemy import SQLAlchemyEntry

__all__ = ["COORDINATED", "ENTRIES"]

_SQLALCHEMY = SQLAlchemyEntry()
_DJANGO = DjangoEntry()

ENTRIES: list[Entry] = [LoggingEntry(), AtexitEntry(), SignalEntry(), MetricsEntry(), ImportSystemEntry(), _SQLALCHEMY, _DJANGO]
COORDINATED: list[Coordinated] = [_SQLALCHEMY, _DJANGO]
