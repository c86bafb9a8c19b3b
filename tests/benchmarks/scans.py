"""Figure 6: ``changed()`` over 2,000 unchanged versioned modules against ``os.stat`` of the same files.

The files are dated an hour back, as the source files of a running program
are: a file modified within the last two seconds is "racily clean" and
``changed()`` must read and hash it whatever its stat says (G8), which is
correct and not what this figure is about.
"""

from __future__ import annotations

import importlib
import os

import versioned_import as vi

from .harness import Row, Settings, Workspace, interleaved, median, per_call, ratio_row


def run(settings: Settings) -> list[Row]:
    count = settings.scan_modules
    with Workspace() as workspace:
        names = [f"bench_scan_{index:04d}" for index in range(count)]
        paths = [workspace.write(f"{name}.py", f"VALUE = {index}\n") for index, name in enumerate(names)]
        importlib.invalidate_caches()
        workspace.install()
        for name in names:
            importlib.import_module(name)
        if vi.changed() != [] or vi.generation(names[-1]) != 1:
            raise RuntimeError("freshly imported modules reported as changed")
        stat = os.stat

        def stat_all() -> None:
            for path in paths:
                stat(path)

        calls = 2 if settings.quick else 5
        samples = interleaved({
            "stat": lambda: per_call(stat_all, calls),
            "changed": lambda: per_call(vi.changed, calls),
        }, settings.rounds)
        return [ratio_row(f"6. changed() over {count:,} unchanged modules", f"os.stat of the {count:,} files",
                          median(samples["stat"]), median(samples["changed"]), "ms", 1.3,
                          note="stat pre-check only: files older than the racy window")]
