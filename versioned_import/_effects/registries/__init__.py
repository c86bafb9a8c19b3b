"""The known registries (G17): one entry per library, each active only when its library is already imported.

Importing versioned_import imports none of these libraries; an entry looks
at a module only if the library is in ``sys.modules`` (or the module imports
it) and the module's source mentions it. To add one, write an ``Entry`` (see
``_effects.recording``) whose ``start``/``finish`` return ``Effect`` records
(``_core.effects``), and list it here; docs/side-effects.md says how.

May import: what ``_effects`` may (``_errors``, ``_core``), and ``_effects.recording``.
"""

from ..recording import Entry
from .exits import AtexitEntry
from .imports import ImportSystemEntry
from .logs import LoggingEntry
from .metrics import MetricsEntry
from .signals import SignalEntry

__all__ = ["ENTRIES"]

ENTRIES: list[Entry] = [LoggingEntry(), AtexitEntry(), SignalEntry(), MetricsEntry(), ImportSystemEntry()]
