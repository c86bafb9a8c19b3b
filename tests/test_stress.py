"""Concurrency stress (G5 atomic publish, G7 continuity under load, G11 watcher, G12 thread and task safety).

Real threads, real files, real reloads; every check is a count, a value or an
identity, never a time. Threads meet at a ``threading.Barrier`` and stop at an
``Event``.

* 8 reader threads call functions, read constants, create and use instances
  and take ``isinstance`` of objects and classes held since generation 1,
  while 2 writer threads edit and reload a base module and a dependent that
  does ``from st_base import ...``. Each generation's source embeds its
  version number in constants, function results and method results, so a
  reader can tell exactly which generation a value came from. Outside
  ``pinned()`` a function that reads only its own globals (``snapshot()``)
  must return one version; one that calls a sibling (``nested_snapshot()``)
  may not, by design (a call already running keeps its code, the *next* call,
  the sibling, runs the newest: docs/embedding.md), so that one is checked
  inside ``pinned()``, where every read of every module, and every call
  through an old function object, must stay on the generation pinned at entry.
* Concurrent first imports of one package and its submodules from many threads.
* ``reload``, ``rollback``, ``unload`` and re-imports racing each other from
  several threads while readers run.
* The watcher racing explicit ``vi.reload`` calls on the same files.

Soak mode: the default (CI) run holds 200 reloads of the interdependent pair
under 8 readers. Set ``VERSIONED_IMPORT_SOAK=1`` to hold 1,000 reloads there
(and five times more in the other races); about 20-40 s instead of 5-10 s::

    VERSIONED_IMPORT_SOAK=1 python -m unittest tests.test_stress -v
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import random
import sys
import threading
import time

import versioned_import as vi
from tests.support import Sandbox
from versioned_import._core.source import SourceChangedWhileReading

SOAK = os.environ.get("VERSIONED_IMPORT_SOAK", "") == "1"
RELOADS = 1000 if SOAK else 200  # successful reloads of the interdependent pair, both writers together
READERS = 8
WRITERS = 2
SCALE = 5 if SOAK else 1  # the other races
WAIT = 60.0  # the most any join or watcher wait takes before the test fails (a bound, never a timing)
LOG = "st_log"  # excluded from versioning: its lists outlive every generation


class StressSandbox(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.write(f"{LOG}.py", "RUNS = []\n")
        self.install(exclude=[LOG])
        self.log = importlib.import_module(LOG)
        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-4)  # switch threads often, so reads interleave with publishes
        self.addCleanup(sys.setswitchinterval, previous)

    def write_atomic(self, relative: str, source: str) -> None:
        """Save like an editor does: a complete temporary file renamed over the old one."""
        path = os.path.join(self.root, relative)
        temporary = f"{path}.{threading.get_ident()}.tmp"
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(source)
        os.replace(temporary, path)

# -- 8 readers, 2 writers, an interdependent pair ---------------------------------------------

def base_source(v: int, broken: bool = False) -> str:
    text = f"""\
VERSION = {v}
TAG = ("base", {v})
TABLE = {{"version": {v}, "square": {v} * {v}}}

def version():
    return VERSION

def snapshot():
    return (VERSION, TAG[1], TABLE["version"], TABLE["square"])

def nested_snapshot():
    return (VERSION, version(), snapshot()[0])

class Base:
    def __init__(self, n):
        self.n = n

    def describe(self):
        return ("base", VERSION, self.n)

    def scaled(self):
        return (VERSION, self.n * VERSION)
"""
    if broken:
        # Everything is defined (with a version no reader may ever see), then the module fails.
        text += "raise RuntimeError('refused base edit')\n"
    return text


def dep_source(v: int) -> str:
    return f"""\
import st_base
from st_base import VERSION as BASE_SEEN, Base, version as base_version

VERSION = {v}
TAG = ("dep", {v})

def snapshot():
    return (VERSION, TAG[1], BASE_SEEN)

def combined():
    return (VERSION, BASE_SEEN, base_version(), st_base.VERSION)

class Derived(Base):
    def describe(self):
        return ("derived", VERSION, super().describe())
