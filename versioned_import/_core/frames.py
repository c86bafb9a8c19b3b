"""The frames of a reload, between ``reload()`` and module code, count as import machinery (G16).

CPython keeps the import system out of what users see of their stack:
``warnings.warn(..., stacklevel=n)`` does not count frames whose file name
contains both ``importlib`` and ``_bootstrap``, and a traceback out of an
import loses each run of importlib frames that ends in
``_call_with_frames_removed``. A first import needs nothing of this: importlib
executes its code itself (``_finder.VersionedLoader``). A reload executes new
generations from our transaction, so those few functions are given a file
name that says what they are and that warnings skip: a module warning with
``stacklevel=2`` names the ``reload()`` call. Only where those functions say
they are changes, never what they do; their tracebacks show the name below
instead of our file.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from importlib._bootstrap import _call_with_frames_removed  # type: ignore[attr-defined]  # private, no stub
from typing import Any, TypeVar

__all__ = ["RELOAD", "reload_machinery", "run_module_code"]

RELOAD = "<versioned_import reload: importlib._bootstrap rules>"

Function = TypeVar("Function", bound=Callable[..., Any])


def reload_machinery(function: Function) -> Function:
    """Give ``function``'s code the file name ``RELOAD`` (see the module docstring)."""
    code: types.CodeType = function.__code__
    function.__code__ = code.replace(co_filename=RELOAD)
    return function


# ``run_module_code(code, namespace)`` executes a module's code as importlib
# does (the frames above it are trimmed from an import's tracebacks); a
# partial, so it adds no frame of its own.
run_module_code: Callable[[types.CodeType, dict[str, Any]], None] = functools.partial(_call_with_frames_removed, exec)
