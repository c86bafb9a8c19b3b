"""Safe hot reload for a running Python process.

``versioned_import.install()`` at start-up puts a finder first on
``sys.meta_path``. Every module it versions lives in ``sys.modules`` as a
*proxy* that stays the same object for the module's whole life and resolves
to the module's current *generation*. A reload executes the new source in a
fresh namespace, privately, together with every module that imported it; only
when all of them succeeded are they *published*, in one step. Objects taken
before a reload (``from m import f``, instances, classes held elsewhere) behave
as the newest code: *continuity*.

The package is in wings, each a subpackage with one concern; imports flow
one way, bottom to top (``tests/test_layers.py`` holds it)::

    _errors  _report      leaves: the exceptions; the report and its one line
    _core/                the import system and the state: scope, source, graph, proxy,
                          state, finder, edges, pins, the atomic publish
    _continuity/          carrying classes and functions over (G7): capture, decisions,
                          classes, functions, forwarders, transplant, holders, references
    _effects/             side effects (G17): what module code registers in process-wide
                          state, recorded and carried through the transaction; ``hot``
    _reload/              the transaction (G4-G6, G9): stage, publish, abandon; first
                          import; changes; rollback; unload
    _runtime/             the process's services: watcher, fork, control channel,
                          coordination, signals, the log line, framework caches
    _api                  the public functions below, bound to the one state
    _integrations/        WSGI/ASGI entry points (G15), the IPython extension
    _cli/                 the command line: run, reload/status/rollback, demo

Each wing's ``__init__`` says what it offers and what it may import; where a
lower wing must call up (the log line, framework caches), the higher one
registers a sink at ``install()``.

The guarantees (G1–G18) are listed in ``docs/guarantees.md``.
"""

import sys as _sys

# Checked before anything else is imported: the implementation needs 3.11 (code.co_qualname, exception
# notes), and an older interpreter should say so in one line, not fail somewhere inside.
if _sys.version_info < (3, 11):  # noqa: UP036  (requires-python does not stop a plain checkout)
    raise ImportError(f"versioned_import needs Python 3.11 or newer; this is Python "
                      f"{'.'.join(map(str, _sys.version_info[:3]))}", name=__name__)

from ._api import (
    Hot,
    ReloadReport,
    Replaced,
    changed,
    generation,
    hot,
    install,
    on_reload,
    pinned,
    reload,
    reload_changed,
    rollback,
    stop_watching,
    uninstall,
    unload,
    watch,
)
from ._errors import NotVersionedError, ReloadError
from ._integrations.ipython import load_ipython_extension as load_ipython_extension  # %load_ext versioned_import
from ._integrations.ipython import unload_ipython_extension as unload_ipython_extension
from ._integrations.serve import asgi_app, wsgi_app

__all__ = [
    "install",
    "uninstall",
    "reload",
    "reload_changed",
    "changed",
    "generation",
    "rollback",
    "unload",
    "pinned",
    "on_reload",
    "watch",
    "stop_watching",
    "wsgi_app",
    "asgi_app",
    "hot",
    "Hot",
    "ReloadReport",
    "Replaced",
    "ReloadError",
    "NotVersionedError",
]

__version__ = "0.1.0"

for _name in __all__:
    try:
        globals()[_name].__module__ = __name__
    except (AttributeError, TypeError):
        pass
del _name, _sys