"""


class ReadersAndWritersTest(StressSandbox):
    def test_readers_see_only_published_generations_while_two_writers_reload(self):
        versions = itertools.count(2)  # next() is atomic under the GIL: every edit gets a unique version
        base_allowed, dep_allowed = {1}, {1}
        self.write("st_base.py", base_source(1))
        self.write("st_dep.py", dep_source(1))
        import st_base
        import st_dep

        base, dep = st_base, st_dep
        # Taken before any reload: functions, classes, instances.
        held_snapshot, held_nested = base.snapshot, base.nested_snapshot
        held_dep_snapshot, held_combined = dep.snapshot, dep.combined
        BaseClass, DerivedClass = base.Base, dep.Derived
        old_base, old_derived = base.Base(3), dep.Derived(4)

        errors: list[tuple] = []
        reads = [0] * READERS
        pinned_blocks = [0] * READERS
        straddled = [0] * READERS
        seen_base: set[int] = set()
        seen_dep: set[int] = set()

        def fail(*what):
            if len(errors) < 50:
                errors.append(what)

        def check_base(kind, v):
            if v not in base_allowed:
                fail(kind, "a base version no published generation defines", v)
            return v

        def check_dep(kind, v):
            if v not in dep_allowed:
                fail(kind, "a dependent version no published generation defines", v)
            return v

        def read_pinned_world():
            return (base.VERSION, base.TAG, base.snapshot(), base.nested_snapshot(), held_snapshot(), held_nested(),
                    dep.VERSION, dep.BASE_SEEN, dep.snapshot(), dep.combined(), held_combined(), held_dep_snapshot())

        def reader(index):
            def run(barrier, stop):
                barrier.wait()
                last = {"base": 0, "dep": 0, "gen base": 0, "gen dep": 0}
                while not stop.is_set():
                    try:
                        # Each generation number and version only ever moves forward.
                        numbers = (("gen base", vi.generation("st_base")), ("gen dep", vi.generation("st_dep")))
                        for key, value in numbers:
                            if value < last[key]:
                                fail(key, "went back", last[key], value)
                            last[key] = value

                        namespace = vars(base)  # one read: one whole generation
                        v = check_base("vars(base)", namespace["VERSION"])
                        if namespace["TAG"] != ("base", v) or namespace["TABLE"] != {"version": v, "square": v * v}:
                            fail("vars(base)", "mixed", v, namespace["TAG"], namespace["TABLE"])
                        if v < last["base"]:
                            fail("base", "version went back", last["base"], v)
                        last["base"] = v
                        seen_base.add(v)

                        for kind, function in (("base.snapshot()", base.snapshot), ("held snapshot()", held_snapshot)):
                            got = function()
                            v = check_base(kind, got[0])
                            if got != (v, v, v, v * v):
                                fail(kind, "mixed", got)

                        kind, got = "old instance describe()", old_base.describe()
                        check_base(kind, got[1])
                        if got[0] != "base" or got[2] != 3:
                            fail(kind, got)
                        got = base.Base(5).scaled()
                        if got != (check_base("new instance scaled()", got[0]), 5 * got[0]):
                            fail("new instance scaled()", got)

                        fresh = base.Base(6)
                        derived = dep.Derived(7)
                        identities = (base.Base is BaseClass, dep.Derived is DerivedClass, type(fresh) is BaseClass,
                                      isinstance(old_base, base.Base), isinstance(old_derived, base.Base),
                                      isinstance(old_derived, dep.Derived), isinstance(derived, BaseClass),
                                      issubclass(dep.Derived, BaseClass), type(old_derived) is dep.Derived)
                        if not all(identities):
                            fail("class identity", identities)

                        namespace = vars(dep)
                        dv = check_dep("vars(dep)", namespace["VERSION"])
                        check_base("dep.BASE_SEEN", namespace["BASE_SEEN"])
                        if namespace["TAG"] != ("dep", dv):
                            fail("vars(dep)", "mixed", dv, namespace["TAG"])
                        if dv < last["dep"]:
                            fail("dep", "version went back", last["dep"], dv)
                        last["dep"] = dv
                        seen_dep.add(dv)
                        for kind, function in (("dep.snapshot()", dep.snapshot),
                                               ("held dep snapshot()", held_dep_snapshot)):
                            got = function()
                            check_dep(kind, got[0])
                            check_base(kind, got[2])
                            if got[1] != got[0]:
                                fail(kind, "mixed", got)

                        for kind, instance, n in (("old derived", old_derived, 4), ("new derived", derived, 7)):
                            got = instance.describe()
                            check_dep(kind, got[1])
                            check_base(kind, got[2][1])
                            if got[0] != "derived" or got[2][0] != "base" or got[2][2] != n:
                                fail(kind, got)

                        # pinned(): one generation of each module for the whole block, and the pair
                        # published together stays together.
                        entered = vi.generation("st_dep")
                        with vi.pinned():
                            first = read_pinned_world()
                            for _ in range(3):
                                time.sleep(0)  # a yield: let writers publish in the middle of the block
                                again = read_pinned_world()
                                # Functions held since generation 1 included: this caught a lineage
                                # that read its newest function and generation in two steps.
                                if again != first:
                                    fail("pinned", "changed within the block", first, again)
                                    break
                        (v, tag, snap, nested, held, held_n, dv, seen, dsnap, comb, held_comb, held_dsnap) = first
                        check_base("pinned", v)
                        check_dep("pinned", dv)
                        expected = ((v, v, v, v * v), (v, v, v), (dv, dv, v), (dv, v, v, v))
                        if (tag, snap, held, nested, held_n, seen, dsnap, held_dsnap, comb, held_comb) != (
                                ("base", v), expected[0], expected[0], expected[1], expected[1], v,
                                expected[2], expected[2], expected[3], expected[3]):
                            fail("pinned", "one world was not one generation", first)
                        pinned_blocks[index] += 1
                        if vi.generation("st_dep") != entered:
                            straddled[index] += 1  # a publish landed inside the block
                    except Exception as exc:  # the failure we look for: AttributeError, NameError, ...
                        fail("exception", repr(exc))
                    reads[index] += 1
            return run

        outcomes = {"published": 0, "broken edits": 0, "broken edits refused": 0, "caught mid-save": 0}
        outcomes_lock = threading.Lock()
        unexpected: list[BaseException] = []

        def bump(key):
            with outcomes_lock:
                outcomes[key] += 1

        def reload_until_published(name):
            """Reload ``name``; a refusal because another writer was saving a file in the set is retried."""
            for _ in range(100):
                try:
                    return vi.reload(name)
                except vi.ReloadError as error:
                    if isinstance(error.__cause__, SourceChangedWhileReading):
                        bump("caught mid-save")
                        continue
                    unexpected.append(error)
                    return None
            unexpected.append(RuntimeError(f"{name} was caught mid-save 100 times in a row"))
            return None

        def base_writer(writers_barrier, stop):
            writers_barrier.wait()
            for i in range(RELOADS // WRITERS):
                if i % 20 == 10:
                    # A refused edit: everything in it is defined with a version nobody may observe.
                    bump("broken edits")
                    self.write_atomic("st_base.py", base_source(-next(versions), broken=True))
                    try:
                        vi.reload("st_base")
                        unexpected.append(AssertionError("a broken base edit was published"))
                    except vi.ReloadError as error:
                        if isinstance(error.__cause__, SourceChangedWhileReading) or \
                                (error.module, type(error.__cause__)) == ("st_base", RuntimeError):
                            bump("broken edits refused")
                        else:
                            unexpected.append(error)
                v = next(versions)
                base_allowed.add(v)  # before the file exists: a reader may see it right after the publish
                self.write_atomic("st_base.py", base_source(v))
                report = reload_until_published("st_base")
                if report is not None:
                    bump("published")
                    if report.reloaded != ("st_base", "st_dep"):
                        unexpected.append(AssertionError(f"reloaded {report.reloaded}"))

        def dep_writer(writers_barrier, stop):
            writers_barrier.wait()
            for _ in range(RELOADS // WRITERS):
                v = next(versions)
                dep_allowed.add(v)
                self.write_atomic("st_dep.py", dep_source(v))
                report = reload_until_published("st_dep")
                if report is not None:
                    bump("published")
                    if report.reloaded != ("st_dep",):
                        unexpected.append(AssertionError(f"reloaded {report.reloaded}"))

        def main(stop):
            writers = [threading.Thread(target=w, args=(writers_barrier, stop), daemon=True)
                       for w in (base_writer, dep_writer)]
            for thread in writers:
                thread.start()
            writers_barrier.wait()
            for thread in writers:
                thread.join(WAIT * 10)
            self.assertFalse([t for t in writers if t.is_alive()], "a writer did not finish (deadlock?)")

        writers_barrier = threading.Barrier(WRITERS + 1)
        self.run_threads([reader(i) for i in range(READERS)], main)

        self.assertEqual(unexpected, [])
        self.assertEqual(errors, [])
        self.assertEqual(outcomes["published"], RELOADS, outcomes)
        self.assertEqual(outcomes["broken edits refused"], outcomes["broken edits"], outcomes)
        self.assertGreater(outcomes["broken edits"], 0)
        self.assertTrue(all(reads), reads)
        self.assertTrue(all(pinned_blocks), pinned_blocks)
        self.assertGreater(sum(straddled), 0, "no publish ever landed inside a pinned block")
        # The readers really ran alongside the publishes, or the test proved nothing.
        self.assertGreater(len(seen_base), 5, sorted(seen_base))
        self.assertGreater(len(seen_dep), 5, sorted(seen_dep))
        self.assertFalse([v for v in seen_base | seen_dep if v < 0])
        # Final state: the last edit of each file, continuity intact.
        last_base, last_dep = max(base_allowed), max(dep_allowed)
        self.assertEqual((base.VERSION, dep.VERSION, dep.BASE_SEEN), (last_base, last_dep, last_base))
        self.assertEqual((held_snapshot()[0], old_base.describe(), old_derived.describe()),
                         (last_base, ("base", last_base, 3), ("derived", last_dep, ("base", last_base, 4))))
        base_generation = vi.generation("st_base")
        self.assertEqual(base_generation, 1 + RELOADS // WRITERS)
        self.assertEqual(vi.generation("st_dep"), 1 + RELOADS)
        self.assertEqual(vi.changed(), [])


# -- concurrent first imports of a package and its submodules -------------------------------

PACKAGE = {
    # No module imports its own child at import time: CPython itself (without versioned_import)
    # raises _DeadlockError when one thread imports ``pkg.core`` while another imports ``pkg`` and
    # pkg/__init__ imports .core; that import-lock limitation is not ours to test.
    "__init__.py": "import st_log\nst_log.RUNS.append(__name__)\nNAME = 'pkg'\n",
    "core.py": "import st_log\nst_log.RUNS.append(__name__)\nTOTAL = sum(range(20000))\n"
               "def helper():\n    return TOTAL\n",
    "a.py": "import st_log\nst_log.RUNS.append(__name__)\nfrom . import core\nfrom .core import helper\nA = helper()\n",
    "b.py": "import st_log\nst_log.RUNS.append(__name__)\nfrom .a import A\nimport {pkg}.core as core\n"
            "B = A + 1\n",
    "sub/__init__.py": "import st_log\nst_log.RUNS.append(__name__)\nfrom .. import core\n",
    "sub/deep.py": "import st_log\nst_log.RUNS.append(__name__)\nfrom ..b import B\nimport importlib\n"
                   "c = importlib.import_module('{pkg}.core')\nDEEP = B + 1\n",
}
TOTAL = sum(range(20000))


class TuplesBuiltMeanwhileTest(StressSandbox):
    """A reload never holds what other threads are still building.

    ``tuple(generator)`` builds its result in place and resizes it, which
    CPython allows only while it holds the only reference; a reload that
    listed every young object (``gc.get_objects``) while Python code ran held
    a second one, and the other thread failed with "bad argument to internal
    function".
    """

    def test_threads_building_tuples_from_generators_while_reloads_run(self):
        source = "class A:\n    pass\nclass B(A):\n    pass\ndef f():\n    return {n}\n"
        self.write("st_tuples.py", source.format(n=0))
        import st_tuples  # noqa: F401

        problems: list[str] = []

        def slow(count):
            for item in range(count):
                time.sleep(0)  # another thread (the reload) runs in the middle of the tuple
                yield item

        def builder(barrier, stop):
            barrier.wait()
            while not stop.is_set():
                try:
                    if len(tuple(slow(50))) != 50:
                        problems.append("short tuple")
                except Exception as exc:  # SystemError: bad argument to internal function
                    problems.append(repr(exc))
                    return

        def reloads(stop):
            for n in range(1, 60 * SCALE):
                self.write("st_tuples.py", source.format(n=n))
                vi.reload("st_tuples")

        self.run_threads([builder, builder, builder], main=reloads)
        self.assertEqual(problems, [])


class SubmoduleVisibleWhenReadyTest(Sandbox):
    """The moment a submodule stops initialising, its package already has it (G12).

    importlib clears ``_initializing`` and only then sets the submodule on
    its package; another thread that finds the module ready in between does
    not wait, and ``import pkg.sub; pkg.sub`` raises "cannot access
    submodule". A trace of the importing thread stops exactly there.
    """

    def test_the_package_attribute_is_set_before_the_import_ends(self):
        self.write("sv_pkg/__init__.py", "")
        self.write("sv_pkg/sub.py", "VALUE = 1\n")
        self.install()
        import sv_pkg

        seen: list[bool] = []

        def trace(frame, event, arg):
            if event == "return" and frame.f_code.co_name == "_load_unlocked" \
                    and getattr(frame.f_locals.get("spec"), "name", None) == "sv_pkg.sub":
                seen.append("sub" in dir(sv_pkg))
            return trace if event == "call" else None

        sys.settrace(trace)
        try:
            importlib.import_module("sv_pkg.sub")
        finally:
            sys.settrace(None)
        self.assertEqual(seen, [True])


class ConcurrentFirstImportTest(StressSandbox):
    ROUNDS = 8 * SCALE
    THREADS = 16

    def test_many_threads_import_one_package_and_its_submodules_at_once(self):
        for round_ in range(self.ROUNDS):
            pkg = f"st_pkg{round_}"
            with self.subTest(round=round_):
                for relative, source in PACKAGE.items():
                    self.write(f"{pkg}/{relative}", source.format(pkg=pkg))
                names = [pkg, f"{pkg}.core", f"{pkg}.a", f"{pkg}.b", f"{pkg}.sub", f"{pkg}.sub.deep"]
                entry_points = [
                    lambda n=name: importlib.import_module(n) for name in names
                ] + [
                    lambda: _exec_import(f"from {pkg}.sub import deep as module"),
                    lambda: _exec_import(f"import {pkg}.b\nmodule = {pkg}.b"),
                    lambda: _exec_import(f"from {pkg} import a as module"),
                    lambda: _exec_import(f"from {pkg}.a import helper\nimport {pkg}.core as module"),
                ]
                got: list = []
                problems: list = []

                def importer(index):
                    def run(barrier, stop):
                        barrier.wait()
                        try:
                            got.append(entry_points[index % len(entry_points)]())
                        except Exception as exc:
                            problems.append(repr(exc))
                    return run

                runs_before = len(self.log.RUNS)
                self.run_threads([importer(i) for i in range(self.THREADS)])
                self.assertEqual(problems, [])
                self.assertEqual(len(got), self.THREADS)
                # One proxy per module, every body ran exactly once, every module fully initialised.
                proxies = {name: sys.modules[name] for name in names}
                for module in got:
                    self.assertIs(proxies[module.__name__], module)
                runs = self.log.RUNS[runs_before:]
                self.assertEqual(sorted(runs), sorted(names))
                self.assertEqual([vi.generation(n) for n in names], [1] * len(names))
                self.assertEqual((proxies[f"{pkg}.a"].A, proxies[f"{pkg}.b"].B, proxies[f"{pkg}.sub.deep"].DEEP),
                                 (TOTAL, TOTAL + 1, TOTAL + 2))
                self.assertIs(proxies[pkg].sub, proxies[f"{pkg}.sub"])
                self.assertIs(proxies[f"{pkg}.sub"].deep, proxies[f"{pkg}.sub.deep"])
                # The dependency edges recorded under contention are complete (G6): reloading core
                # re-executes everything that imported it, directly or not. (The package itself may
                # be included: when another thread's import binds ``pkg.core`` while pkg/__init__ is
                # still executing, that binding is indistinguishable from a ``from . import core``.)
                self.write(f"{pkg}/core.py", PACKAGE["core.py"].replace("TOTAL = sum", "TOTAL = 1 + sum"))
                report = vi.reload(f"{pkg}.core", dependents="all")
                dependents = {f"{pkg}.core", f"{pkg}.a", f"{pkg}.b", f"{pkg}.sub", f"{pkg}.sub.deep"}
                self.assertLessEqual(dependents, set(report.reloaded))
                self.assertLessEqual(set(report.reloaded), dependents | {pkg})
                self.assertEqual(proxies[f"{pkg}.sub.deep"].DEEP, TOTAL + 3)

    def test_a_reloaded_package_does_not_become_a_dependent_of_its_submodules(self):
        # Found while writing the test above: a package whose __init__ imports none of its submodules is
        # re-executed by reloads of them once the package itself has been reloaded, because its new
        # generation starts with the loaded submodules bound (so ``import pkg.sub`` keeps working)
        # and the post-execution scan then reads those bindings as imports.
        self.write("st_edge/__init__.py", "import st_log\nst_log.RUNS.append(__name__)\n")
        self.write("st_edge/core.py", "X = 1\n")
        self.write("st_edge/user.py", "from . import core\nX = core.X\n")
        importlib.import_module("st_edge.user")
        # Every dependent asked for: the reloads show the recorded edges.
        self.assertEqual(vi.reload("st_edge.core", dependents="all").reloaded, ("st_edge.core", "st_edge.user"))
        self.assertEqual(vi.reload("st_edge", dependents="all").reloaded, ("st_edge", "st_edge.user"))
        runs = self.log.RUNS.count("st_edge")
        self.assertEqual(vi.reload("st_edge.core", dependents="all").reloaded, ("st_edge.core", "st_edge.user"),
                         "the package's __init__ was re-executed by a reload of a submodule it never imported")
        self.assertEqual(self.log.RUNS.count("st_edge"), runs)


def _exec_import(code: str):
    namespace: dict = {}
    exec(code, namespace)
    return namespace["module"]


# -- pins and first imports under contention ---------------------------------------------

class PinnedAcrossOtherEventsTest(StressSandbox):
    def test_a_pin_holds_across_first_imports_and_unloads_of_other_modules(self):
        # A server pins each request; other requests import modules lazily or unload plugins meanwhile.
        # None of that may let a reload published on another thread leak into the pinned block.
        self.write("st_pin_a.py", "VERSION = 1\ndef get():\n    return VERSION\n")
        self.write("st_pin_other.py", "X = 1\n")
        self.write("st_pin_plugin.py", "X = 1\n")
        module = importlib.import_module("st_pin_a")
        held_get = module.get
        events = {
            "nothing else": lambda: None,
            "a first import of another module": lambda: importlib.import_module("st_pin_other"),
            "an unload of another module": lambda: vi.unload("st_pin_plugin"),
        }
        seen = {}
        for label, event in events.items():
            with self.subTest(label):
                importlib.import_module("st_pin_plugin")
                if "st_pin_other" in sys.modules:
                    vi.unload("st_pin_other")
                before = module.VERSION
                with vi.pinned():
                    first = (module.VERSION, module.get(), held_get())
                    event()
                    self.write("st_pin_a.py", f"VERSION = {before + 1}\ndef get():\n    return VERSION\n")
                    thread = threading.Thread(target=vi.reload, args=("st_pin_a",))
                    thread.start()
                    thread.join(WAIT)
                    self.assertEqual(vi.generation("st_pin_a"), before + 1)  # published meanwhile
                    inside = (module.VERSION, module.get(), held_get())
                seen[label] = (first, inside)
                self.assertEqual(module.VERSION, before + 1)
        self.assertEqual({label: inside == first for label, (first, inside) in seen.items()},
                         dict.fromkeys(events, True), seen)


    def test_a_pin_holds_when_the_pinned_module_itself_is_unloaded(self):
        # A request pinned generation 1, a reload published generation 2, then another thread unloaded
        # the module (a plugin removed). The request still holds the proxy and must keep reading the
        # generation it pinned until its block ends.
        self.write("st_pin_gone.py", "VERSION = 1\ndef get():\n    return VERSION\n")
        module = importlib.import_module("st_pin_gone")
        held_get = module.get

        def elsewhere(function, *args):
            thread = threading.Thread(target=function, args=args)
            thread.start()
            thread.join(WAIT)

        with vi.pinned():
            first = (module.VERSION, module.get(), held_get())
            self.write("st_pin_gone.py", "VERSION = 2\ndef get():\n    return VERSION\n")
            elsewhere(vi.reload, "st_pin_gone")
            after_reload = (module.VERSION, module.get(), held_get())
            elsewhere(vi.unload, "st_pin_gone")
            self.assertNotIn("st_pin_gone", sys.modules)
            after_unload = (module.VERSION, module.get(), held_get())
        self.assertEqual((first, after_reload, after_unload), ((1, 1, 1),) * 3)
        self.assertEqual(module.VERSION, 2)  # outside the block: the last published generation


class FirstImportRacingSavesTest(StressSandbox):
    IMPORTS = 1000 * SCALE

    def test_first_imports_while_an_editor_saves_the_file(self):
        # An editor saves atomically (a complete temporary file renamed over the old one), so every
        # open() sees one whole version. CPython's own loader therefore never fails to import a module
        # while it is being saved; a versioned first import must not fail either: it has no previous
        # generation to protect, and the bytes it read are a whole file.
        sources = ["VALUE = 'a'\nPAIR = ('a', 'a')\n", "VALUE = 'b'\nPAIR = ('b', 'b')\n"]
        for name in ("st_saved", "st_saved_plain"):
            self.write(f"{name}.py", sources[0])
        vi.install(roots=[self.root], exclude=[LOG, "st_saved_plain"])
        saving = threading.Event()
        saving.set()
        failures: dict[str, list] = {"st_saved": [], "st_saved_plain": []}

        def editor(barrier, stop):
            barrier.wait()
            for i in itertools.count():
                if not saving.is_set():
                    return
                for name in ("st_saved", "st_saved_plain"):
                    self.write_atomic(f"{name}.py", sources[i % 2])

        def main(stop):
            try:
                for _ in range(self.IMPORTS):
                    for name, forget in (("st_saved", vi.unload), ("st_saved_plain", sys.modules.pop)):
                        try:
                            module = importlib.import_module(name)
                        except Exception as exc:
                            failures[name].append(repr(exc))
                            continue
                        if module.PAIR != (module.VALUE, module.VALUE):
                            failures[name].append(("torn", module.PAIR))
                        forget(name)
            finally:
                saving.clear()

        self.run_threads([editor], main)
        self.assertEqual(failures["st_saved_plain"], [], "even CPython's loader failed: the test is wrong")
        self.assertEqual(failures["st_saved"][:3], [], f"{len(failures['st_saved'])} of {self.IMPORTS} first "
                                                       "imports failed while the file was being saved")


# -- reload + rollback + unload + re-import, racing -------------------------------------------

def race_base(v: int) -> str:
    return f"VERSION = {v}\nPAIR = ({v}, {v})\ndef get():\n    return (VERSION, PAIR)\n"


RACE_DEP = "import st_rc_base\nfrom st_rc_base import PAIR as BASE_PAIR, get\nCOPY = get()\n" \
           "def both():\n    return (BASE_PAIR, COPY, get())\n"


class ReloadRollbackUnloadRaceTest(StressSandbox):
    OPERATIONS = 150 * SCALE  # per operating thread

    def test_reload_rollback_unload_and_reimport_race_without_tearing(self):
        versions = itertools.count(2)
        allowed = {1}
        self.write("st_rc_base.py", race_base(1))
        self.write("st_rc_dep.py", RACE_DEP)
        importlib.import_module("st_rc_dep")
        names = ("st_rc_base", "st_rc_dep")
        lock = threading.Lock()  # the test's own: one writer of the base file at a time
        problems: list = []
        refusals: dict[str, int] = {}
        operations: dict[str, int] = {}
        generation_problems: list = []

        def note(counter, key):
            counter[key] = counter.get(key, 0) + 1

        def acceptable(error: vi.ReloadError) -> bool:
            """A documented refusal of this race: the module was unloaded, or there is nothing to roll back to."""
            if isinstance(error, vi.NotVersionedError):
                note(refusals, "not versioned (unloaded)")
                return True
            if "nothing to roll back to" in str(error):
                note(refusals, "nothing to roll back to")
                return True
            if isinstance(error.__cause__, SourceChangedWhileReading):
                note(refusals, "a file caught mid-save")  # another thread's edit
                return True
            return False

        def operator(seed):
            def run(barrier, stop):
                rng = random.Random(seed)
                barrier.wait()
                for _ in range(self.OPERATIONS):
                    action = rng.choices(("reload", "edit", "rollback", "unload", "import"), (4, 3, 3, 1, 2))[0]
                    name = rng.choice(names)
                    try:
                        if action == "edit":
                            with lock:
                                v = next(versions)
                                allowed.add(v)
                                self.write_atomic("st_rc_base.py", race_base(v))
                            vi.reload("st_rc_base")
                        elif action == "reload":
                            vi.reload(name)
                        elif action == "rollback":
                            vi.rollback(name)
                        elif action == "unload":
                            vi.unload(name)
                            if rng.random() < 0.5:
                                with lock:  # (a first import racing a save: see FirstImportRacingSavesTest)
                                    live[name] = importlib.import_module(name)  # straight back in
                        else:
                            with lock:
                                live[name] = importlib.import_module(name)
                        note(operations, action)
                    except vi.ReloadError as error:
                        if not acceptable(error):
                            problems.append((action, name, repr(error), repr(error.__cause__)))
                    except Exception as exc:
                        problems.append((action, name, "undocumented exception", repr(exc)))
                finished.release()
            return run

        finished = threading.Semaphore(0)
        operators = 4

        def main(stop):
            for _ in range(operators):
                self.assertTrue(finished.acquire(timeout=WAIT), "an operating thread did not finish (deadlock?)")

        reads = []
        pin_problems: list = []
        # The proxies readers use: each one handed over once its import finished. (A module found in
        # sys.modules may still be executing its first import on another thread, as in plain Python.)
        live = {name: sys.modules[name] for name in names}

        def reader(barrier, stop):
            barrier.wait()
            last: dict[int, tuple] = {}
            while not stop.is_set():
                for name in names:
                    module = live[name]
                    reads.append(name)
                    try:
                        namespace = vars(module)
                        if name == "st_rc_base":
                            v = namespace["VERSION"]
                            got = module.get()
                            if namespace["PAIR"] != (v, v) or got[1] != (got[0], got[0]) or v not in allowed:
                                problems.append(("torn base", v, namespace["PAIR"], got))
                        else:
                            pair, copy, current = module.both()
                            if pair != (pair[0], pair[0]) or copy != (pair[0], pair) or current[1] != (current[0],) * 2:
                                problems.append(("torn dependent", pair, copy, current))
                        with vi.pinned():
                            first = (module.__dict__.get("VERSION"), module.__dict__.get("PAIR"),
                                     module.__dict__.get("BASE_PAIR"))
                            time.sleep(0)
                            again = (module.__dict__.get("VERSION"), module.__dict__.get("PAIR"),
                                     module.__dict__.get("BASE_PAIR"))
                        if first != again:
                            pin_problems.append(("pinned block changed", name, first, again))
                    except Exception as exc:
                        problems.append(("reader exception", name, repr(exc)))
                    try:
                        number = vi.generation(module)
                    except vi.NotVersionedError:
                        continue  # this proxy was unloaded (documented)
                    previous = last.get(id(module), (module, 0))[1]
                    if number < previous:
                        generation_problems.append((name, "generation went back", previous, number))
                    last[id(module)] = (module, number)

        self.run_threads([operator(seed) for seed in range(operators)] + [reader] * 3, main)
        self.assertEqual(problems[:5], [], f"{len(problems)} problems; operations {operations}; refusals {refusals}")
        self.assertGreater(len(reads), 100, "the readers hardly ran")
        for action in ("reload", "edit", "rollback", "unload", "import"):
            self.assertGreater(operations.get(action, 0), 0, (operations, refusals))

        # Afterwards everything is usable: import (again, if the race ended with an unload), reload, roll back.
        dep = importlib.import_module("st_rc_dep")
        base = importlib.import_module("st_rc_base")
        with lock:
            final = next(versions)
            self.write_atomic("st_rc_base.py", race_base(final))
        report = vi.reload(*names)
        self.assertEqual(set(report.reloaded), set(names))
        self.assertEqual((base.get(), dep.both()[0]), ((final, (final, final)), (final, final)))
        self.assertEqual(vi.changed(), [])
        self.assertEqual(generation_problems[:5], [])
        # Last, so that the checks above report first: see test_a_pin_holds_across_first_imports_and_unloads.
        self.assertEqual(pin_problems[:3], [], f"{len(pin_problems)} pinned blocks saw a publish")


# -- the watcher racing explicit reloads ----------------------------------------------------

def watched_base(v: int) -> str:
    return f"VERSION = {v}\nPAIR = ({v}, {v})\ndef get():\n    return (VERSION, PAIR)\n"


def watched_dep(v: int) -> str:
    return f"from st_wr_base import VERSION as BASE\nVERSION = {v}\ndef get():\n    return (VERSION, BASE)\n"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class WatcherRaceTest(StressSandbox):
    EDITS = 100 * SCALE

    def collect_logs(self) -> _Collect:
        logger = logging.getLogger("versioned_import")
        handler = _Collect()
        logger.addHandler(handler)
        propagate = logger.propagate
        logger.propagate = False

        def restore():
            logger.removeHandler(handler)
            logger.propagate = propagate

        self.addCleanup(restore)
        return handler

    def test_the_watcher_racing_explicit_reloads_ends_consistent(self):
        logs = self.collect_logs()
        self.write("st_wr_base.py", watched_base(1))
        self.write("st_wr_dep.py", watched_dep(1))
        base = importlib.import_module("st_wr_base")
        dep = importlib.import_module("st_wr_dep")
        names = ("st_wr_base", "st_wr_dep")
        base_written, dep_written = [1], [1]
        reports: list = []
        self.addCleanup(vi.on_reload(lambda report: reports.append((threading.current_thread().name, report))))
        vi.watch(interval=0.01)
        problems: list = []
        explicit = {"main": 0, "thread": 0, "caught mid-save": 0}
        writing = threading.Event()
        writing.set()
        explicit_done = threading.Event()
        requests = threading.Semaphore(0)

        def explicit_reloader(barrier, stop):
            # Reloads when asked, concurrently with the watcher noticing the same edit.
            barrier.wait()
            rng = random.Random(7)
            while writing.is_set():
                if not requests.acquire(timeout=0.05):
                    continue
                for _ in range(rng.randint(1, 3)):
                    try:
                        vi.reload(rng.choice(names))
                        explicit["thread"] += 1
                    except vi.ReloadError as error:
                        if isinstance(error.__cause__, SourceChangedWhileReading):
                            explicit["caught mid-save"] += 1
                        else:
                            problems.append(("explicit reload refused", repr(error)))
            explicit_done.set()

        def reader(barrier, stop):
            barrier.wait()
            last = {"base": 0, "dep": 0, "gen base": 0, "gen dep": 0}
            while not stop.is_set():
                try:
                    numbers = (("gen base", vi.generation("st_wr_base")), ("gen dep", vi.generation("st_wr_dep")))
                    for key, number in numbers:
                        if number < last[key]:
                            problems.append((key, "went back", last[key], number))
                        last[key] = number
                    v, pair = base.get()
                    if pair != (v, v) or v not in base_written or v < last["base"]:
                        problems.append(("base", v, pair, last["base"]))
                    last["base"] = max(last["base"], v)
                    with vi.pinned():
                        dv, seen = dep.get()
                        time.sleep(0)
                        if (dep.VERSION, dep.BASE, base.VERSION) != (dv, seen, seen):
                            problems.append(("pinned", dv, seen, dep.VERSION, dep.BASE, base.VERSION))
                    if dv not in dep_written or seen not in base_written or dv < last["dep"]:
                        problems.append(("dep", dv, seen, last["dep"]))
                    last["dep"] = max(last["dep"], dv)
                except Exception as exc:
                    problems.append(("reader exception", repr(exc)))

        def main(stop):
            for v in range(2, self.EDITS + 2):
                base_written.append(v)
                self.write_atomic("st_wr_base.py", watched_base(v))
                if v % 3 == 0:
                    dep_written.append(v)
                    self.write_atomic("st_wr_dep.py", watched_dep(v))
                mode = v % 4
                if mode == 0:  # reloaded here at once, racing the watcher's next tick
                    try:
                        vi.reload("st_wr_base")
                        explicit["main"] += 1
                    except vi.ReloadError as error:
                        problems.append(("main reload refused", repr(error)))
                elif mode == 1:  # the explicit reloader thread and the watcher both go for it
                    requests.release()
                elif mode == 2:  # left to whoever comes first (usually the watcher) before the next edit
                    self.wait_until(lambda: base.VERSION >= v and vi.changed() == [], "the edit to be published")
                # mode 3: the next edit follows at once, possibly while the watcher is reloading this one
            writing.clear()
            self.assertTrue(explicit_done.wait(WAIT))
            # The last edit touches one file only; the watcher alone must bring it in.
            final = self.EDITS + 2
            base_written.append(final)
            self.write_atomic("st_wr_base.py", watched_base(final))
            self.wait_until(lambda: base.VERSION == final and vi.changed() == [],
                            "the watcher to publish the last edit")

        self.run_threads([explicit_reloader] + [reader] * 4, main)
        self.assertEqual(problems[:5], [], f"{len(problems)} problems")
        self.assertEqual((base.VERSION, base.PAIR), (base_written[-1], (base_written[-1],) * 2))
        self.assertEqual(dep.get(), (dep_written[-1], base_written[-1]))
        # Every publish got its own generation number: none reused, none skipped.
        published = {name: sorted(r.generations[name] for _, r in reports if r.ok and name in r.generations)
                     for name in names}
        for name in names:
            self.assertEqual(published[name], list(range(2, vi.generation(name) + 1)), name)
        watcher_publishes = [r for thread, r in reports if thread == "versioned_import-watcher" and r.ok and r.reloaded]
        self.assertGreater(len(watcher_publishes), 0, "the watcher never published")
        self.assertGreater(explicit["main"], 0)
        self.assertGreater(explicit["thread"], 0)
        self.assertTrue(self.watcher_alive())
        # A refusal may only be a file caught mid-save (changed while read, or still open for
        # writing), logged once as the watcher promises (G11).
        for record in logs.records:
            self.assertRegex(record.getMessage(), "changed while it was being read|is open for writing")

    def watcher_alive(self) -> bool:
        from versioned_import._core import state as _registry
        return _registry.state.watcher is not None and _registry.state.watcher.alive()
