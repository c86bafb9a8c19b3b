"""Upgrade a real library in a running process, then run the new release's own test suite in that process.

    python -m tests.upgrades.hops [--cache DIR] [--keep DIR] [--json FILE] [--python PYTHON] [--no-importlib] [HOP ...]

A *hop* is one library going from release N to release N+1 (``six-1.16.0-1.17.0``);
``HOP`` arguments select hops by the start of their name (``dateutil``,
``toolz-1.1.0``), and without any every hop in ``HOPS`` runs. For each hop:

1. the sdists of both releases are downloaded (``pip download --no-binary :all:``)
   into the cache and unpacked; each release's importable packages, with a
   ``.dist-info`` made from its ``PKG-INFO``, form its *installed image*;
2. a child process (``child.py``, one per hop and mode, so hops do not
   interfere) is given a directory holding release N's image alone, first on
   its ``sys.path``. It installs versioned_import for that directory, imports
   the library and every submodule, imports the application in
   ``applications/`` (functions taken with ``from … import``, instances, a
   subclass of one of the library's classes), writes release N+1's files over
   N's in place (new ones added, removed ones deleted, as pip does), calls
   ``reload_changed()`` and runs N+1's suite with pytest, in the same process;
3. a second child does the same with ``importlib.reload`` of every module
   (dependencies first) instead of versioned_import, for comparison;
4. the baseline: a fresh child with N+1 installed plainly in the same layout
   runs the suite twice, to see what fails in a fresh process and what fails
   on a plain second run of the suite;
5. the table gives, per hop, the reload's outcome, the suite's counts after
   the upgrade, in the fresh process and on its second run, and the *extra*
   failures: those after the upgrade that neither baseline run has.

Each child's directory holds ``lib/`` (the library, on ``sys.path`` and on
``PYTHONPATH`` for tests that start a python), ``app/`` (the application) and
``project/`` (N+1's sdist without its importable packages: its tests, data and
pytest configuration). The suite runs from ``project/`` with the project's own
configuration file (``-c``), so its ``filterwarnings``, markers and options
hold. pytest and the libraries' test requirements are installed, at the
versions in ``TEST_REQUIREMENTS``, into a venv the script makes in the cache
(``.venv-hops-3.11``); nothing else in this repository needs them, and no file
here is a unit test (none starts with ``test``).

A full run of every hop takes five to six minutes on this project's machines
(two CPUs, Python 3.11), most of it in dateutil's 5,000 tests, which run four
times per hop; ``--no-importlib`` saves about a minute. The first run also
downloads the sdists (pip builds their metadata: up to a minute and a half)
and makes the venv. six 1.15 cannot be imported on Python 3.12 or newer (its
meta path importer has no ``find_spec``), whatever does the upgrade.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "child.py")
CHILD_TIMEOUT = 1800.0  # seconds: a bound against a hung suite, never a timing


@dataclass(frozen=True)
class Library:
    """Where a library's sdist keeps what is installed and what is tested."""

    name: str  # the name hops go by, and its application: applications/<name>.py
    project: str  # the name on PyPI
    source: str  # the sdist's directory holding the importable packages ("" for its top)
    packages: tuple[str, ...]  # top-level packages and modules, as installed
    tests: tuple[str, ...]  # what pytest is given, relative to the layout: project/... or lib/...


LIBRARIES = {
    library.name: library
    for library in (
        Library("click", "click", "src", ("click",), ("project/tests",)),
        Library("dateutil", "python-dateutil", "src", ("dateutil",), ("project/tests",)),
        Library("toolz", "toolz", "", ("toolz", "tlz"), ("lib/toolz",)),  # its tests live inside the package
        Library("six", "six", "", ("six",), ("project/test_six.py",)),
    )
}

# The hops of issue 20. python-dateutil has no 2.9 but 2.9.0 and 2.9.0.post0: the latter is the 2.9 release users get.
HOPS = [
    ("click", "8.4.2", "8.5.0"),
    ("dateutil", "2.9.0.post0", "3.0.0"),
    ("dateutil", "3.0.0", "4.0.0"),
    ("toolz", "1.0.0", "1.1.0"),
    ("toolz", "1.1.0", "1.2.0"),
    ("six", "1.15.0", "1.16.0"),
    ("six", "1.16.0", "1.17.0"),
]

