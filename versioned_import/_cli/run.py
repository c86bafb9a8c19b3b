"""Run a program as ``python`` would: a script, ``-m module``, ``-c command`` or ``-`` (stdin).

The program gets what the interpreter would have given it: a fresh
``__main__`` module, ``sys.argv``, ``sys.path[0]``, an absolute ``__file__``,
and, when it fails, the same traceback (none of our frames, nor runpy's
where ``python`` shows none), the same one-line messages for a missing file or
module, the same exit codes, and for Ctrl-C the ``KeyboardInterrupt``
traceback and death by SIGINT.
"""

from __future__ import annotations

import atexit
import builtins
import linecache
import os
import runpy
import signal
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from importlib.machinery import BuiltinImporter, SourceFileLoader

from .._core.scope import default_root, in_package_dir
from .._core.state import state

__all__ = ["Program", "run_program", "cannot_open", "strip_frames"]

@dataclass(frozen=True)
class Program:
    """What to run: ``kind`` is ``script``, ``module``, ``command`` or ``stdin``; ``args`` follow it in argv.

    ``importable`` lists directories (``run --root``) that must be importable:
    those no ``sys.path`` entry reaches go right after the program's own entry.
    """

    kind: str
    target: str
    args: tuple[str, ...] = ()
    importable: tuple[str, ...] = ()


def _fresh_main() -> types.ModuleType:
    """Put a new, empty ``__main__`` in ``sys.modules``, as the interpreter has before a program runs."""
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    main.__annotations__ = {}  # the interpreter's __main__ has one from the start
    sys.modules["__main__"] = main
    return main


def _set_path0(entry: str, importable: tuple[str, ...] = ()) -> None:
    # ``python -m versioned_import`` put the working directory first; the program's own entry
    # replaces it, as ``python script.py`` or ``python -c`` would have. With -P (safe_path) there is none.
    if not sys.flags.safe_path:
        if sys.path:
            sys.path[0] = entry
        else:
            sys.path.insert(0, entry)
    # A root (``--root src``) that no entry reaches is added after the program's own, where
    # PYTHONPATH's entries go: versioning a directory is no use if nothing can import from it.
    reached = {os.path.realpath(path or os.curdir) for path in sys.path if isinstance(path, str)}
    position = 0 if sys.flags.safe_path else 1
    for directory in importable:
        if os.path.realpath(directory) not in reached:
            sys.path.insert(position, os.path.abspath(directory))
            reached.add(os.path.realpath(directory))
            position += 1


def _run_script(program: Program) -> None:
    path = os.path.abspath(program.target)
    sys.argv = [program.target, *program.args]
    _set_path0(default_root(path), program.importable)
    if os.path.isdir(path) or (not path.endswith(".py") and _is_zip(path)):
        # A directory or zip file with __main__.py: runpy knows those layouts.
        runpy.run_path(path, run_name="__main__")
        return
    with open(path, "rb") as file:
        source = file.read()
    main = _fresh_main()
    main.__file__ = path
    main.__cached__ = None  # type: ignore[attr-defined]
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__spec__ = None
    main.__package__ = None
    # dont_inherit: our own __future__ imports must not leak into the program's code.
    code = compile(source, path, "exec", dont_inherit=True)
    exec(code, main.__dict__)


def _is_zip(path: str) -> bool:
    import zipfile  # only for the rare script without .py: it is not a cheap import

    return zipfile.is_zipfile(path)


def _run_module(program: Program) -> None:
    sys.argv = ["-m", *program.args]
    _set_path0(os.getcwd(), program.importable)
    _fresh_main()
    if state.finder is not None:
        state.finder.main = program.target  # its __spec__ and __loader__ are Python's own
    # The interpreter's own -m: the same argv[0], the same "No module named ..." exit, the same frames.
    runpy._run_module_as_main(program.target, alter_argv=True)  # type: ignore[attr-defined]


def _run_source(filename: str, source: str, argv0: str, args: tuple[str, ...],
                importable: tuple[str, ...] = ()) -> types.ModuleType:
    sys.argv = [argv0, *args]
    _set_path0("", importable)
    main = _fresh_main()
    if filename == "<stdin>":
        main.__file__ = filename
        main.__cached__ = None  # type: ignore[attr-defined]
    main.__loader__ = BuiltinImporter
    main.__spec__ = None
    main.__package__ = None
    exec(compile(source, filename, "exec", dont_inherit=True), main.__dict__)
    return main


