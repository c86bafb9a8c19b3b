"""Figure 4: importing a generated 300-module package in a fresh process, with the finder installed vs not.

Each run is a fresh interpreter, so nothing is imported yet; bytecode caches
are warm (``PYTHONDONTWRITEBYTECODE`` is removed from the child's environment
and each copy is imported twice before measuring). The installed and plain
runs use separate copies of the package, because the library writes
hash-checked caches and CPython timestamp-checked ones for the same files.
The time is measured inside the child, around the imports only: both
children have already imported ``versioned_import``, only one has installed
it, so the figure is what the finder adds to imports. What importing the
library and ``install()`` cost is printed separately.
"""

from __future__ import annotations

import json

from .harness import REPO, Row, Settings, Workspace, child_code, child_environment, interleaved, median, ratio_row, run_child
from .sources import write_package

CHILD = r"""
import importlib, json, sys, time
root, installed, names = sys.argv[1], sys.argv[2] == "1", sys.argv[3].split(",")
started = clock()
import versioned_import as vi
if installed:
    vi.install(roots=[root])
library = clock() - started
started = clock()
for name in names:
    importlib.import_module(name)
elapsed = clock() - started
from versioned_import._core import state as _registry
prefix = names[0].partition(".")[0]
print(json.dumps({"import": elapsed, "library": library, "versioned": len(_registry.state.records),
                  "loaded": sum(1 for n in sys.modules if n == prefix or n.startswith(prefix + "."))}))
"""

MODULES = 300


def run(settings: Settings) -> list[Row]:
    with Workspace() as workspace:
        plain = write_package(workspace.path("plain"), "bench_import_pkg", MODULES)
        versioned = write_package(workspace.path("versioned"), "bench_import_pkg", MODULES)
        tails = ",".join(plain.tails)
        environments = {
            "plain": child_environment(workspace.path("pycache-plain"), plain.directory, REPO),
            "installed": child_environment(workspace.path("pycache-installed"), versioned.directory, REPO),
        }
        roots = {"plain": plain.directory, "installed": versioned.directory}
        reports: dict[str, list[dict]] = {"plain": [], "installed": []}

        def child(kind: str) -> float:
            _, output = run_child(child_code(CHILD), roots[kind], "1" if kind == "installed" else "0", tails,
                                  env=environments[kind])
            report = json.loads(output)
            reports[kind].append(report)
            return report["import"]

        for _ in range(2):  # warm: the first run writes the bytecode caches
            child("plain")
            child("installed")
        for kind, report in (("plain", reports["plain"][-1]), ("installed", reports["installed"][-1])):
            expected = MODULES + 1 if kind == "installed" else 0
            if report["versioned"] != expected or report["loaded"] != MODULES + 1:
                raise RuntimeError(f"{kind} child imported {report['loaded']} modules, versioned "
                                   f"{report['versioned']}; expected {MODULES + 1} and {expected}")
        samples = interleaved({"plain": lambda: child("plain"), "installed": lambda: child("installed")},
                              settings.process_rounds)
        library = median([r["library"] for r in reports["installed"]])
        return [
            ratio_row(f"4. import a {MODULES}-module package, fresh process", "same import, not installed",
                      median(samples["plain"]), median(samples["installed"]), "ms", 1.10,
                      note="warm bytecode, time inside the child around the imports"),
            ratio_row("4b. import versioned_import + install()", "the package import, not installed",
                      median(samples["plain"]), library, "ms", None, note="once per process"),
        ]