# Installed with --no-deps, so the venv holds exactly these: freezegun's python-dateutil is the one under test,
# and six is dateutil's own dependency (a six under test comes first on sys.path).
TEST_REQUIREMENTS = [
    "pytest==9.2.0",
    "iniconfig==2.3.1",
    "packaging==26.4",
    "pluggy==1.7.0",
    "Pygments==2.21.0",
    "hypothesis==6.170.27",
    "sortedcontainers==2.4.0",
    "freezegun==1.5.5",
    "pytest-cov==7.1.0",  # dateutil's conftest marks tests no_cover, a marker pytest-cov registers
    "coverage==7.18.0",
    "attrs==26.1.0",
    "tzdata==2026.6",
    "six==1.17.0",
]

# pytest's configuration files, in the order it looks for them, with the section that makes each one count.
PYTEST_CONFIGS = [("pytest.ini", ""), (".pytest.ini", ""), ("pyproject.toml", "[tool.pytest.ini_options]"),
                  ("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]")]


def hop_name(library: str, old: str, new: str) -> str:
    return f"{library}-{old}-{new}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.upgrades.hops", description=__doc__.split("\n\n")[0])
    parser.add_argument("hops", nargs="*", metavar="HOP", help="hops whose name starts with this (default: all)")
    parser.add_argument("--cache", default=default_cache(), help="downloads, unpacked releases and the venv")
    parser.add_argument("--keep", metavar="DIR", help="keep every layout and child's log under DIR")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the children (and of their venv)")
    parser.add_argument("--no-importlib", action="store_true", help="skip the importlib.reload comparison")
    parser.add_argument("--json", metavar="FILE", help="also write every hop's results to FILE")
    options = parser.parse_args()
    selected = [hop for hop in HOPS if not options.hops or any(hop_name(*hop).startswith(arg) for arg in options.hops)]
    if not selected:
        parser.error(f"no hop matches {options.hops}; hops: {', '.join(hop_name(*hop) for hop in HOPS)}")

    started = time.perf_counter()
    python = ensure_venv(options.cache, options.python)
    work = os.path.abspath(options.keep) if options.keep else tempfile.mkdtemp(prefix="hops-")
    try:
        rows = [run_hop(python, options.cache, work, *hop, importlib_too=not options.no_importlib) for hop in selected]
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows)
    if options.json:
        with open(options.json, "w", encoding="utf-8") as file:
            json.dump(rows, file, indent=1)
    print(f"\n{len(rows)} hops in {time.perf_counter() - started:.0f} s on {python_version(python)}"
          + (f"; layouts and logs in {work}" if options.keep else ""))
    return 0 if all(row["ok"] for row in rows) else 1


def default_cache() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "versioned_import-hops")


def python_version(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                          text=True, check=True).stdout.strip()


