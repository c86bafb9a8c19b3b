"""The meta path finder and the loader it wraps around the one it found.

``VersionedFinder.find_spec`` asks the finders after it for a spec, exactly as
importlib would, and for a module in scope (``scope.in_scope``) returns that
same spec with its loader wrapped (origin, ``submodule_search_locations`` and
``cached`` stay as found). Out-of-scope specs are returned untouched, so
nothing is found twice. ``VersionedSpec`` reports every read of
``_initializing`` to the importing module (see ``edges``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec, SourceFileLoader
from types import CodeType, ModuleType
from typing import Any

from .edges import importer
from .proxy import view
from .scope import RealPaths, Scope, in_scope
from .source import compile_source, read_source
from .state import State

__all__ = ["VersionedFinder", "VersionedLoader", "VersionedSpec"]


_importer = importer.get
_view = view.get


class VersionedSpec(ModuleSpec):
    """A found spec whose ``_initializing`` read reports "imported by" to the executing module."""

    @property
    def _initializing(self) -> bool:
        # Read by every import of a module already in sys.modules: kept to the bare minimum.
        sink = _importer()
        if sink is not None:
            name = self.name
            if name != sink.name:
                sink.names.add(name)  # EdgeSink.record, inlined
        world = _view()
        if world is not None:
            # While a reload executes a new generation, the reloading thread sees
            # it partially initialised, exactly as during a first import.
            executing = getattr(world, "executing", None)  # only a reload's staging view has it
            if executing is not None and executing(self.name):
                return True
        initializing: bool = self.__dict__.get("_versioned_initializing", False)
        return initializing

    @_initializing.setter
    def _initializing(self, value: bool) -> None:
        if not value and self.__dict__.get("_versioned_initializing"):
            self._attach_to_parent()
        self.__dict__["_versioned_initializing"] = value
        if not value:
            # importlib ends every import here (in a finally): our first import ends with it.
            first = self.__dict__.pop("_versioned_first_import", None)
            if first is not None:
                first.finish(self.name in sys.modules)

    def _attach_to_parent(self) -> None:
        # importlib clears _initializing and only then sets the submodule on
        # its package: a thread that finds the module no longer initialising
        # in between does not wait, and `import pkg.sub; pkg.sub` fails with
        # "cannot access submodule". Setting it first closes that window; the
        # value is the one importlib sets next.
        parent, _, child = self.name.rpartition(".")
        module = sys.modules.get(self.name)
        package = sys.modules.get(parent) if parent else None
        if module is not None and package is not None:
            try:
                setattr(package, child, module)
            except AttributeError:
                pass  # importlib's own setattr follows, and warns as it always does


class VersionedFinder:
    """The ``sys.meta_path`` entry: delegates, then wraps the loader of in-scope specs."""

    def __init__(self, state: State, scope: Scope, prepare: Callable[[VersionedLoader, ModuleType], CodeType]) -> None:
        self._state = state
        self.scope = scope
        self._prepare = prepare
        self._realpath = RealPaths()
        # The module ``run -m`` is about to execute as __main__ (once): found as plain Python finds it,
        # since __main__ is never versioned. For a package, its __main__ submodule is the one.
        self.main: str | None = None

    def __repr__(self) -> str:
        return f"<versioned_import finder roots={list(self.scope.roots)} packages={list(self.scope.packages)}>"

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        spec: ModuleSpec | None = None
        seen_self = False
        for finder in list(sys.meta_path):
            if finder is self:
                seen_self = True
                continue
            if not seen_self:
                continue  # importlib already asked the finders before us
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        if spec is None or isinstance(spec.loader, VersionedLoader):
            return spec
        if fullname == self.main:
            if spec.submodule_search_locations is None:
                self.main = None
                return spec
            self.main = fullname + ".__main__"  # the package itself is versioned as usual
        is_source = type(spec.loader) is SourceFileLoader
        if not in_scope(fullname, spec.origin, is_source, self.scope, self._realpath):
            return spec
        self.wrap(spec)
        return spec

    def wrap(self, spec: ModuleSpec) -> None:
        """Make ``spec`` (found by Python's ``SourceFileLoader``, in scope) a versioned module's spec, in place."""
        # in_scope() checked the loader is exactly SourceFileLoader; the wrapper duck-types a Loader.
        spec.loader = VersionedLoader(spec.loader, self._prepare, self.scope)  # type: ignore[assignment, arg-type]
        spec.__class__ = VersionedSpec

    def invalidate_caches(self) -> None:
        """Forget resolved directories (``importlib.invalidate_caches()`` calls this)."""
        self._realpath.clear()


class VersionedLoader:
    """Wraps the ``SourceFileLoader`` that found a versioned module; everything else is delegated."""

    def __init__(self, original: SourceFileLoader, prepare: Callable[[VersionedLoader, ModuleType], CodeType],
                 scope: Scope) -> None:
        self.original = original
        self._prepare = prepare
        self.scope = scope  # the scope the module was versioned under; every reload re-checks it

    def __getattr__(self, name: str) -> Any:
        # get_resource_reader, get_filename, get_data, is_package...: as found.
        return getattr(self.original, name)

    def __repr__(self) -> str:
        return f"<versioned_import loader for {self.original!r}>"

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # an exact ModuleType: the fast path of every attribute read

    # importlib's own: it asks get_code for the code and executes it in the
    # module's dict, so no frame of ours sits between an import statement and
    # the module's code (G16). Our part is get_code and VersionedSpec's end.
    exec_module = SourceFileLoader.exec_module

    def get_code(self, fullname: str) -> CodeType:
        """Return the code to execute for an import (prepared as generation 1), else compile the source bytes.

        Called by ``exec_module`` for an import or ``importlib.reload``; by
        anyone else (runpy, pkgutil), it only compiles the current source
        bytes (never a timestamp-validated pyc).
        """
        caller = sys._getframe(1)
        if caller.f_code is _EXEC_MODULE_CODE:
            return self._prepare(self, caller.f_locals["module"])
        path = self.original.get_filename(fullname)
        return compile_source(read_source(path, probe=False), None)


_EXEC_MODULE_CODE = SourceFileLoader.exec_module.__code__
