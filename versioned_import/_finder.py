"""The meta path finder, the loader it wraps around, and the scope predicate (G1).

``VersionedFinder.find_spec`` asks the finders after it for a spec, exactly as
importlib would, and for a module in scope returns that same spec with its
loader wrapped (origin, ``submodule_search_locations`` and ``cached`` stay as
found). Out-of-scope specs are returned untouched, so nothing is found twice.

Dependency edges (G6) are recorded three ways, together complete:

* a first import runs our ``exec_module`` while the importer's ``importer``
  context variable is set;
* every later ``import``/``from``/``importlib.import_module`` of a module that
  is already in ``sys.modules`` reads ``module.__spec__._initializing`` (both
  the C fast path and ``_bootstrap._find_and_load`` do), which
  ``VersionedSpec`` reports to the importer;
* ``from . import sub`` only reads an attribute of the package, so after each
  execution the namespace is scanned for proxies.
"""

from __future__ import annotations

import contextvars
import functools
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from importlib.machinery import SOURCE_SUFFIXES, ModuleSpec, SourceFileLoader
from types import CodeType, ModuleType
from typing import Any

from ._proxy import view
from ._registry import Scope, State

__all__ = ["VersionedFinder", "VersionedLoader", "VersionedSpec", "EdgeSink", "importer", "in_scope",
           "make_scope", "never_versioned_dirs"]

_OWN_PACKAGE = __name__.rpartition(".")[0]


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
            if preset and preset.get(key) is value:
                continue
            if isinstance(value, ModuleType):
                record = by_proxy.get(id(value))
                if record is not None and record.proxy is value:
                    self.record(record.name)


# The versioned module whose code is executing in this thread or task.
importer: contextvars.ContextVar[EdgeSink | None] = contextvars.ContextVar("versioned_import.importer", default=None)


class VersionedSpec(ModuleSpec):
    """A found spec whose ``_initializing`` read reports "imported by" to the executing module."""

    @property
    def _initializing(self) -> bool:
        sink = importer.get()
        if sink is not None:
            sink.record(self.name)
        # While a reload executes a new generation, the reloading thread sees
        # it partially initialised, exactly as during a first import.
        executing = getattr(view.get(), "executing", None)  # only a reload's staging view has it
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


def never_versioned_dirs() -> tuple[str, ...]:
    """Return the directories whose modules are never versioned: stdlib, site-packages, ourselves."""
    paths: set[str] = set()
    for scheme_key in ("stdlib", "platstdlib", "purelib", "platlib"):
        for vars_ in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
            try:
                paths.add(sysconfig.get_paths(vars=vars_)[scheme_key])
            except KeyError:
                pass
    getters: tuple[Callable[[], list[str]], ...] = (site.getsitepackages, lambda: [site.getusersitepackages()])
    for getter in getters:
        try:
            paths.update(getter())
        except (AttributeError, TypeError):
            pass  # site functions are absent in some embedded interpreters
    paths.add(os.path.dirname(os.path.abspath(__file__)))
    return tuple(sorted({os.path.realpath(p) for p in paths if p}))


def _names(parameter: str, value: object) -> list[Any]:
    if isinstance(value, (str, os.PathLike)):
        return [value]
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Iterable):
        raise TypeError(f"install({parameter}=...) takes a str or an iterable of str, not {type(value).__name__}")
    return list(value)


def make_scope(roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None,
               packages: Iterable[str] | str | None, exclude: Iterable[str] | str,
               default_root: Callable[[], str]) -> Scope:
    """Normalise ``install()``'s arguments into a ``Scope``, refusing anything ambiguous."""
    root_list = [] if roots is None else _names("roots", roots)
    package_list = [] if packages is None else _names("packages", packages)
    exclude_list = _names("exclude", exclude)
    for parameter, values in (("packages", package_list), ("exclude", exclude_list)):
        for value in values:
            if not isinstance(value, str):
                raise TypeError(f"install({parameter}=...) takes absolute dotted module names (str), "
                                f"not {type(value).__name__}")
            if not value or value.startswith(".") or value.endswith(".") or ".." in value:
                raise ValueError(f"install({parameter}=...) takes absolute dotted module names such as 'app.views', "
                                 f"not {value!r}")
    if not root_list and not package_list:
        root_list = [default_root()]
    resolved = []
    for root in root_list:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"install(roots=...) takes directory paths (str or os.PathLike), not {type(root).__name__}")
        text = os.fspath(root)
        if not isinstance(text, str) or not text:
            raise ValueError(f"install(roots=...) got {text!r}, which is not a directory; pass the directory "
                             "holding your modules")
        path = os.path.realpath(text)
        if not os.path.isdir(path):
            raise ValueError(f"root {text!r} is not a directory; pass the directory holding your modules")
        resolved.append(path)
    return Scope(tuple(resolved), tuple(package_list), tuple(exclude_list), never_versioned_dirs())


def _named(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def in_scope(name: str, origin: str | None, is_source: bool, scope: Scope,
             realpath: Callable[[str], str] = os.path.realpath) -> bool:
    """Decide whether module ``name``, found at ``origin``, is versioned (G1)."""
    # versioned_import never versions itself: its state must outlive reloads.
    if _named(name, (_OWN_PACKAGE,)) or name == "__main__":
        return False
    # Only Python source can get new generations: not built-in, frozen,
    # extension, sourceless or namespace modules, nor other loaders' output.
    if not is_source or not origin or not origin.endswith(tuple(SOURCE_SUFFIXES)):
        return False
    if _named(name, scope.exclude):
        return False
    # Real paths, so that a symlink or sys.path entry cannot smuggle foreign code in.
    real = realpath(origin)
    if not (_named(name, scope.packages) or real.startswith(_prefixes(scope.roots))):
        return False
    # The standard library and site-packages stay out even when a root contains them.
    return not real.startswith(_prefixes(scope.never_dirs))


@functools.lru_cache(maxsize=64)
def _prefixes(directories: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(directory.rstrip(os.sep) + os.sep for directory in directories)


class VersionedFinder:
    """The ``sys.meta_path`` entry: delegates, then wraps the loader of in-scope specs."""

    def __init__(self, state: State, scope: Scope, prepare: Callable[[VersionedLoader, ModuleType], CodeType]) -> None:
        self._state = state
        self.scope = scope
        self._prepare = prepare
        self._real_dirs: dict[str, str] = {}
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
        # in_scope() checked the loader is exactly SourceFileLoader; the wrapper duck-types a Loader.
        spec.loader = VersionedLoader(spec.loader, self._prepare, self.scope)  # type: ignore[assignment, arg-type]
        spec.__class__ = VersionedSpec
        return spec

    def _realpath(self, path: str) -> str:
        # realpath() costs a syscall per path component; a module's directory
        # is shared by its siblings, so only the file itself is checked each time.
        directory, base = os.path.split(path)
        real = self._real_dirs.get(directory)
        if real is None:
            real = self._real_dirs[directory] = os.path.realpath(directory)
        if os.path.islink(path):
            return os.path.realpath(path)
        return os.path.join(real, base)

    def invalidate_caches(self) -> None:
        """Forget resolved directories (``importlib.invalidate_caches()`` calls this)."""
        self._real_dirs.clear()


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
        from ._source import compile_source, read_source

        path = self.original.get_filename(fullname)
        return compile_source(read_source(path), None)


_EXEC_MODULE_CODE = SourceFileLoader.exec_module.__code__
