"""Which modules are versioned (G1): one pure predicate over names and paths, and the package root.

``in_scope`` decides on a module's name, its origin and whether Python's own
source loader found it; it touches no import state, so it is tested on names
alone. ``PACKAGE_NAME`` and ``PACKAGE_DIR`` are the one place that says where
versioned_import itself lives: the finder never versions it (G1), and ``run``
hides its frames from tracebacks (G16), whatever subpackage a frame is in.
"""

from __future__ import annotations

import functools
import os
import site
import stat
import sys
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.machinery import SOURCE_SUFFIXES
from typing import Any

__all__ = ["PACKAGE_NAME", "PACKAGE_DIR", "Scope", "RealPaths", "combine_scopes", "default_root", "in_scope",
           "in_package_dir",
           "make_scope", "never_versioned_dirs"]

# This module is versioned_import._core.scope: two levels below the package.
PACKAGE_NAME = __name__.split(".")[0]
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def in_package_dir(filename: str) -> bool:
    """Whether ``filename`` is a file of versioned_import itself (in any of its subpackages)."""
    if filename.startswith("<"):
        return False
    return os.path.abspath(filename).startswith(PACKAGE_DIR + os.sep)


def default_root(script: str | None) -> str:
    """Return the directory versioned by default: the script's (symlinks resolved, as for ``sys.path[0]``), else the cwd."""
    if script:
        return os.path.dirname(os.path.realpath(script))
    return os.getcwd()


@dataclass(frozen=True)
class Scope:
    """Which modules are versioned (G1); see ``in_scope``."""

    roots: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    never_dirs: tuple[str, ...] = ()


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
    paths.add(PACKAGE_DIR)
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


def combine_scopes(earlier: Scope, later: Scope) -> Scope:
    """Return the scope of two ``install()`` calls: every root and package either asked for, minus every exclusion.

    A framework and its user may both call ``install()``; neither may silently
    undo the other. Excluding a package another call asked for (or the package
    above it) would, so that is a ``ValueError``; excluding a submodule of it
    is what ``exclude`` is for.
    """
    for package in later.packages:
        for excluded in earlier.exclude:
            if _named(package, (excluded,)):
                raise ValueError(f"install(packages=[{package!r}]) conflicts with an earlier install(exclude=...): "
                                 f"{excluded!r} is excluded, so {package!r} could not be versioned — drop it from "
                                 "that exclude, or call uninstall() first to start a new scope")
    for excluded in later.exclude:
        for package in earlier.packages:
            if _named(package, (excluded,)):
                raise ValueError(f"install(exclude=[{excluded!r}]) conflicts with an earlier "
                                 f"install(packages=[{package!r}]): it would stop versioning what that call asked "
                                 "for — exclude only its submodules, or call uninstall() first to start a new scope")

    def union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(first + second))

    return Scope(union(earlier.roots, later.roots), union(earlier.packages, later.packages),
                 union(earlier.exclude, later.exclude), later.never_dirs)


def _named(name: str, prefixes: Sequence[str]) -> bool:
    names, dotted = _dotted(tuple(prefixes))
    return name in names or name.startswith(dotted)


@functools.lru_cache(maxsize=64)
def _dotted(prefixes: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The names themselves, and the prefixes of the modules below them (one ``startswith`` call for all)."""
    return frozenset(prefixes), tuple(prefix + "." for prefix in prefixes)


_SOURCE_SUFFIXES = tuple(SOURCE_SUFFIXES)
_OURS = (PACKAGE_NAME,)


def in_scope(name: str, origin: str | None, is_source: bool, scope: Scope,
             realpath: Callable[[str], str] = os.path.realpath) -> bool:
    """Decide whether module ``name``, found at ``origin``, is versioned (G1)."""
    # versioned_import never versions itself: its state must outlive reloads.
    if _named(name, _OURS) or name == "__main__":
        return False
    # Only Python source can get new generations: not built-in, frozen,
    # extension, sourceless or namespace modules, nor other loaders' output.
    if not is_source or not origin or not origin.endswith(_SOURCE_SUFFIXES):
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


class RealPaths:
    """``os.path.realpath`` for module files, resolving each directory once.

    ``realpath()`` costs a system call per path component; a module's
    directory is shared by its siblings, so only the file itself (a symlink?)
    is checked each time. An instance lives as long as its answers may: the
    finder's until ``importlib.invalidate_caches()``, a reload's for that
    reload.
    """

    def __init__(self) -> None:
        self._directories: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        directory, _, base = path.rpartition(os.sep)
        real = self._directories.get(directory)
        if real is None:
            real = self._directories[directory] = os.path.realpath(directory or os.curdir)
        try:
            link = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:
            link = False
        if link or not directory:
            return os.path.realpath(path)
        return real + os.sep + base if real != os.sep else os.sep + base

    def clear(self) -> None:
        self._directories.clear()
