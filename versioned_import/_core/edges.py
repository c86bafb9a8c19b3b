"""Dependency edges (G6): which versioned modules each executing module imports.

Recorded three ways, together complete:

* a first import runs our ``exec_module`` while the ``importer`` context
  variable is set;
* every later ``import``/``from``/``importlib.import_module`` of a module that
  is already in ``sys.modules`` reads ``module.__spec__._initializing`` (both
  the C fast path and ``_bootstrap._find_and_load`` do), which
  ``finder.VersionedSpec`` reports to the importer;
* ``from . import sub`` only reads an attribute of the package, so after each
  execution the namespace is scanned for proxies (``EdgeSink.scan``).
"""

from __future__ import annotations

import contextvars
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import State

__all__ = ["EdgeSink", "importer"]


class EdgeSink:
    """Collects the versioned modules one executing module imports."""

    __slots__ = ("name", "names")

    def __init__(self, name: str) -> None:
        self.name = name
        self.names: set[str] = set()

    def record(self, imported: str) -> None:
        if imported != self.name:
            self.names.add(imported)

    def scan(self, namespace: dict[str, Any], state: State, preset: dict[str, Any] | None = None) -> None:
        """Add every versioned module bound in ``namespace`` (``from . import sub``).

        ``preset`` names the submodule attributes the import system put in a
        package's fresh namespace: still bound to the same module, they say
        nothing about what the package imported.
        """
        by_proxy = state.by_proxy
        for key, value in list(namespace.items()):
            if type(value) in _PLAIN:
                continue
            if preset and preset.get(key) is value:
                continue
            if isinstance(value, ModuleType):
                record = by_proxy.get(id(value))
                if record is not None and record.proxy is value:
                    self.record(record.name)


# Values that are never modules: skipped without an isinstance check.
_PLAIN = frozenset({int, float, str, bytes, bool, type(None), tuple, list, dict, set, frozenset, type,
                    type(len), type(lambda: None)})

# The versioned module whose code is executing in this thread or task.
importer: contextvars.ContextVar[EdgeSink | None] = contextvars.ContextVar("versioned_import.importer", default=None)
