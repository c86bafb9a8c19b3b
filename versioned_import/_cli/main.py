"""The command line: ``run`` a program with the finder and watcher on, or the ``demo``.

A thin layer over the public API; it is the only place besides the demo (and
the IPython extension) that writes to the terminal. Each subcommand is one
entry of ``COMMANDS``: a one-line summary and a function from its arguments to
an exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import _api
from .._core.scope import default_root
from .._report import PREFIX
from .._runtime.channel import SUPPORTED as CONTROL_SUPPORTED
from .run import Program, cannot_open, run_program

__all__ = ["main", "COMMANDS", "Command"]

PROG = "python -m versioned_import"


@dataclass(frozen=True)
class Command:
    """A subcommand: ``main(arguments)`` returns the exit code."""

    summary: str
    main: Callable[[list[str]], int]



# -- run ------------------------------------------------------------------------------

_RUN_USAGE = f"{PROG} run [--root DIR]... [--interval S] (script.py | -m module | -c command | -) [args...]"

_RUN_HELP = f"""\
usage: {_RUN_USAGE}

Run a Python program with versioned_import installed and the watcher on, as
`python script.py [args]`, `python -m module [args]` or `python -c command`
would: sys.argv, __main__, __file__, tracebacks, the exit code and Ctrl-C are
the program's. Every argument after the script, `-m module` or `-c command`
goes to the program. Modules under the roots (by default the script's
directory, else the current directory) are versioned; when their files change
they are reloaded all-or-nothing, and one line per reload or refusal goes to
stderr.

The __main__ script itself is not reloadable (it is not imported): keep the
code you want to change in modules it imports.

A --root that no sys.path entry reaches is put on sys.path after the
program's own entry (as PYTHONPATH would be), so a src layout runs as
`run --root src -m app.main`.

options:
  -h, --help      show this help and exit
  --root DIR      directory whose modules are versioned, made importable if
                  it is not (repeatable)
  --interval S    seconds between checks for changed files (default: 0.5)
  -m module       run a module as a script, like python -m
  -c command      run a command string, like python -c
  -               read the program from stdin