def ensure_venv(cache: str, python: str) -> str:
    """Return the python of the cache's venv for ``python``'s version, made and filled with TEST_REQUIREMENTS if needed."""
    version = ".".join(python_version(python).split(".")[:2])
    venv = os.path.join(cache, f".venv-hops-{version}")
    venv_python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, "hops-requirements.txt")
    wanted = "\n".join(TEST_REQUIREMENTS) + "\n"
    if os.path.exists(marker) and read_text(marker) == wanted:
        return venv_python
    print(f"making {venv} with {', '.join(TEST_REQUIREMENTS)}", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", venv], check=True)
    pip(venv_python, "install", "--no-deps", *TEST_REQUIREMENTS)
    with open(marker, "w", encoding="utf-8") as file:
        file.write(wanted)
    return venv_python


def pip(python: str, *args: str) -> None:
    command = [python, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def release(python: str, cache: str, library: Library, version: str) -> str:
    """Return the cache's directory for one release: ``sdist/`` unpacked and ``lib/``, its installed image."""
    directory = os.path.join(cache, "releases", f"{library.project}-{version}")
    if os.path.isdir(directory):
        return directory
    downloads = os.path.join(cache, "sdists", f"{library.project}-{version}")
    if not (os.path.isdir(downloads) and os.listdir(downloads)):
        print(f"downloading the sdist of {library.project} {version}", flush=True)
        pip(python, "download", "--no-deps", "--no-binary", ":all:", "-d", downloads, f"{library.project}=={version}")
    (archive,) = os.listdir(downloads)
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    building = tempfile.mkdtemp(prefix=".building-", dir=os.path.dirname(directory))  # renamed when complete
    with tarfile.open(os.path.join(downloads, archive)) as sdist:
        sdist.extractall(building, filter="data")
    (top,) = os.listdir(building)
    sdist_root = os.path.join(building, "sdist")
    os.rename(os.path.join(building, top), sdist_root)
    install_image(library, version, sdist_root, os.path.join(building, "lib"))
    os.rename(building, directory)
    return directory


def install_image(library: Library, version: str, sdist_root: str, lib: str) -> None:
    """Copy what installing the release puts on sys.path: its packages and modules, and a dist-info from PKG-INFO."""
    source = os.path.join(sdist_root, library.source)
    os.makedirs(lib)
    for name in library.packages:
        if os.path.isdir(os.path.join(source, name)):
            shutil.copytree(os.path.join(source, name), os.path.join(lib, name),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(os.path.join(source, f"{name}.py"), os.path.join(lib, f"{name}.py"))
    dist_info = os.path.join(lib, f"{library.project.replace('-', '_')}-{version}.dist-info")
    os.makedirs(dist_info)
    shutil.copyfile(os.path.join(sdist_root, "PKG-INFO"), os.path.join(dist_info, "METADATA"))


def lay_out(run: str, library: Library, installed: str, tested: str) -> dict[str, str]:
    """Make ``run/lib`` (the ``installed`` release's image), ``run/app`` and ``run/project`` (``tested``'s sdist, no packages)."""
    layout = {part: os.path.join(run, part) for part in ("lib", "app", "project")}
    shutil.copytree(os.path.join(installed, "lib"), layout["lib"])
    os.makedirs(layout["app"])
    shutil.copyfile(os.path.join(HERE, "applications", f"{library.name}.py"), os.path.join(layout["app"], "application.py"))
    packages = {os.path.join(library.source, name) for name in library.packages}
    packages |= {os.path.join(library.source, f"{name}.py") for name in library.packages}
    sdist = os.path.join(tested, "sdist")

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = os.path.relpath(directory, sdist)
        return {name for name in names if os.path.normpath(os.path.join(relative, name)) in packages}

    shutil.copytree(sdist, layout["project"], ignore=ignore)
    return layout


def pytest_args(library: Library, layout: dict[str, str], run: str) -> list[str]:
    """The suite as the project runs it (its own configuration file), every test kept going past collection errors."""
    args = ["--rootdir", layout["project"], "-p", "no:cacheprovider", "--continue-on-collection-errors"]
    for name, section in PYTEST_CONFIGS:
        path = os.path.join(layout["project"], name)
        if os.path.exists(path) and section in read_text(path):
            args[:0] = ["-c", path]
            break
    return args + [os.path.join(run, tests) for tests in library.tests]


def run_child(python: str, library: Library, run: str, mode: str, installed: str, tested: str, runs: int = 1) -> dict:
    """Lay out ``run``, run child.py there in ``mode``, and return its result (with ``crashed`` if it wrote none)."""
    layout = lay_out(run, library, installed, tested)
    spec = {
        "mode": mode,
        "repo": REPO,
        "lib": os.path.realpath(layout["lib"]),
        "app": layout["app"],
        "new_lib": os.path.join(tested, "lib"),
        "packages": list(library.packages),
        "pytest_args": pytest_args(library, layout, run),
        "runs": runs,
        "result": os.path.join(run, "result.json"),
    }
    spec_path = os.path.join(run, "spec.json")
    with open(spec_path, "w", encoding="utf-8") as file:
        json.dump(spec, file, indent=1)
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONSTARTUP"}
    environment["PYTHONPATH"] = spec["lib"]  # the library is installed: tests that start a python find it too
    log = os.path.join(run, "output.log")
    ending = ""
    with open(log, "wb") as output:
        try:
            subprocess.run([python, CHILD, spec_path], cwd=layout["project"], env=environment, stdout=output,
                           stderr=subprocess.STDOUT, timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            ending = f"\n(killed after {CHILD_TIMEOUT:.0f} s)"
    if not os.path.exists(spec["result"]):
        with open(log, encoding="utf-8", errors="replace") as file:
            return {"crashed": "\n".join(file.read().splitlines()[-15:]) + ending}
    with open(spec["result"], encoding="utf-8") as file:
        return json.load(file)


def run_hop(python: str, cache: str, work: str, name: str, old: str, new: str, importlib_too: bool) -> dict:
    library = LIBRARIES[name]
    hop = hop_name(name, old, new)
    old_release, new_release = release(python, cache, library, old), release(python, cache, library, new)
    modes = [("upgrade", old_release, 1), ("fresh", new_release, 2)]
    if importlib_too:
        modes.insert(1, ("importlib", old_release, 1))
    row = {"hop": hop}
    for mode, installed, runs in modes:
        print(f"{hop}: {mode} ...", end="", flush=True)
        started = time.perf_counter()
        row[mode] = run_child(python, library, os.path.join(work, hop, mode), mode, installed, new_release, runs)
        print(f" {time.perf_counter() - started:.0f} s", flush=True)
    fresh = row["fresh"]
    allowed = set() if "crashed" in fresh else {failure for run in fresh["runs"] for failure in run["failures"]}
    for mode in ("upgrade", "importlib"):
        if mode in row and "crashed" not in row[mode]:
            row[mode]["extra"] = sorted(set(row[mode]["runs"][0]["failures"]) - allowed)
    upgrade = row["upgrade"]
    row["ok"] = "crashed" not in upgrade and "crashed" not in fresh and upgrade["reload"]["ok"] and not upgrade["extra"]
    return row


def counts(run: dict) -> str:
    return f"{run['passed']}/{run['failed']}/{run['error']}"


def reload_cell(reload: dict) -> str:
    if reload.get("errors"):
        return f"{len(reload['errors'])} modules raised"
    if not reload["ok"]:
        return f"refused: {reload['cause']} in {reload['module']}"
    return f"ok, {reload['reloaded']} modules, {reload['elapsed'] * 1000:.0f} ms"


def print_table(rows: list[dict]) -> None:
    header = ["hop", "versioned_import", "after upgrade", "extra", "importlib.reload", "after", "extra",
              "fresh", "2nd run"]
    lines = [header]
    for row in rows:
        cells = [row["hop"]]
        for mode in ("upgrade", "importlib"):
            result = row.get(mode)
            if result is None:
                cells += ["-", "-", "-"]
            elif "crashed" in result:
                cells += ["child crashed", "-", "-"]
            else:
                cells += [reload_cell(result["reload"]), counts(result["runs"][0]), str(len(result["extra"]))]
        fresh = row["fresh"]
        cells += ["child crashed", "-"] if "crashed" in fresh else [counts(run) for run in fresh["runs"]]
        lines.append(cells)
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    print("\ntests passed/failed/errors; extra = failing after the upgrade but in neither run of the fresh process\n")
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    for row in rows:
        print_details(row)


def print_details(row: dict) -> None:
    print(f"\n{row['hop']}")
    for mode in ("upgrade", "importlib", "fresh"):
        result = row.get(mode)
        if result is None:
            continue
        if "crashed" in result:
            print(f"  {mode}: the child wrote no result; the end of its output:\n    "
                  + result["crashed"].replace("\n", "\n    "))
            continue
        if mode == "fresh":
            for number, run in enumerate(result["runs"], 1):
                failing = "" if run["failures"] else " none"
                print(f"  fresh, run {number}: {counts(run)} in {run['seconds']} s, failing:{failing}")
                print_failures(run["failures"])
            continue
        reload = result["reload"]
        files = ", ".join(f"{number} {what}" for what, number in result["files"].items())
        print(f"  {mode}: {result['imported']} modules imported, {result['held']} definitions held; files: {files}")
        print(f"    reload: {reload.get('error') or 'ok'}")
        for extra in reload.get("errors", [])[1:] + reload.get("replaced", []):
            print(f"    {extra}")
        if reload.get("changed_after"):
            print(f"    still changed after the reload: {', '.join(reload['changed_after'])}")
        print(f"    the application's check: {result['check_before']} before, {result['check_after']} after")
        run = result["runs"][0]
        print(f"    suite: {counts(run)} in {run['seconds']} s; extra failures ({len(result['extra'])}):")
        print_failures(result["extra"])


def print_failures(failures: list[str], limit: int = 20) -> None:
    """Print each failing test id, or, past ``limit``, how many fail in each test file."""
    if len(failures) <= limit:
        for failure in failures:
            print(f"      {failure}")
        return
    per_file = collections.Counter(failure.split("::")[0] for failure in failures)
    for path, number in per_file.most_common():
        print(f"      {path}: {number}")


if __name__ == "__main__":
    sys.exit(main())
