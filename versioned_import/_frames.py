"""Our frames on the import path count as the import system's (G16).

CPython keeps the import system out of what users see of their stack:
``warnings.warn(..., stacklevel=n)`` does not count frames whose file name
contains both ``importlib`` and ``_bootstrap``, and a traceback out of an
import loses each run of importlib frames that ends in
``_call_with_frames_removed``. The few frames versioned_import adds between
an ``import`` statement (or a ``reload()`` call) and the module's code are
import machinery too, so their code objects are given the file name of
importlib's own, and module code is started through
``_call_with_frames_removed``: a warning at a module's top level with
``stacklevel=2`` names the importing line, and a module raising at import
shows the same traceback as without the library.

This renames only where those few functions say they are, never their
behaviour; their tracebacks show the name below instead of our file.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from importlib._bootstrap import _call_with_frames_removed
from typing import Any, TypeVar

__all__ = ["IMPORT_SYSTEM", "RELOAD", "import_machinery", "reload_machinery", "run_module_code"]

# The first import runs inside an import: exactly importlib's name, so a
# failing import's traceback is trimmed as it would be without us.
IMPORT_SYSTEM = "<frozen importlib._bootstrap_external>"
# A reload is our own transaction: a name that says so and still counts as import machinery.
RELOAD = "<versioned_import reload: importlib._bootstrap rules>"

Function = TypeVar("Function", bound=Callable[..., Any])


def _renamed(filename: str) -> Callable[[Function], Function]:
    def rename(function: Function) -> Function:
        code: types.CodeType = function.__code__  # type: ignore[attr-defined]
        function.__code__ = code.replace(co_filename=filename)  # type: ignore[attr-defined]
        return function
    return rename


import_machinery = _renamed(IMPORT_SYSTEM)
reload_machinery = _renamed(RELOAD)


# ``run_module_code(code, namespace)`` executes a module's code as importlib
# does (the frames above it are trimmed from its tracebacks); a partial, so it
# adds no frame of its own.
run_module_code: Callable[[types.CodeType, dict[str, Any]], None] = functools.partial(_call_with_frames_removed, exec)
