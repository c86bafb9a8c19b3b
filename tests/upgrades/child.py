"""One child process of ``hops.py``: import a release, hold it, upgrade it in place, run the new release's tests.

    python child.py SPEC.json

Run by ``hops.py`` with the interpreter of its venv (which has pytest), never
imported. SPEC.json says which of three things to do:

``upgrade``
    install versioned_import for the library's directory, import release N
    and every submodule, import the application (which holds functions,
    instances and a subclass of the library's), overwrite the files with
    release N+1, call ``reload_changed()``, then run N+1's suite;
``importlib``
    the same without versioned_import, reloading every module of the
    library with ``importlib.reload`` in the order their first import
    finished (dependencies first);
``fresh``
    N+1 imported plainly in a fresh process, its suite run ``runs`` times.

The result (import failures, the reload's outcome, the application's check
before and after, and per suite run the counts and failing test ids) is
written to the JSON file the spec names. The script's own directory is
replaced on ``sys.path`` by the library's directory, as an application's own
directory would be, so nothing of this repository is importable but
versioned_import itself.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import sys
import time
import traceback
from types import FrameType, FunctionType, ModuleType
from typing import Any

import pytest


def main(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as file:
        spec = json.load(file)
    sys.path[0] = spec["lib"]
    sys.path.insert(1, spec["app"])
    result: dict[str, Any] = {"mode": spec["mode"]}
    if spec["mode"] == "upgrade":
        vi = import_versioned_import(spec["repo"])
        vi.install(roots=[spec["lib"]])
    finished = import_library(spec["packages"], spec["lib"], result)
    application = importlib.import_module("application")
    held = hold_definitions(finished)  # what `from m import *` of every module would hold
    result["check_before"] = check(application)
    if spec["mode"] != "fresh":
        result["files"] = overwrite(spec["lib"], spec["new_lib"], spec["packages"])
        importlib.invalidate_caches()
        print(f"release N+1 written over release N: {result['files']}", flush=True)
        if spec["mode"] == "upgrade":
            result["reload"] = reload_changed(vi)
        else:
            result["reload"] = reload_with_importlib(finished)
        print(f"reload: {json.dumps(result['reload'])}", flush=True)
        result["check_after"] = check(application)
    result["runs"] = [run_suite(spec["pytest_args"]) for _ in range(spec["runs"])]
    result["held"] = len(held)
    with open(spec["result"], "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1)
    return 0


def import_versioned_import(repo: str) -> ModuleType:
    """Import versioned_import from the checkout, without leaving the checkout (and its ``tests``) on sys.path."""
    sys.path.insert(0, repo)
    try:
        import versioned_import
    finally:
        sys.path.remove(repo)
    return versioned_import


def import_library(packages: list[str], lib: str, result: dict[str, Any]) -> list[str]:
    """Import every package and submodule except tests; return the module names in the order their import finished.

    The order is seen by a profile hook on module bodies returning (code run by ``exec`` inside a module,
    as namedtuple and dataclasses do, has another file name): a module's body returns after those of the
    modules it imported, so this is the order a fresh import completes them (dependencies first), which
    is the order ``importlib.reload`` needs.
    """
    finished: list[str] = []

    def record(frame: FrameType, event: str, arg: object) -> None:
        code = frame.f_code
        if event == "return" and code.co_name == "<module>" and code.co_filename == frame.f_globals.get("__file__"):
            finished.append(frame.f_globals["__name__"])

    failures: list[str] = []
    sys.setprofile(record)
    try:
        for name in packages:
            module = importlib.import_module(name)
            for info in pkgutil.walk_packages(getattr(module, "__path__", []), f"{name}.", onerror=failures.append):
                if "tests" in info.name.split("."):
                    continue
                try:
                    importlib.import_module(info.name)
                except Exception as exc:  # a platform's module (Windows consoles): the application would not import it
                    failures.append(f"{info.name}: {first_line(exc)}")
    finally:
        sys.setprofile(None)
    in_library = [name for name in dict.fromkeys(finished) if is_library(name, packages) and name in sys.modules]
    outside = [name for name in in_library if not os.path.realpath(sys.modules[name].__file__ or "").startswith(lib)]
    if outside:
        raise RuntimeError(f"imported from outside {lib}: {outside}")
    result["imported"] = len(in_library)
    result["import_failures"] = failures
    print(f"imported {len(in_library)} modules of {', '.join(packages)}; not importable here: {failures}", flush=True)
    return in_library


def is_library(name: str, packages: list[str]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def hold_definitions(names: list[str]) -> list[object]:
    """Hold every public function and class each module defines, as ``from module import name`` would."""
    held = []
    for name in names:
        module = sys.modules[name]
        for attribute, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == name
            if not attribute.startswith("_") and defined_here and isinstance(value, type | FunctionType):
                held.append(value)
    return held


def check(application: ModuleType) -> str:
    """Run the application's check: ``ok``, or the first line of what it raised."""
    try:
        application.check()
    except Exception as exc:
        traceback.print_exc()
        return first_line(exc)
    return "ok"


