"""The command line: run the figures, print the table, write JSON, and with ``--check`` fail on a missed target."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import sys
import time
import traceback

from . import harness, heap, imports, memory, reads, realapp, reloads, scans, watcher
from .harness import Row, Settings

GROUPS = {"reads": reads, "imports": imports, "reloads": reloads, "heap": heap, "scans": scans, "memory": memory,
          "watcher": watcher, "realapp": realapp}


def machine() -> dict[str, object]:
    """Describe the machine: processors, CPU model, memory."""
    info: dict[str, object] = {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass  # not Linux: the platform fields above are all we have
    return info


def _load() -> str:
    """The 1-minute load average: on a shared machine, what the medians were fighting against."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ns":
        return f"{value * 1e9:,.1f} ns"
    if unit == "ms":
        return f"{value * 1e3:,.2f} ms"
    if unit == "MB":
        return f"{value:,.2f} MB"
    if unit == "%":
        return f"{value:,.3f} %"
    return f"{value:g}"


def _result(row: Row) -> str:
    return "info" if row.passed is None else ("PASS" if row.passed else "MISS")


def table(rows: list[Row]) -> str:
    """Render the rows as a Markdown table (readable as plain text too)."""
    header = ["figure", "baseline", "measured", "ratio", "target", "result"]
    lines = []
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:,.2f}x"
        lines.append([row.figure, f"{row.baseline_label}: {_value(row.baseline, row.unit)}",
                      _value(row.measured, row.unit), ratio, row.target, _result(row)])
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    out = [render(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [render(line) for line in lines]
    notes = [f"- {row.figure}: {row.note}" for row in rows if row.note]
    return "\n".join(out + [""] + notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats: under a minute, less precise")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--check", action="store_true", help="exit non-zero when a target is missed")
    parser.add_argument("--wall", action="store_true",
                        help="time with the wall clock instead of CPU time (noisier on a shared machine)")
    parser.add_argument("--only", metavar="GROUPS", help=f"comma-separated subset of: {', '.join(GROUPS)}")
    options = parser.parse_args(argv)
    selected = list(GROUPS) if not options.only else [g.strip() for g in options.only.split(",") if g.strip()]
    unknown = [g for g in selected if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")

    from versioned_import._core import proxy as _proxy
    # The library's one line per reload would go to stderr (no logging is
    # configured here), thousands of times and inside the timed reloads.
    logging.getLogger("versioned_import").addHandler(logging.NullHandler())
    harness.use_wall_clock(options.wall)
    settings = Settings.make(options.quick)
    started = time.perf_counter()
    print(f"versioned_import benchmarks: Python {platform.python_version()} ({sys.executable}), "
          f"{'quick' if options.quick else 'full'} run, {'wall-clock' if options.wall else 'CPU'} time, "
          f"fast swap {'on' if _proxy.FAST_SWAP else 'off'}, load average {_load()}", flush=True)
    rows: list[Row] = []
    for name in selected:
        group_started = time.perf_counter()
        try:
            rows.extend(GROUPS[name].run(settings))
        except Exception as exc:
            traceback.print_exc()
            rows.append(Row(f"{name} (failed to run)", "-", None, None, "", None, "runs", False,
                            note=f"{type(exc).__name__}: {exc}"))
        print(f"  {name}: {time.perf_counter() - group_started:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    load_after = _load()
    print()
    print(table(rows))
    missed = [row for row in rows if row.passed is False]
    print(f"\n{len(rows)} figures, {sum(r.passed is True for r in rows)} passed, {len(missed)} missed, "
          f"{sum(r.passed is None for r in rows)} for information; {elapsed:.1f} s, load average {load_after}")
    if options.json:
        document = {
            "python": platform.python_version(),
            "executable": sys.executable,
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": machine(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "quick": options.quick,
            "clock": "wall" if options.wall else "cpu",
            "fast_swap": _proxy.FAST_SWAP,
            "elapsed": elapsed,
            "load_average_after": load_after,
            "rows": [row.as_json() for row in rows],
        }
        with open(options.json, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
    return 1 if options.check and missed else 0