def _run_command(program: Program) -> None:
    if sys.version_info >= (3, 13):
        # From 3.13 the interpreter keeps the -c source for tracebacks, under this same key.
        lines = [line + "\n" for line in program.target.splitlines()]
        linecache.cache["<string>"] = (len(program.target), None, lines, "<string>")
    _run_source("<string>", program.target, "-c", program.args, program.importable)


def _run_stdin(program: Program) -> None:
    _run_source("<stdin>", sys.stdin.read(), "-", program.args, program.importable)


_RUNNERS: dict[str, Callable[[Program], None]] = {
    "script": _run_script,
    "module": _run_module,
    "command": _run_command,
    "stdin": _run_stdin,
}

# Frames python itself never shows above a script's or command's own (it shows runpy's two for -m).
_HIDDEN_LEADING = {"script": ("<frozen runpy>",), "command": ("<frozen runpy>",), "stdin": ("<frozen runpy>",),
                   "module": ()}


def _ours(filename: str) -> bool:
    return in_package_dir(filename)


def strip_frames(tb: types.TracebackType | None, hidden: tuple[str, ...] = ()) -> types.TracebackType | None:
    """Return ``tb`` without the frames of versioned_import that lead into the program's code.

    The leading run (this runner, and any ``hidden`` files such as runpy) goes;
    so does each run of our frames (and the import machinery frames just above
    it) that ends in the program's code again, as when a versioned module
    raises while it is first imported. Frames of ours where the error itself
    happened stay: they are where the error is.
    """
    frames: list[types.TracebackType] = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    names = [frame.tb_frame.f_code.co_filename for frame in frames]
    keep = [True] * len(frames)
    index = 0
    while index < len(frames) and (_ours(names[index]) or names[index] in hidden):
        keep[index] = False
        index += 1
    while index < len(frames):
        if not _ours(names[index]):
            index += 1
            continue
        end = index
        while end < len(frames) and _ours(names[end]):
            end += 1
        if end == len(frames):
            break  # the error happened in our code: show it
        start = index
        while start > 0 and names[start - 1].startswith("<frozen importlib._bootstrap"):
            start -= 1
        for position in range(start, end):
            keep[position] = False
        index = end
    kept = [frame for frame, wanted in zip(frames, keep) if wanted]
    for frame, after in zip(kept, [*kept[1:], None]):
        frame.tb_next = after
    return kept[0] if kept else None


def _strip_chain(error: BaseException, hidden: tuple[str, ...]) -> None:
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = strip_frames(current.__traceback__, hidden if current is error else ())
        pending += [current.__cause__, current.__context__]


def _report_uncaught(error: BaseException, hidden: tuple[str, ...]) -> None:
    """Print ``error`` as the interpreter prints an uncaught exception (through ``sys.excepthook``)."""
    _strip_chain(error, hidden)
    sys.last_type, sys.last_value, sys.last_traceback = type(error), error, error.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = error
    sys.excepthook(type(error), error, error.__traceback__)


def _die_by_sigint() -> None:
    # The interpreter re-raises SIGINT after finalising, so the parent sees death by the signal.
    # atexit is as late as Python code can run: flush what the program printed, then do the same.
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream: the interpreter would lose that output too
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def cannot_open(program: Program) -> str | None:
    """Return the interpreter's message for a script that does not exist, else None."""
    if program.kind != "script" or os.path.exists(program.target):
        return None
    path = os.path.abspath(program.target)
    # Python names itself as it was invoked (``python``, or the path a launcher ran), not sys.executable.
    interpreter = sys.orig_argv[0] if sys.orig_argv else sys.executable
    return f"{interpreter}: can't open file {path!r}: [Errno 2] No such file or directory"


def run_program(program: Program) -> int:
    """Run ``program`` in this process as ``python`` would; return the exit code (SystemExit propagates)."""
    interrupted: list[bool] = []
    # Registered before the program runs, so it runs after every atexit handler the program registers.
    atexit.register(lambda: _die_by_sigint() if interrupted else None)
    missing = cannot_open(program)
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    try:
        _RUNNERS[program.kind](program)
    except SystemExit:
        raise
    except KeyboardInterrupt as error:
        _report_uncaught(error, _HIDDEN_LEADING[program.kind])
        interrupted.append(True)
        return 1
    except BaseException as error:
        _report_uncaught(error, _HIDDEN_LEADING[program.kind])
        return 1
    return 0
