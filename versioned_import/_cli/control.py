"""The command line's ``reload``, ``status`` and ``rollback``: ask a running process (and its workers) from outside.

Prints the result for a person, or with ``--json`` the result itself for a
deploy tool, and exits with the outcome's code (``_coordinate.OUTCOMES``):
0 done (or nothing to do), 1 refused and nothing changed, 2 usage error,
3 unreachable (no such process, no channel, another user's process, no
answer in time), 4 partial (some processes changed and others did not).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .._runtime import channel as _channel
from .._runtime import coordinate as _coordinate

__all__ = ["COMMANDS", "main"]

PROG = "python -m versioned_import"
COMMANDS = ("reload", "status", "rollback")

_EPILOG = """\
exit codes: 0 done (or nothing to do), 1 refused (nothing changed anywhere),
2 usage error, 3 unreachable (no such process, no control channel, another
user's process, no answer in time), 4 partial (some processes changed, others
did not: reload again or restart them). See docs/processes.md.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Ask a running process to reload, roll back or "
                                     "report, through its control channel.")
    commands = parser.add_subparsers(dest="command", metavar="{reload,status,rollback}")
    commands.required = True

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, epilog=_EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--pid", type=int, required=True, help="the process (a leader: its workers too)")
        sub.add_argument("--only", action="store_true", help="this process alone, not the workers forked from it")
        sub.add_argument("--json", action="store_true", help="print the result as JSON (for deploy tools)")
        sub.add_argument("--timeout", type=float, default=30.0, metavar="S",
                         help="seconds each process has for each step (default: 30)")
        return sub

    reload = command("reload", "reload NAMES (default: whatever changed) in the process and its workers, "
                               "all or none")
    reload.add_argument("names", nargs="*", metavar="NAME", help="dotted module names (default: what changed)")
    which = reload.add_mutually_exclusive_group()
    which.add_argument("--no-dependents", dest="dependents", action="store_false",
                       help="do not re-execute the modules that import them")
    which.add_argument("--all-dependents", dest="dependents", action="store_const", const="all",
                       help="re-execute every module that imports them, not only those that must re-run")
    command("status", "list the generations of the process and of each worker")
    rollback = command("rollback", "undo the last reload of NAME (every module it published) in the process and "
                                   "its workers, all or none")
    rollback.add_argument("name", metavar="NAME")
    return parser


def main(argv: Sequence[str]) -> int:
    arguments = _parser().parse_args(argv)
    if not 0 < arguments.timeout <= 3600:
        print(f"{PROG} {arguments.command}: --timeout must be between 0 and 3600 seconds", file=sys.stderr)
        return 2
    options = {"only": arguments.only, "timeout": arguments.timeout}
    try:
        if arguments.command == "reload":
            result = _coordinate.reload(arguments.pid, arguments.names, dependents=arguments.dependents, **options)
        elif arguments.command == "status":
            result = _coordinate.status(arguments.pid, **options)
        else:
            result = _coordinate.rollback(arguments.pid, arguments.name, **options)
    except _channel.ChannelError as error:
        result = {"ok": False, "action": arguments.command, "pid": arguments.pid, "outcome": "unreachable",
                  "reason": str(error), "processes": []}
    if arguments.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(describe(result))
    return _coordinate.OUTCOMES[result["outcome"]]


def describe(result: dict[str, Any]) -> str:
    """Return the result as a few lines for a person."""
    processes = result["processes"]
    workers = len([p for p in processes if p.get("role") == "worker"])
    who = f"pid {result['pid']}" + (f" and {workers} worker{'s' * (workers != 1)}" if workers else "")
    lines = [f"{result['action']} {who}: {result['outcome']}" + (f" — {result['reason']}" if result["reason"]
                                                                  else "")]
    for entry in processes:
        lines.append(f"  pid {entry['pid']} ({entry['role']}): {_describe_process(result['action'], entry)}")
    if result["action"] == "status" and result.get("differing"):
        lines.append("  not one generation: the processes run different sources of " +
                     ", ".join(result["differing"]))
    return "\n".join(lines)


def _describe_process(action: str, entry: dict[str, Any]) -> str:
    if not entry.get("ok"):
        message: str = (entry.get("error") or {}).get("message", "no reason given")
        return "error: " + message
    if action == "status":
        modules = entry.get("modules") or {}
        listed = ", ".join(f"{name} (gen {m['generation']})" for name, m in sorted(modules.items()))
        changed = entry.get("changed") or []
        held = entry.get("held") or []
        return (listed or "no versioned modules") + (f"; changed on disk: {', '.join(changed)}" if changed else "") + \
            (f"; held back by a rollback (the file differs): {', '.join(held)}" if held else "")
    if entry.get("action") == "abandon":
        return "staged, then abandoned: nothing published"
    if not entry.get("reloaded") and not entry.get("unloaded"):
        return "nothing to reload"
    modules = ", ".join(f"{name} (gen {entry['generations'].get(name)})" for name in entry.get("reloaded") or ())
    verb = "rolled back" if action == "rollback" else "reloaded"
    line = f"{verb} {modules}" if modules else ""
    if entry.get("unloaded"):
        line += ("; " if line else "") + "unloaded " + ", ".join(entry["unloaded"])
    line += f" in {entry.get('elapsed_ms', 0):.1f} ms"
    if entry.get("replaced"):
        line += "; replaced: " + "; ".join(entry["replaced"])
    if entry.get("held"):
        line += "; not taken from disk until saved again: " + ", ".join(entry["held"])
    return line