def overwrite(lib: str, new_lib: str, packages: list[str]) -> dict[str, int]:
    """Write release N+1's files over release N's in place, add the new ones, delete the removed ones.

    As pip does: every file is written again (changed or not), and the old release's ``.dist-info`` goes.
    """
    counts = {"written": 0, "added": 0, "deleted": 0}
    old = set(library_files(lib, packages))
    new = set(library_files(new_lib, packages))
    for relative in sorted(new):
        target = os.path.join(lib, relative)
        counts["written" if relative in old else "added"] += 1
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(new_lib, relative), target)
    for relative in sorted(old - new):
        os.remove(os.path.join(lib, relative))
        counts["deleted"] += 1
    for directory, _, _ in sorted(os.walk(lib), reverse=True):  # deepest first: emptied directories go
        if directory != lib and not any(entry != "__pycache__" for entry in os.listdir(directory)):
            shutil.rmtree(directory)
    return counts


def library_files(root: str, packages: list[str]) -> list[str]:
    """Return the library's files under ``root`` (its packages, modules and dist-info), relative, without caches."""
    files = []
    for entry in os.listdir(root):
        if not (entry.endswith(".dist-info") or entry.removesuffix(".py") in packages):
            continue
        if os.path.isfile(os.path.join(root, entry)):
            files.append(entry)
            continue
        for directory, subdirectories, names in os.walk(os.path.join(root, entry)):
            subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
            files.extend(os.path.relpath(os.path.join(directory, name), root) for name in names if not name.endswith(".pyc"))
    return files


def reload_changed(vi: ModuleType) -> dict[str, Any]:
    try:
        report = vi.reload_changed()
    except vi.ReloadError as exc:
        traceback.print_exc()
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "ReloadError"
        return {"ok": False, "error": first_line(exc), "module": exc.module, "cause": cause, "changed_after": vi.changed()}
    for replaced in report.replaced:
        print(f"replaced: {replaced}", flush=True)
    return {
        "ok": True,
        "reloaded": len(report.reloaded),
        "replaced": [str(replaced) for replaced in report.replaced],
        "elapsed": round(report.elapsed, 4),
        "changed_after": vi.changed(),
    }


def reload_with_importlib(names: list[str]) -> dict[str, Any]:
    """``importlib.reload`` every module whose file still exists, dependencies first; record what raised."""
    started = time.perf_counter()
    errors = []
    skipped = []
    for name in names:
        module = sys.modules[name]
        if not os.path.exists(module.__file__ or ""):
            skipped.append(name)
            continue
        try:
            importlib.reload(module)
        except Exception as exc:
            errors.append(f"{name}: {first_line(exc)}")
    elapsed = round(time.perf_counter() - started, 4)
    return {"ok": not errors, "error": errors[0] if errors else "", "errors": errors, "skipped_deleted": skipped,
            "reloaded": len(names) - len(skipped) - len(errors), "elapsed": elapsed}


class Outcomes:
    """A pytest plugin that records each test's outcome by node id (collection errors count as errors)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.outcomes[report.nodeid] = "error"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = self.outcomes.get(report.nodeid)
        if outcome in ("error", "failed"):
            return  # the worst outcome of setup, call and teardown stands
        if report.failed:
            self.outcomes[report.nodeid] = "failed" if report.when == "call" else "error"
        elif report.skipped:
            self.outcomes[report.nodeid] = "skipped"  # skips and expected failures
        elif report.when == "call" and report.passed:
            self.outcomes[report.nodeid] = "passed"


def run_suite(args: list[str]) -> dict[str, Any]:
    outcomes = Outcomes()
    started = time.perf_counter()
    try:
        status = pytest.main(args, plugins=[outcomes])
        exit_status = status.name if isinstance(status, pytest.ExitCode) else str(status)
    except Exception as exc:  # raised after the tests ran: a warning pytest turns into an error at unconfigure
        traceback.print_exc()
        exit_status = first_line(exc)
    counts = dict.fromkeys(("passed", "failed", "error", "skipped"), 0)
    for outcome in outcomes.outcomes.values():
        counts[outcome] += 1
    bad = sorted(nodeid for nodeid, outcome in outcomes.outcomes.items() if outcome in ("failed", "error"))
    return {**counts, "exit": exit_status, "seconds": round(time.perf_counter() - started, 1), "failures": bad}


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
