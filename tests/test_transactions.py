"""G5 atomic publish, G9 rollback, G10 no leaks, G12 thread safety: the transaction seen from other threads.

Readers and reloaders are real threads that meet at a ``threading.Barrier``
and stop at an ``Event``; every check is a count or an identity, never a time.
Module code reports to ``tx_log``, a module the finder is told to exclude, so
its lists survive reloads and unloads.
"""

import gc
import importlib
import sys
import threading
import tracemalloc
import unittest
import weakref

import versioned_import as vi
from tests.support import Sandbox
from versioned_import._continuity.transplant import TRANSPLANT
from versioned_import._core import state as _registry

LOG = "tx_log"


def collect():
    """Collect until nothing more is freed.

    An old function's ``__code__`` is a forwarder that refers to its lineage,
    and code objects are invisible to the cycle collector: a chain of dead
    generations is released one link per pass, so one ``gc.collect()`` is not
    enough to see everything go.
    """
    for _ in range(20):
        if gc.collect() == 0:
            return


class TransactionSandbox(Sandbox):
    rollback_depth = None

    def setUp(self):
        super().setUp()
        self.write(f"{LOG}.py", "EVENTS = []\nACTIVE = []\nOVERLAPS = []\n\nclass Sentinel:\n    pass\n")
        options = {"exclude": [LOG]}
        if self.rollback_depth is not None:
            options["rollback_depth"] = self.rollback_depth
        self.install(**options)
        self.log = importlib.import_module(LOG)
        self.assertRaises(vi.NotVersionedError, vi.generation, LOG)

    def fast_switching(self):
        """Make the interpreter switch threads often, so reads interleave with publishes."""
        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)
        self.addCleanup(sys.setswitchinterval, previous)

# -- G5 atomic publish -----------------------------------------------------------------

def atomic_source(v, broken=None):
    text = f"""\
VERSION = {v}
A = ("A", {v})
B = ("B", {v})

def get():
    return (VERSION, A, B)

def snapshot():
    return (A, B)
"""
    if broken == "raise":
        text += "raise RuntimeError('refused at import')\n"
    elif broken == "syntax":
        text += "def oops(:\n"
    return text


