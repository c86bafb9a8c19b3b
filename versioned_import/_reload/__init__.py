"""The transaction (G4–G6, G9) and what it offers the layers above.

A reload stages new generations privately and publishes them in one step, or
abandons them; a first import is generation 1 of the same records; a rollback
republishes older generations; an unload forgets a module. Modules:
``lookup`` (names to records), ``locking`` (how a transaction begins and
ends), ``staging`` (the new generations executed as a fresh import runs them),
``transaction`` (stage, publish, abandon), ``first`` (first imports),
``changes`` (what changed on disk), ``rollback`` (the undo of a reload), ``unload``, ``adopt`` (modules
imported before ``install()``, for IPython's ``%load_ext``).

May import: ``_errors``, ``_report``, ``_core``, ``_continuity``. Never
``_runtime``, ``_integrations``, ``_cli`` or ``_api``: what they must hear of
(the log line, framework caches) they register as sinks on the state.
"""

from .adopt import adopt_imported as adopt_imported
from .changes import changed as changed
from .changes import changed_sources as changed_sources
from .changes import reload_changed as reload_changed
from .first import prepare_first as prepare_first
from .locking import notify as notify
from .lookup import not_versioned_message as not_versioned_message
from .lookup import resolve_records as resolve_records
from .lookup import versioned_records as versioned_records
from .rollback import StagedRollback as StagedRollback
from .rollback import held as held
from .rollback import rollback as rollback
from .rollback import stage_rollback as stage_rollback
from .transaction import StagedReload as StagedReload
from .transaction import reload as reload
from .transaction import stage as stage
from .unload import unload as unload

__all__ = ["adopt_imported", "changed", "changed_sources", "reload_changed", "prepare_first", "not_versioned_message",
           "resolve_records", "versioned_records", "rollback", "stage_rollback", "StagedRollback", "held", "notify",
           "StagedReload", "reload", "stage", "unload"]
