"""The terminal: ``python -m versioned_import run|reload|status|rollback|demo``.

``main`` parses the command line and dispatches; ``run`` runs a program as
``python`` would, with the finder, watcher and control channel on; ``control``
asks a running process (and its workers) from outside; ``demo`` shows the
library at work. A thin layer over the library, as a user of it.

May import: every wing below, and the public package itself.
"""
