"""The process's services: what runs beside the application and what a reload tells the world.

Offers: the watcher (``watcher``, with ``inotify`` under it), fork safety
(``fork``), the control channel and coordinated reloads (``channel``,
``control``, ``coordinate``), the reload signal (``signals``), quiet service
threads (``threads``), the one log line per report (``logs``) and the framework
caches dropped after a publish (``frameworks``). ``connect`` hands the last two
to the state as sinks, so the transaction below never imports them.

May import: ``_errors``, ``_report``, ``_core``, ``_continuity`` (nothing of
it today), ``_reload``. Never ``_api``, ``_integrations`` or ``_cli``.
"""

from __future__ import annotations

from .._core.state import State
from . import fork, frameworks, logs

__all__ = ["connect"]


def connect(state: State) -> None:
    """Register the runtime's sinks and fork hooks with ``state`` (idempotent: ``install()`` may run twice)."""
    fork.register(state)
    for sinks, sink in ((state.before_subscribers, frameworks.refresh), (state.after_subscribers, logs.emit),
                        (state.stale_reader_done, frameworks.stale_reader_done)):
        if sink not in sinks:
            sinks.append(sink)  # type: ignore[arg-type]  # each list's own Protocol