"""


class UsageError(Exception):
    """A ``run`` command line that cannot be understood."""


@dataclass
class RunOptions:
    roots: list[str]
    interval: float
    program: Program


def _option_value(arguments: list[str], index: int, name: str) -> tuple[str, int]:
    """Return the value of option ``name`` at ``index`` (``--name V``, ``--name=V`` or ``-xV``) and the next index."""
    argument = arguments[index]
    if argument.startswith(name + "=") and name.startswith("--"):
        return argument[len(name) + 1:], index + 1
    if argument != name:
        return argument[len(name):], index + 1  # -mmodule, -c'code'
    if index + 1 >= len(arguments):
        raise UsageError(f"{name} needs a value")
    return arguments[index + 1], index + 2


def parse_run(arguments: Sequence[str]) -> RunOptions | None:
    """Parse ``run``'s options up to the program; everything after it belongs to the program.

    Returns None for ``--help``. argparse cannot be used here: it would take
    the program's own options (``run -m gunicorn --preload -w 2``) as ours.
    """
    arguments = list(arguments)
    roots: list[str] = []
    interval = 0.5
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument in ("-h", "--help"):
            return None
        if argument == "--root" or argument.startswith("--root="):
            root, index = _option_value(arguments, index, "--root")
            roots.append(root)
        elif argument == "--interval" or argument.startswith("--interval="):
            text, index = _option_value(arguments, index, "--interval")
            try:
                interval = float(text)
            except ValueError:
                raise UsageError(f"--interval takes a number of seconds, not {text!r}") from None
            if not interval > 0:
                raise UsageError("--interval must be positive")
        elif argument.startswith(("-m", "-c")):
            kind = "module" if argument[1] == "m" else "command"
            target, index = _option_value(arguments, index, argument[:2])
            return RunOptions(roots, interval, Program(kind, target, tuple(arguments[index:])))
        elif argument == "-":
            return RunOptions(roots, interval, Program("stdin", "-", tuple(arguments[index + 1:])))
        elif argument == "--":
            if index + 1 >= len(arguments):
                break
            return RunOptions(roots, interval, Program("script", arguments[index + 1], tuple(arguments[index + 2:])))
        elif argument.startswith("-"):
            raise UsageError(f"unknown option {argument!r} (options for the program go after the script or module)")
        else:
            return RunOptions(roots, interval, Program("script", argument, tuple(arguments[index + 1:])))
    raise UsageError("give a script, -m module or -c command (see --help)")


def _log_to_stderr() -> None:
    # One line per publish and per refusal (see _logs), on stderr, and only
    # there: the program's own logging configuration does not print them twice.
    logger = logging.getLogger("versioned_import")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(PREFIX + "%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run(arguments: list[str]) -> int:
    """Run the target program with the finder installed and the watcher on."""
    try:
        options = parse_run(arguments)
    except UsageError as error:
        print(f"usage: {_RUN_USAGE}\n{PROG} run: error: {error}", file=sys.stderr)
        return 2
    if options is None:
        print(_RUN_HELP, end="")
        return 0
    missing = cannot_open(options.program)
    if missing is not None:  # before install(): the script's directory may not exist either
        print(missing, file=sys.stderr)
        return 2
    roots = options.roots or [default_root(options.program.target if options.program.kind == "script" else None)]
    try:
        _api.install(roots=roots, watch=True, interval=options.interval, control=CONTROL_SUPPORTED)
    except (ValueError, OSError) as error:
        print(f"{PROG} run: {error}", file=sys.stderr)
        return 2
    _log_to_stderr()
    program = dataclasses.replace(options.program, importable=tuple(options.roots))
    try:
        return run_program(program)
    finally:
        _api.stop_watching()


# -- demo -----------------------------------------------------------------------------

def demo(arguments: list[str]) -> int:
    """Run the self-contained tour."""
    parser = argparse.ArgumentParser(prog=f"{PROG} demo",
                                     description="Run the self-contained tour of versioned_import (takes a few "
                                                 "seconds): a live HTTP service takes new code without a restart.")
    parser.parse_args(arguments)
    from .demo import main as tour

    return tour()


# -- the table and the entry point --------------------------------------------------------

def _control(verb: str) -> Callable[[list[str]], int]:
    def main(arguments: list[str]) -> int:
        from .control import main as control  # loaded only when asked: sockets, JSON

        return control([verb, *arguments])

    return main


COMMANDS: dict[str, Command] = {
    "run": Command("run a program with hot reload, as python would run it", run),
    "demo": Command("a short tour: a live HTTP service takes new code without a restart", demo),
    "reload": Command("ask a running process (and its workers) to reload, and print the report", _control("reload")),
    "status": Command("print a running process's (and its workers') generations", _control("status")),
    "rollback": Command("ask a running process (and its workers) to roll a module back", _control("rollback")),
}


def _top_help() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: {PROG} [--version] {{{','.join(COMMANDS)}}} ...", "",
             "Safe hot reload for running Python programs.", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {command.summary}" for name, command in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help  show this help and exit", "  --version   print the version and exit",
              "", f"`{PROG} COMMAND --help` tells more about each command."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m versioned_import``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] in ("-h", "--help"):
        print(_top_help(), end="", file=sys.stdout if arguments else sys.stderr)
        return 0 if arguments else 2
    if arguments[0] in ("--version", "-V"):
        from .. import __version__

        print(f"versioned_import {__version__}")
        return 0
    command = COMMANDS.get(arguments[0])
    if command is None:
        print(f"{_top_help().splitlines()[0]}\n{PROG}: error: unknown command {arguments[0]!r} "
              f"(choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    return command.main(arguments[1:])
