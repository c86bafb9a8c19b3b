"""A new generation's starting namespace, and the previous generation as ``__reload__(old)`` sees it."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from .._core.proxy import module_dict, namespace_of
from .._core.state import ModuleRecord

__all__ = ["fresh_namespace", "previous_view"]

_MODULE_ATTRIBUTES = ("__name__", "__file__", "__spec__", "__loader__", "__package__", "__path__", "__cached__")


def fresh_namespace(record: ModuleRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the namespace a first import would start with (G3), and the submodule attributes preset in it."""
    published = namespace_of(record.proxy)
    namespace = {key: published[key] for key in _MODULE_ATTRIBUTES if key in published}
    namespace["__spec__"] = record.spec
    namespace["__loader__"] = record.spec.loader
    preset: dict[str, Any] = {}
    if record.spec.submodule_search_locations is not None:
        # A package's loaded submodules are attributes set by the import
        # system, not by its source: keep them so `import pkg.sub` still works.
        prefix = record.name + "."
        for name, module in list(sys.modules.items()):
            if name.startswith(prefix) and "." not in name[len(prefix):] and module is not None:
                preset[name[len(prefix):]] = module
        namespace.update(preset)
    return namespace, preset


def previous_view(record: ModuleRecord) -> ModuleType:
    """Return a module holding a copy of the published generation's namespace, for ``__reload__(old)``."""
    old = ModuleType(record.name)
    module_dict(old).update(namespace_of(record.proxy))
    return old