class AtomicPublishTest(TransactionSandbox):
    RELOADS = 200
    READERS = 3

    def test_readers_never_see_a_mix_or_a_missing_name(self):
        self.fast_switching()
        self.write("tx_atomic.py", atomic_source(1))
        m = importlib.import_module("tx_atomic")
        from tx_atomic import get as held_get  # a function object from generation 1
        allowed = {1}
        errors = []
        seen = set()
        reads = [0] * self.READERS

        def check(kind, triple):
            version, a, b = triple
            if not (a == ("A", version) and b == ("B", version)):
                errors.append((kind, "mixed", triple))
            elif version not in allowed:
                errors.append((kind, "unpublished", triple))
            else:
                seen.add(version)

        def reader(index):
            def run(barrier, stop):
                barrier.wait()
                while not stop.is_set():
                    try:
                        check("m.get()", m.get())
                        check("held get()", held_get())
                        a, b = m.snapshot()
                        check("m.snapshot()", (a[1], a, b))
                        a = m.A
                        b = m.B
                        if a[1] not in allowed or b[1] not in allowed:
                            errors.append(("direct", "unpublished", a, b))
                        with vi.pinned():
                            check("pinned reads", (m.VERSION, m.A, m.B))
                        namespace = vars(m)
                        check("vars(m)", (namespace["VERSION"], namespace["A"], namespace["B"]))
                    except Exception as exc:  # the failure we look for: AttributeError and friends
                        errors.append(("exception", repr(exc)))
                    reads[index] += 1
            return run

        refused = []

        def main(stop):
            for v in range(2, self.RELOADS + 2):
                if v % 40 == 0:
                    # A refused reload publishes nothing: its values must never be seen.
                    self.write("tx_atomic.py", atomic_source(-v, broken="raise" if v % 80 else "syntax"))
                    try:
                        vi.reload("tx_atomic")
                    except vi.ReloadError as exc:
                        refused.append(exc)
                self.write("tx_atomic.py", atomic_source(v))
                allowed.add(v)
                vi.reload("tx_atomic")

        self.run_threads([reader(i) for i in range(self.READERS)], main)
        self.assertEqual(errors[:5], [], f"{len(errors)} bad reads")
        self.assertEqual(len(refused), self.RELOADS // 40)
        self.assertEqual(vi.generation("tx_atomic"), self.RELOADS + 1)
        self.assertEqual(m.get(), (self.RELOADS + 1, ("A", self.RELOADS + 1), ("B", self.RELOADS + 1)))
        self.assertTrue(all(reads), reads)
        self.assertGreater(len(seen), 1, "the readers never observed a publish: the test proved nothing")

    def test_added_and_removed_names_never_break_readers_of_the_others(self):
        self.fast_switching()

        def source(v):
            extra = f"ODD = {v}\n" if v % 2 else f"EVEN = {v}\n"
            return f"KEEP = {v}\n{extra}def keep():\n    return KEEP\n"

        self.write("tx_churn.py", source(1))
        m = importlib.import_module("tx_churn")
        errors = []
        seen = set()

        def reader(barrier, stop):
            barrier.wait()
            while not stop.is_set():
                try:
                    seen.add(m.KEEP)
                    m.keep()
                    odd = getattr(m, "ODD", None)
                    even = getattr(m, "EVEN", None)
                    if (odd is not None and odd % 2 == 0) or (even is not None and even % 2 == 1):
                        errors.append(("wrong parity", odd, even))
                    with vi.pinned():
                        keep = m.KEEP
                        names = (hasattr(m, "ODD"), hasattr(m, "EVEN"))
                        if names != (keep % 2 == 1, keep % 2 == 0):
                            # G3 + G5: a removed name is gone exactly when the new generation is current.
                            errors.append(("names of another generation", keep, names))
                except Exception as exc:
                    errors.append(("exception", repr(exc)))

        def main(stop):
            for v in range(2, 202):
                self.write("tx_churn.py", source(v))
                vi.reload("tx_churn")

        self.run_threads([reader, reader, reader], main)
        self.assertEqual(errors[:5], [], f"{len(errors)} bad reads")
        self.assertEqual(m.KEEP, 201)
        self.assertEqual(m.ODD, 201)
        self.assertFalse(hasattr(m, "EVEN"))
        self.assertGreater(len(seen), 1)

    def test_modules_published_together_switch_together(self):
        self.fast_switching()
        self.write("tx_pa.py", "VERSION = 1\n")
        self.write("tx_pb.py", "import tx_pa\nVERSION = 1\nPA = tx_pa.VERSION\n")
        pb = importlib.import_module("tx_pb")
        pa = sys.modules["tx_pa"]
        errors = []
        seen = set()

        def reader(barrier, stop):
            barrier.wait()
            while not stop.is_set():
                try:
                    namespace = vars(pb)  # one read: a whole generation
                    if namespace["PA"] != namespace["VERSION"]:
                        errors.append(("pb mixed", namespace["PA"], namespace["VERSION"]))
                    with vi.pinned():
                        both = (pa.VERSION, pb.VERSION, pb.PA)
                    if len(set(both)) != 1:
                        errors.append(("pinned pair mixed", both))
                    seen.add(both[0])
                except Exception as exc:
                    errors.append(("exception", repr(exc)))

        def main(stop):
            for v in range(2, 102):
                self.write("tx_pa.py", f"VERSION = {v}\n")
                self.write("tx_pb.py", f"import tx_pa\nVERSION = {v}\nPA = tx_pa.VERSION\n")
                self.assertEqual(vi.reload("tx_pa").reloaded, ("tx_pa", "tx_pb"))

        self.run_threads([reader, reader], main)
        self.assertEqual(errors[:5], [], f"{len(errors)} bad reads")
        self.assertEqual((pa.VERSION, pb.VERSION), (101, 101))
        self.assertGreater(len(seen), 1)


# -- G9 rollback -----------------------------------------------------------------------

def rollback_source(v):
    return f"""\
import {LOG}
{LOG}.EVENTS.append(("tx_rb", {v}))
VERSION = {v}

def f():
    return "f{v}"

class C:
    def who(self):
        return "C{v}"
"""


class RollbackTest(TransactionSandbox):
    def test_rollback_republishes_the_previous_generation_under_a_new_number(self):
        self.write("tx_rb.py", rollback_source(1))
        m = importlib.import_module("tx_rb")
        from tx_rb import f  # a function object held across reload and rollback
        instance = m.C()
        self.write("tx_rb.py", rollback_source(2))
        self.assertEqual(vi.reload("tx_rb").generations, {"tx_rb": 2})
        self.assertEqual((m.VERSION, f(), instance.who()), (2, "f2", "C2"))
        runs = len(self.log.EVENTS)

        self.assertEqual(vi.rollback("tx_rb"), 3)
        self.assertEqual(vi.generation("tx_rb"), 3)
        self.assertEqual(len(self.log.EVENTS), runs, "rollback ran module code")
        self.assertEqual((m.VERSION, m.f(), f(), instance.who(), m.C().who()), (1, "f1", "f1", "C1", "C1"))
        self.assertIsInstance(instance, m.C)
        self.assertIs(sys.modules["tx_rb"], m)

        # The rolled-back generation is a generation like any other: a reload moves on from it.
        self.write("tx_rb.py", rollback_source(4))
        self.assertEqual(vi.reload("tx_rb").generations, {"tx_rb": 4})
        self.assertEqual((f(), instance.who()), ("f4", "C4"))

    def test_rollback_is_announced_to_subscribers(self):
        self.write("tx_rb.py", rollback_source(1))
        importlib.import_module("tx_rb")
        vi.reload("tx_rb")
        reports = []
        vi.on_reload(reports.append)
        vi.rollback("tx_rb")
        self.assertEqual([r.generations for r in reports], [{"tx_rb": 3}])

    def test_rollback_without_a_previous_generation_is_refused(self):
        self.write("tx_rb.py", rollback_source(1))
        m = importlib.import_module("tx_rb")
        with self.assertRaises(vi.ReloadError) as caught:
            vi.rollback("tx_rb")
        message = str(caught.exception)
        self.assertIn("rollback", message)
        self.assertIn("tx_rb", message)
        self.assertEqual(caught.exception.module, "tx_rb")
        self.assertEqual((vi.generation("tx_rb"), m.VERSION, m.f()), (1, 1, "f1"))

    def test_default_depth_keeps_one_previous_generation(self):
        self.write("tx_rb.py", rollback_source(1))
        m = importlib.import_module("tx_rb")
        for v in (2, 3):
            self.write("tx_rb.py", rollback_source(v))
            vi.reload("tx_rb")
        self.assertEqual(vi.rollback("tx_rb"), 4)
        self.assertEqual(m.VERSION, 2)
        with self.assertRaisesRegex(vi.ReloadError, "rollback"):
            vi.rollback("tx_rb")
        self.assertEqual((vi.generation("tx_rb"), m.VERSION), (4, 2))

    def test_refused_reload_leaves_the_rollback_target_alone(self):
        self.write("tx_rb.py", rollback_source(1))
        m = importlib.import_module("tx_rb")
        self.write("tx_rb.py", rollback_source(2))
        vi.reload("tx_rb")
        self.write("tx_rb.py", "VERSION = (\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("tx_rb")
        self.assertEqual(vi.rollback("tx_rb"), 3)
        self.assertEqual(m.VERSION, 1)

    def test_rollback_of_an_unversioned_module_is_refused(self):
        with self.assertRaises(vi.NotVersionedError):
            vi.rollback("json")


class RollbackDepthTest(TransactionSandbox):
    rollback_depth = 2

    def test_depth_two_allows_two_rollbacks_in_a_row(self):
        self.write("tx_rb.py", rollback_source(1))
        m = importlib.import_module("tx_rb")
        from tx_rb import f
        instance = m.C()
        for v in (2, 3):
            self.write("tx_rb.py", rollback_source(v))
            vi.reload("tx_rb")
        runs = len(self.log.EVENTS)
        self.assertEqual(vi.rollback("tx_rb"), 4)
        self.assertEqual((m.VERSION, f(), instance.who()), (2, "f2", "C2"))
        self.assertEqual(vi.rollback("tx_rb"), 5)
        self.assertEqual((m.VERSION, f(), instance.who()), (1, "f1", "C1"))
        self.assertEqual(len(self.log.EVENTS), runs)
        with self.assertRaisesRegex(vi.ReloadError, "rollback"):
            vi.rollback("tx_rb")
        self.assertEqual(vi.generation("tx_rb"), 5)


# -- G10 no leaks ----------------------------------------------------------------------

SENTINEL_SOURCE = f"""\
import {LOG}
{LOG}.EVENTS.append(__name__)

class Sentinel:
    def name(self):
        return __name__

SENTINEL = Sentinel()
PAYLOAD = list(range(100))

def get():
    return SENTINEL
"""

# Memory per reload must not grow with the number of functions either. The sentinel's class comes
# from the unversioned log module here: class continuity scans the heap on every reload, which would
# make a thousand reloads slow (classes are covered by the shorter history tests).
WIDE_SOURCE = f"""\
from {LOG} import Sentinel
SENTINEL = Sentinel()
PAYLOAD = list(range(100))

def get():
    return SENTINEL
""" + "".join(f"""
def helper_{i}(x):
    return x + {i}
""" for i in range(12))


class NoLeaksTest(TransactionSandbox):
    def import_and_watch(self, *names, reloads=1):
        """Import ``names``, reload them; return weak references to every generation's sentinel and proxy.

        Runs in its own frame so that no strong reference survives in the test's locals.
        """
        refs = []
        for name in names:
            module = importlib.import_module(name)
            refs += [weakref.ref(module), weakref.ref(module.SENTINEL)]
        for _ in range(reloads):
            vi.reload(*names)
            refs += [weakref.ref(sys.modules[name].SENTINEL) for name in names]
        return refs

    def test_unload_forgets_a_package_and_its_submodules(self):
        self.write("tx_upkg/__init__.py", SENTINEL_SOURCE + "from . import sub\n")
        self.write("tx_upkg/sub.py", SENTINEL_SOURCE)
        refs = self.import_and_watch("tx_upkg", "tx_upkg.sub")
        self.assertEqual(vi.generation("tx_upkg"), 2)
        self.assertTrue(all(r() is not None for r in refs))

        vi.unload("tx_upkg")
        self.assertNotIn("tx_upkg", sys.modules)
        self.assertNotIn("tx_upkg.sub", sys.modules)
        for name in ("tx_upkg", "tx_upkg.sub"):
            self.assertRaises(vi.NotVersionedError, vi.generation, name)
        collect()
        self.assertEqual([r for r in refs if r() is not None], [], "unloaded objects are still reachable")

        # A fresh import starts again at generation 1, with a new proxy, running the module code again.
        runs = list(self.log.EVENTS)
        pkg = importlib.import_module("tx_upkg")
        self.assertEqual((vi.generation("tx_upkg"), vi.generation("tx_upkg.sub")), (1, 1))
        self.assertEqual(self.log.EVENTS[len(runs):], ["tx_upkg", "tx_upkg.sub"])
        self.assertEqual(pkg.sub.SENTINEL.name(), "tx_upkg.sub")

    def test_unload_of_a_submodule_removes_the_parents_attribute(self):
        self.write("tx_upkg2/__init__.py", "")
        self.write("tx_upkg2/sub.py", SENTINEL_SOURCE)
        refs = self.import_and_watch("tx_upkg2.sub")
        pkg = sys.modules["tx_upkg2"]
        self.assertTrue(hasattr(pkg, "sub"))
        vi.unload("tx_upkg2.sub")
        self.assertNotIn("tx_upkg2.sub", sys.modules)
        self.assertFalse(hasattr(pkg, "sub"))
        self.assertIs(sys.modules["tx_upkg2"], pkg)
        self.assertEqual(vi.generation("tx_upkg2"), 1)
        collect()
        self.assertEqual([r for r in refs if r() is not None], [])
        sub = importlib.import_module("tx_upkg2.sub")
        self.assertIs(pkg.sub, sub)
        self.assertEqual(vi.generation(sub), 1)

    def test_unload_while_a_dependent_holds_it(self):
        self.write("tx_used.py", SENTINEL_SOURCE)
        self.write("tx_user.py", "import tx_used\n")
        importlib.import_module("tx_user")
        old = weakref.ref(sys.modules["tx_used"])
        vi.unload("tx_used")
        self.assertNotIn("tx_used", sys.modules)
        # The dependent still holds what it imported; reloading it imports a fresh tx_used.
        vi.reload("tx_user")
        self.assertIsNot(sys.modules["tx_user"].tx_used, old())
        self.assertEqual(vi.generation("tx_used"), 1)

    def test_memory_stays_flat_over_a_thousand_reloads(self):
        growth = self.check_flat(1, "tx_mem", 1000, measure=True, source=WIDE_SOURCE)
        # 900 weak references in the test's own list account for ~75 KB of this.
        self.assertLess(growth, 1_000_000, f"{growth} bytes kept over 900 reloads")

    def test_deeper_history_keeps_exactly_its_depth(self):
        self.check_flat(3, "tx_mem_deep", 200)

    def test_depth_zero_keeps_no_history(self):
        self.check_flat(0, "tx_mem_none", 200)
        self.assertRaisesRegex(vi.ReloadError, "rollback", vi.rollback, "tx_mem_none")

    def check_flat(self, depth, name, reloads, measure=False, source=SENTINEL_SOURCE):
        """Reload ``name`` ``reloads`` times; check which generations' sentinels survive; return the memory growth."""
        vi.uninstall()  # a second install() keeps the deepest history asked for; a new one sets it
        vi.install(roots=[self.root], exclude=[LOG], rollback_depth=depth)
        self.write(f"{name}.py", source)
        module = importlib.import_module(name)
        held = module.get  # a continued function: forwarders must not chain up old generations
        refs = [weakref.ref(module.SENTINEL)]
        growth = None
        self.addCleanup(tracemalloc.stop)
        for count in range(1, reloads + 1):
            vi.reload(name)
            refs.append(weakref.ref(module.SENTINEL))
            if measure and count == 100:
                # From here on, every block allocated and still alive at the end is growth.
                collect()
                tracemalloc.start()
        collect()
        if measure:
            growth = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        self.assertIs(held(), module.SENTINEL)
        self.assertEqual(vi.generation(name), reloads + 1)
        alive = [i for i, r in enumerate(refs) if r() is not None]
        # Where old functions forward (portable mode), generation 1 stays alive because *we* hold
        # ``held``, whose __globals__ is its namespace; where they take the newest definition in place,
        # it goes too. Beyond it: the current generation plus the rollback history, nothing more. The
        # module uses no typing constructs, so typing's caches (which can keep old namespaces alive)
        # need no slack.
        if not TRANSPLANT:
            self.assertEqual(alive[0], 0)
            alive = alive[1:]
        self.assertEqual(alive, list(range(reloads - depth, reloads + 1)))
        return growth


# -- G12 thread safety -----------------------------------------------------------------

def counted_source(name, work=20000):
    return f"""\
import {LOG}
{LOG}.ACTIVE.append(__name__)
if len({LOG}.ACTIVE) != 1:
    {LOG}.OVERLAPS.append(list({LOG}.ACTIVE))
{LOG}.EVENTS.append(__name__)
TOTAL = sum(range({work}))
{LOG}.ACTIVE.pop()
"""


class ThreadSafetyTest(TransactionSandbox):
    def test_concurrent_first_imports_give_one_proxy_and_run_the_body_once(self):
        self.fast_switching()
        for round_ in range(5):
            name = f"tx_conc{round_}"
            self.write(f"{name}.py", counted_source(name))
            got = []

            def importer(barrier, stop, name=name):
                barrier.wait()
                got.append(importlib.import_module(name))

            def from_importer(barrier, stop, name=name):
                barrier.wait()
                namespace = {}
                exec(f"from {name} import TOTAL\nimport {name} as module", namespace)
                got.append(namespace["module"])
                if namespace["TOTAL"] != sum(range(20000)):
                    got.append("half-initialised module seen")

            self.run_threads([importer] * 4 + [from_importer] * 4)
            self.assertEqual(len(got), 8)
            self.assertEqual({id(m) for m in got}, {id(sys.modules[name])})
            self.assertEqual(self.log.EVENTS.count(name), 1)
            self.assertEqual(vi.generation(name), 1)
        self.assertEqual(self.log.OVERLAPS, [])

    def test_concurrent_reloads_are_serialised(self):
        self.fast_switching()
        self.write("tx_serial.py", counted_source("tx_serial", work=5000))
        self.write("tx_serial_user.py", "import tx_serial\nTOTAL = tx_serial.TOTAL\n")
        importlib.import_module("tx_serial_user")
        threads, per_thread = 4, 15
        reports = []
        errors = []

        def reloader(barrier, stop):
            barrier.wait()
            for _ in range(per_thread):
                try:
                    reports.append(vi.reload("tx_serial"))
                except Exception as exc:
                    errors.append(repr(exc))

        self.run_threads([reloader] * threads)
        total = threads * per_thread
        self.assertEqual(errors, [])
        self.assertEqual(self.log.OVERLAPS, [], "module bodies ran concurrently")
        numbers = sorted(r.generations["tx_serial"] for r in reports)
        self.assertEqual(numbers, list(range(2, total + 2)))
        self.assertEqual(sorted(r.generations["tx_serial_user"] for r in reports), list(range(2, total + 2)))
        self.assertEqual(vi.generation("tx_serial"), total + 1)
        self.assertEqual(self.log.EVENTS.count("tx_serial"), total + 1)

    def run_bounded(self, function):
        """Call ``function`` on another thread; fail (instead of hanging) if it never returns."""
        outcome = []

        def run():
            try:
                outcome.append(("returned", function()))
            except BaseException as exc:
                outcome.append(("raised", exc))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(60)
        self.assertFalse(thread.is_alive(), "deadlock: the call never returned")
        return outcome[0]

    def test_module_reloading_itself_during_its_reload_does_not_deadlock(self):
        body = f"""\
import versioned_import
import {LOG}
VERSION = {{v}}
if VERSION > 1:
    try:
        versioned_import.{{call}}(__name__)
    except versioned_import.ReloadError as exc:
        {LOG}.EVENTS.append(("refused", {{call!r}}, exc.module))
    else:
        {LOG}.EVENTS.append(("ran", {{call!r}}))
"""
        self.write("tx_self.py", body.format(v=1, call="reload"))
        m = importlib.import_module("tx_self")
        for v, call in ((2, "reload"), (3, "rollback"), (4, "unload")):
            with self.subTest(call=call):
                self.write("tx_self.py", body.format(v=v, call=call))
                before = len(self.log.EVENTS)
                kind, value = self.run_bounded(lambda: vi.reload("tx_self"))
                self.assertEqual(kind, "returned", value)
                self.assertEqual(value.reloaded, ("tx_self",))
                self.assertEqual((vi.generation("tx_self"), m.VERSION), (v, v))
                self.assertIs(sys.modules["tx_self"], m)
                self.assertEqual(self.log.EVENTS[before:], [("refused", call, "tx_self")])

        # Uncaught, the inner refusal refuses the outer reload: reported, nothing changed.
        self.write("tx_self.py", "import versioned_import\nVERSION = 9\nversioned_import.reload(__name__)\n")
        kind, value = self.run_bounded(lambda: vi.reload("tx_self"))
        self.assertEqual(kind, "raised")
        self.assertIsInstance(value, vi.ReloadError)
        self.assertIsInstance(value.__cause__, vi.ReloadError)
        self.assertEqual((vi.generation("tx_self"), m.VERSION), (4, 4))

    def race_source(self, v):
        return f"class Sentinel:\n    pass\nSENTINEL = Sentinel()\nVERSION = {v}\nPAIR = ({v}, {v})\n" \
               "def get():\n    return (VERSION, PAIR)\n"

    def test_reload_racing_rollback_and_unload_leaves_no_torn_state(self):
        self.fast_switching()
        name = "tx_race"
        for round_ in range(12):
            with self.subTest(round=round_):
                self.write(f"{name}.py", self.race_source(round_ * 100))
                module = importlib.import_module(name)
                vi.reload(name)
                sentinels = [weakref.ref(module.SENTINEL)]
                numbers, problems = [], []
                reloaded_some = threading.Event()

                def reloader(barrier, stop):
                    barrier.wait()
                    for i in range(8):
                        try:
                            report = vi.reload(name)
                        except vi.NotVersionedError:
                            continue
                        # (An empty report after the unload won is covered by the test below.)
                        numbers.extend(report.generations.values())
                        sentinels.append(weakref.ref(module.SENTINEL))
                        if i == round_ % 4:
                            reloaded_some.set()
                    reloaded_some.set()

                def rollbacker(barrier, stop):
                    barrier.wait()
                    for _ in range(8):
                        try:
                            numbers.append(vi.rollback(name))
                        except vi.ReloadError:
                            pass

                def unloader(barrier, stop):
                    barrier.wait()
                    reloaded_some.wait()
                    try:
                        vi.unload(name)
                    except vi.ReloadError as exc:
                        problems.append(("unload refused while the module was loaded", exc))

                def reader(barrier, stop):
                    barrier.wait()
                    while not stop.is_set():
                        version, pair = module.get()
                        if pair != (version, version) or module.PAIR[0] != module.PAIR[1]:
                            problems.append(("torn read", version, pair))

                targets = [reloader, rollbacker, reader] + ([unloader] if round_ % 3 else [])
                self.run_threads(targets)
                self.assertEqual(problems, [])
                self.assertEqual(len(numbers), len(set(numbers)), "two publishes got the same generation")
                if round_ % 3:
                    self.assertNotIn(name, sys.modules)
                    self.assertRaises(vi.NotVersionedError, vi.generation, name)
                    self.assertNotIn(name, _registry.state.records)
                    del module
                    collect()
                    self.assertEqual([r for r in sentinels if r() is not None], [],
                                     "an unloaded module's generations are still reachable")
                    fresh = importlib.import_module(name)
                    self.assertEqual(vi.generation(name), 1)
                    self.assertEqual(fresh.get(), (round_ * 100, (round_ * 100,) * 2))
                else:
                    self.assertIs(sys.modules[name], module)
                    self.assertEqual(vi.generation(name), max(numbers))
                    version, pair = module.get()
                    self.assertEqual(pair, (version, version))
                vi.unload(name)

    def test_module_stays_resolvable_while_other_threads_reload_and_roll_back(self):
        # Between two publishes a module is always at *some* generation: another thread asking
        # for it (generation, reload, unload all resolve the name first) must never be told
        # that it is not a versioned module.
        self.fast_switching()
        self.write("tx_resolve.py", self.race_source(1))
        importlib.import_module("tx_resolve")
        problems = []
        asked = [0]

        def asker(barrier, stop):
            barrier.wait()
            last = 0
            while not stop.is_set():
                try:
                    number = vi.generation("tx_resolve")
                except vi.ReloadError as exc:
                    problems.append(repr(exc))
                    continue
                if number < last:
                    problems.append(f"generation went back from {last} to {number}")
                last = number
                asked[0] += 1

        def main(stop):
            for _ in range(250):
                vi.reload("tx_resolve")
                vi.rollback("tx_resolve")

        self.run_threads([asker] * 3, main)
        self.assertEqual(problems[:3], [], f"{len(problems)} failed lookups out of {asked[0] + len(problems)}")
        self.assertEqual(vi.generation("tx_resolve"), 501)

    def test_reload_requested_before_an_unload_and_run_after_it_is_refused(self):
        # A reload that resolved its module, then waited while an unload ran, must not report success.
        self.write("tx_ghost.py", self.race_source(1))
        module = importlib.import_module("tx_ghost")
        sentinel = weakref.ref(module.SENTINEL)
        lock = _registry.state.reload_lock  # the lock that serialises transactions (reload, rollback, unload)
        outcome = []

        def reload_later():
            try:
                outcome.append(vi.reload("tx_ghost"))
            except vi.ReloadError as exc:
                outcome.append(exc)

        with lock:  # hold the transaction lock so the reload must wait behind the unload
            thread = threading.Thread(target=reload_later, daemon=True)
            thread.start()
            for _ in range(10_000_000):  # spin on a condition, never on a clock
                if _waiting_in(thread, "acquire"):
                    break
            else:
                self.fail("the reload never reached the transaction lock")
            vi.unload("tx_ghost")
        thread.join(60)
        self.assertEqual(len(outcome), 1)
        self.assertIsInstance(outcome[0], vi.NotVersionedError,
                              f"a reload of an unloaded module returned {outcome[0]!r}")
        self.assertNotIn("tx_ghost", sys.modules)
        del module
        outcome.clear()  # the refusal's traceback holds the reload's frames (our reference, not the library's)
        collect()
        self.assertIsNone(sentinel())


def _waiting_in(thread, function_name):
    """Whether ``thread`` is currently inside a frame of ``function_name`` (a condition, not a clock)."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == function_name:
            return True
        frame = frame.f_back
    return not thread.is_alive()


if __name__ == "__main__":
    unittest.main()
