"""Safe hot reload for a running Python process.

``versioned_import.install()`` at start-up puts a finder first on
``sys.meta_path``. Every module it versions lives in ``sys.modules`` as a
*proxy* that stays the same object for the module's whole life and resolves
to the module's current *generation*. A reload executes the new source in a
fresh namespace, privately, together with every module that imported it; only
when all of them succeeded are they *published*, in one step. Objects taken
before a reload (``from m import f``, instances, classes held elsewhere) behave
as the newest code: *continuity*.

Layers, bottom to top (imports flow one way)::

    _errors  _graph  _source  _proxy         pure data, source bytes, proxy mechanics, views
    _registry                                the one state object
    _finder                                  meta path finder, wrapping loader, scope
    _operations  _forwarders  _classes       the publish plan, forwarders, class states
    _lineages  _functions                    lineage records; function continuity and the transplant pass
    _references  _continuity                 reference rewriting; carrying functions and classes over
    _logs  _frameworks                       one log line per report; framework caches refreshed on publish
    _publish  _reload                        publishing; the transaction: stage, publish, rollback, unload
    _signals  _watcher  _inotify             the signal and watcher threads; the watcher's change notifications
    _channel  _coordinate                    the control channel's plumbing; requests from outside, coordinated reloads
    _control  _fork  _api                    the control server, fork safety, what this module re-exports
    _serve                                   the WSGI/ASGI entry points serving the newest application object
    _control_cli                             the command line's reload, status, rollback
    _run  _cli  _ipython  _demo  __main__    the terminal: running a program as python would, the command
                                             line, the IPython extension (IPython is never imported)

The guarantees (G1–G14) are listed in ``docs/guarantees.md``.
"""

import sys as _sys

# Checked before anything else is imported: the implementation needs 3.11 (code.co_qualname, exception
# notes), and an older interpreter should say so in one line, not fail somewhere inside.
if _sys.version_info < (3, 11):  # noqa: UP036  (requires-python does not stop a plain checkout)
    raise ImportError(f"versioned_import needs Python 3.11 or newer; this is Python "
                      f"{'.'.join(map(str, _sys.version_info[:3]))}", name=__name__)

from ._api import (
    ReloadReport,
    Replaced,
    changed,
    generation,
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
