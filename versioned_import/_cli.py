"""The command line: ``run`` a program with the finder and watcher on, or the ``demo``.

A thin layer over the public API; it is the only place besides the demo that
writes to the terminal.
"""

from __future__ import annotations

import argparse
import logging
import os
import runpy
import sys
from collections.abc import Sequence

from . import _api
from ._channel import SUPPORTED as CONTROL_SUPPORTED
from ._errors import error_location
from ._reload import ReloadReport

__all__ = ["main"]

PROG = "python -m versioned_import"

_RUN_HELP = """\
Run a Python program with versioned_import installed and the watcher on, like
`python script.py [args]` or `python -m package.module [args]`: sys.argv,
__main__ and the exit code are the program's. Modules under the roots (by
default the script's directory, or the current directory with -m) are
versioned; when their files change they are reloaded all-or-nothing, and one
line per reload or refusal goes to stderr.

The __main__ script itself is not reloadable (it is not imported): keep the
code you want to change in modules it imports.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Safe hot reload for running Python programs.")
    commands = parser.add_subparsers(dest="command", metavar="{run,demo}")
    commands.required = True
    run = commands.add_parser("run", help="run a program with hot reload", description=_RUN_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              usage=f"{PROG} run [--root DIR]... [--interval S] (script.py | -m module) [args...]")
    run.add_argument("--root", action="append", default=[], metavar="DIR",
                     help="directory whose modules are versioned (repeatable; default: the script's directory, "
                          "or the current directory with -m)")
    run.add_argument("--interval", type=float, default=0.5, metavar="S",
                     help="seconds between checks for changed files (default: 0.5)")
    run.add_argument("-m", dest="module", metavar="module", help="run a module as a script, like python -m")
    run.add_argument("target", nargs=argparse.REMAINDER, help="script.py and its arguments (or the module's arguments)")
    commands.add_parser("demo", help="a short tour: a live HTTP service takes new code without a restart",
                        description="Run the self-contained tour of versioned_import (takes a few seconds).")
    return parser


def describe(report: ReloadReport) -> str:
    """Return the one stderr line for a report: what was published, or why it was refused."""
    if report.error is not None:
        cause = report.error.__cause__ or report.error
        where = error_location(cause, report.error.path) if report.error.path else report.error.module
        detail = cause.msg if isinstance(cause, SyntaxError) and cause.msg else str(cause)
        return f"[versioned_import] refused: {where}: {type(cause).__name__}: {detail} (old code still running)"
    modules = ", ".join(f"{name} (gen {report.generations.get(name)})" for name in report.reloaded)
    verb = "rolled back" if report.action == "rollback" else "reloaded"
    line = f"[versioned_import] {verb} {modules} in {report.elapsed * 1000:.1f} ms"
    if report.replaced:
        line += "; replaced: " + "; ".join(str(item) for item in report.replaced)
    return line


class _NotRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "refusal", False)


def _report_to_stderr(report: ReloadReport) -> None:
    print(describe(report), file=sys.stderr, flush=True)


def run(arguments: argparse.Namespace) -> int:
    """Run the target program with the finder installed and the watcher on."""
    if arguments.interval <= 0:
        print(f"{PROG} run: --interval must be positive", file=sys.stderr)
        return 2
    target = list(arguments.target)
    if target and target[0] == "--":
        target.pop(0)
    if arguments.module is None and not target:
        print(f"{PROG} run: give a script or -m module (see --help)", file=sys.stderr)
        return 2
    logger = logging.getLogger("versioned_import")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[versioned_import] %(message)s"))
    handler.addFilter(_NotRefusals())  # refusals get their own short line below
    logger.addHandler(handler)
    logger.propagate = False
    if arguments.module is not None:
        roots = arguments.root or [os.getcwd()]
        sys.path.insert(0, os.getcwd())
        sys.argv = [arguments.module, *target]
    else:
        script = target[0]
        if not os.path.isfile(script):
            print(f"{PROG} run: can't open file {script!r}: no such file", file=sys.stderr)
            return 2
        roots = arguments.root or [os.path.dirname(os.path.abspath(script))]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        sys.argv = target
    try:
        _api.install(roots=roots, watch=True, interval=arguments.interval, control=CONTROL_SUPPORTED)
    except (ValueError, OSError) as error:
        print(f"{PROG} run: {error}", file=sys.stderr)
        return 2
    _api.on_reload(_report_to_stderr)
    try:
        if arguments.module is not None:
            runpy.run_module(arguments.module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target[0], run_name="__main__")
    except KeyboardInterrupt:
        return 130
    finally:
        _api.stop_watching()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m versioned_import``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from ._control_cli import COMMANDS, main as control  # reload / status / rollback of a running process

    if argv and argv[0] in COMMANDS:
        return control(argv)
    arguments = _parser().parse_args(argv)
    if arguments.command == "demo":
        from ._demo import main as demo

        return demo()
    return run(arguments)
