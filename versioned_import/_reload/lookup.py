"""Naming and lookup: turning what a caller passed into records, or a message that says why not."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from importlib.machinery import EXTENSION_SUFFIXES, SourceFileLoader
from types import ModuleType

from .._core.finder import VersionedLoader
from .._core.scope import PACKAGE_NAME, Scope, in_scope
from .._core.state import ModuleRecord, State
from .._errors import NotVersionedError

__all__ = ['resolve_records', 'not_versioned_message', 'versioned_records']


def resolve_records(state: State, names: Iterable[object], action: str) -> list[ModuleRecord]:
    """Turn names or proxies into records, refusing anything that is not a versioned module.

    A name means the module ``sys.modules`` holds under it, when the program
    put back one it had set aside (``State.follow_sys_modules``).
    """
    state.follow_sys_modules()
    records = []
    for name in names:
        if isinstance(name, ModuleType):
            record = state.record_for(name)
            label = getattr(name, "__name__", repr(name))
        elif isinstance(name, str):
            if name.startswith(".") or not name:
                raise NotVersionedError(f"{action} of {name!r} refused: relative or empty module names cannot be "
                                        "resolved here — pass the absolute dotted name, e.g. 'app.views'", module=name)
            record = state.records.get(name)
            label = name
        else:
            raise TypeError(f"{action}() takes module names (str) or versioned modules, not {type(name).__name__}")
        if record is None or record.current is None:
            raise NotVersionedError(not_versioned_message(state, action, label), module=label)
        records.append(record)
    return records


def not_versioned_message(state: State, action: str, name: str) -> str:
    """Say why ``name`` is not a versioned module, one reason in one sentence, and what to do (API and CLI alike)."""
    finder = state.finder
    if finder is None:
        return (f"{action} of {name!r} refused: versioned_import is not installed, so {name!r} is not a versioned "
                "module — call versioned_import.install() at start-up, before importing the modules you want "
                "to reload")
    configured = _scope_text(finder.scope)
    module = sys.modules.get(name)
    if module is not None:
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
        where = f"its file {origin}" if origin and os.path.isabs(origin) else f"it has no source file ({origin})"
        loader = getattr(spec, "loader", None)
        if in_scope(name, origin, True, finder.scope) and loader is not None and \
                type(loader) not in (SourceFileLoader, VersionedLoader):
            # Another import hook (pytest's assertion rewriting, a code transformer) loaded it:
            # its code is that loader's output, which only that loader can produce again.
            return (f"{action} of {name!r} refused: it was loaded by another loader, {_loader_name(loader)}, "
                    "not from its source file by Python's own SourceFileLoader, so it is not a versioned module "
                    "— import it without that import hook (e.g. outside the hook's scope) to make it reloadable")
        if in_scope(name, origin, True, finder.scope):
            return (f"{action} of {name!r} refused: it was imported before install(), so it is a plain module, "
                    f"not a versioned one ({where}; {configured}) — call install() earlier, before the first "
                    "import of the modules you want to reload")
        return f"{action} of {name!r} refused: {_out_of_scope(name, origin, finder.scope)}"
    return (f"{action} of {name!r} refused: no module of that name has been imported ({configured}) — import it "
            "first, and check the spelling")


_OWN_CODE = "reload the modules of your own code that use it instead"


def _out_of_scope(name: str, origin: str | None, scope: Scope) -> str:
    """Return why an imported module is outside the scope, and what to do: the first clause of ``in_scope`` it fails."""
    # versioned_import's own state must outlive every reload.
    if name == PACKAGE_NAME or name.startswith(PACKAGE_NAME + "."):
        return f"it is part of versioned_import itself, which is never versioned — {_OWN_CODE}"
    # The script is run, not imported.
    if name == "__main__":
        return ("it is the __main__ script, which is run, not imported — move the code you change into a module "
                "the script imports")
    # No Python source to execute again.
    if origin in ("built-in", "frozen"):
        return f"it is a {origin} module, with no source file to execute again — {_OWN_CODE}"
    if not origin or not os.path.isabs(origin):
        return f"it has no source file ({origin}) to execute again — {_OWN_CODE}"
    if origin.endswith(tuple(EXTENSION_SUFFIXES)):
        return f"it is an extension module ({origin}), compiled code with no source to execute again — {_OWN_CODE}"
    if not origin.endswith(".py"):
        return f"its file {origin} is not Python source, so it cannot be executed again — {_OWN_CODE}"
    # Excluded on purpose.
    if any(name == e or name.startswith(e + ".") for e in scope.exclude):
        return ("it is excluded by install(exclude=...) — remove it from exclude and restart the program, if "
                "it should be reloaded")
    # The standard library and site-packages, even under a root.
    real = os.path.realpath(origin)
    for directory in scope.never_dirs:
        if real.startswith(directory.rstrip(os.sep) + os.sep):
            where = "site-packages" if os.path.basename(directory) in ("site-packages", "dist-packages") \
                else "the standard library"
            return f"its file {origin} is in {where}, which is never versioned — {_OWN_CODE}"
    return f"its file {origin} is outside {_scope_text(scope)} — check install(roots=..., packages=...)"


def _scope_text(scope: Scope) -> str:
    """Say which roots and packages are versioned, for messages."""
    roots = ", ".join(scope.roots) or "none"
    packages = ", ".join(scope.packages) or "none"
    return f"the versioned roots ({roots}) and packages ({packages})"


def _loader_name(loader: object) -> str:
    kind = type(loader)
    return f"{kind.__module__}.{kind.__qualname__}"


def versioned_records(state: State) -> list[ModuleRecord]:
    """Return the records of every imported versioned module (a snapshot, in first-import order)."""
    state.follow_sys_modules()
    with state.lock:
        return [record for record in state.records.values() if record.current is not None]
