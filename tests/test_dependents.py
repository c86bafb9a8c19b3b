"""G6 Dependents: who imported whom is recorded for every kind of import, and reloads follow it.

Each test writes real modules, imports them through the finder, edits the
imported module and checks that ``vi.reload`` re-executed exactly the modules
that imported it, in dependency order, so that values computed from the
imported module at import time follow the edit.
"""

import importlib
import sys
import unittest

import versioned_import as vi
from tests.support import Sandbox


class DependentsTest(Sandbox):
    def setUp(self):
        super().setUp()
        self.install()

    def write_a(self, x):
        self.write("dep_a.py", f"X = {x}\n")

    def assert_follows(self, importer, value_of_y=lambda x: x + 1):
        """Import ``importer`` (which uses dep_a.X), edit dep_a, reload it; the importer must follow."""
        module = importlib.import_module(importer)
        self.assertEqual(module.Y, value_of_y(1))
        self.write_a(10)
        report = vi.reload("dep_a")
        self.assertEqual(report.reloaded, ("dep_a", importer))
        self.assertEqual(report.generations, {"dep_a": 2, importer: 2})
        self.assertEqual(vi.generation(importer), 2)
        self.assertIs(sys.modules[importer], module)
        self.assertEqual(module.Y, value_of_y(10))
        return module

    def test_plain_import(self):
        self.write_a(1)
        self.write("dep_plain.py", "import dep_a\nY = dep_a.X + 1\n")
        self.assert_follows("dep_plain")

    def test_from_import(self):
        self.write_a(1)
        self.write("dep_from.py", "from dep_a import X\nY = X + 1\n")
        self.assert_follows("dep_from")

    def test_from_import_of_a_module_already_imported_elsewhere(self):
        # The importer finds dep_a in sys.modules (no finder call): the edge must still be recorded.
        self.write_a(1)
        importlib.import_module("dep_a")
        self.write("dep_later.py", "from dep_a import X\nY = X + 1\n")
        self.assert_follows("dep_later")

    def test_import_module_call(self):
        self.write_a(1)
        self.write("dep_call.py", "import importlib\nY = importlib.import_module('dep_a').X + 1\n")
        self.assert_follows("dep_call")

    def test_import_module_call_of_a_module_already_imported(self):
        self.write_a(1)
        importlib.import_module("dep_a")
        self.write("dep_call2.py", "import importlib\nY = importlib.import_module('dep_a').X + 1\n")
        self.assert_follows("dep_call2")

    def test_import_inside_a_function_run_during_import(self):
        self.write_a(1)
        self.write("dep_func.py", """\
            def load():
                import dep_a
                return dep_a.X

            Y = load() + 1
            """)
        self.assert_follows("dep_func")

    def test_from_import_inside_a_function_of_an_already_imported_module(self):
        self.write_a(1)
        importlib.import_module("dep_a")
        self.write("dep_func2.py", """\
            def load():
                from dep_a import X
                return X

            Y = load() + 1
            """)
        self.assert_follows("dep_func2")

    def test_relative_imports_inside_a_package(self):
        self.write("dep_pkg/__init__.py", "")
        self.write("dep_pkg/sib.py", "X = 1\n")
        self.write("dep_pkg/mod_from_dot.py", "from . import sib\nY = sib.X + 1\n")
        self.write("dep_pkg/mod_from_sib.py", "from .sib import X\nY = X + 2\n")
        importlib.import_module("dep_pkg.sib")  # already loaded: `from . import sib` only reads an attribute
        dot = importlib.import_module("dep_pkg.mod_from_dot")
        from_sib = importlib.import_module("dep_pkg.mod_from_sib")
        self.assertEqual((dot.Y, from_sib.Y), (2, 3))
        self.write("dep_pkg/sib.py", "X = 10\n")
        report = vi.reload("dep_pkg.sib")
        self.assertEqual(report.reloaded[0], "dep_pkg.sib")
        self.assertEqual(set(report.reloaded), {"dep_pkg.sib", "dep_pkg.mod_from_dot", "dep_pkg.mod_from_sib"})
        self.assertEqual((dot.Y, from_sib.Y), (11, 12))
        self.assertEqual(vi.generation("dep_pkg.mod_from_dot"), 2)
        self.assertEqual(vi.generation("dep_pkg.mod_from_sib"), 2)
        self.assertEqual(vi.generation("dep_pkg"), 1)

    def test_relative_import_that_triggers_the_first_import(self):
        self.write("dep_pkg2/__init__.py", "")
        self.write("dep_pkg2/sib.py", "X = 1\n")
        self.write("dep_pkg2/user.py", "from . import sib\nY = sib.X + 1\n")
        user = importlib.import_module("dep_pkg2.user")
        self.write("dep_pkg2/sib.py", "X = 5\n")
        report = vi.reload("dep_pkg2.sib")
        self.assertEqual(report.reloaded, ("dep_pkg2.sib", "dep_pkg2.user"))
        self.assertEqual(user.Y, 6)

    def test_transitive_dependents_run_in_dependency_order(self):
        self.write("dep_t_a.py", "X = 1\n")
        self.write("dep_t_b.py", "import dep_t_a\nX = dep_t_a.X * 10\n")
        self.write("dep_t_c.py", "from dep_t_b import X as B\nX = B * 10\n")
        c = importlib.import_module("dep_t_c")
        self.assertEqual(c.X, 100)
        self.write("dep_t_a.py", "X = 2\n")
        report = vi.reload("dep_t_a")
        self.assertEqual(report.reloaded, ("dep_t_a", "dep_t_b", "dep_t_c"))
        self.assertEqual(report.generations, {"dep_t_a": 2, "dep_t_b": 2, "dep_t_c": 2})
        self.assertEqual(c.X, 200)
        # Reloading the middle one re-executes only what depends on it.
        report = vi.reload("dep_t_b")
        self.assertEqual(report.reloaded, ("dep_t_b", "dep_t_c"))
        self.assertEqual(vi.generation("dep_t_a"), 2)

    def test_diamond_runs_each_dependent_once_after_all_it_imports(self):
        self.write("dep_d_base.py", "X = 1\n")
        self.write("dep_d_left.py", "from dep_d_base import X\nL = X + 1\n")
        self.write("dep_d_right.py", "from dep_d_base import X\nR = X + 2\n")
        self.write("dep_d_top.py", "import dep_d_right\nimport dep_d_left\nT = (dep_d_left.L, dep_d_right.R)\n")
        top = importlib.import_module("dep_d_top")
        self.assertEqual(top.T, (2, 3))
        self.write("dep_d_base.py", "X = 10\n")
        report = vi.reload("dep_d_base")
        self.assertEqual(sorted(report.reloaded), sorted(["dep_d_base", "dep_d_left", "dep_d_right", "dep_d_top"]))
        self.assertEqual(len(report.reloaded), 4)
        self.assertEqual(report.reloaded[0], "dep_d_base")
        self.assertEqual(report.reloaded[-1], "dep_d_top")
        self.assertEqual(top.T, (11, 12))

    def test_dependents_false_runs_only_the_named_module(self):
        self.write_a(1)
        self.write("dep_only.py", "from dep_a import X\nY = X + 1\n")
        only = importlib.import_module("dep_only")
        self.write_a(7)
        report = vi.reload("dep_a", dependents=False)
        self.assertEqual(report.reloaded, ("dep_a",))
        self.assertEqual(report.generations, {"dep_a": 2})
        self.assertEqual(vi.generation("dep_only"), 1)
        self.assertEqual(only.Y, 2)
        self.assertEqual(sys.modules["dep_a"].X, 7)
        # The edge is still known: a later default reload follows it.
        self.assertEqual(vi.reload("dep_a").reloaded, ("dep_a", "dep_only"))
        self.assertEqual(only.Y, 8)

    def test_a_module_that_stops_importing_is_no_longer_a_dependent(self):
        self.write_a(1)
        self.write("dep_quit.py", "import dep_a\nY = dep_a.X + 1\n")
        quit_ = importlib.import_module("dep_quit")
        self.assertEqual(vi.reload("dep_a").reloaded, ("dep_a", "dep_quit"))
        self.write("dep_quit.py", "Y = 0\n")
        self.assertEqual(vi.reload("dep_quit").reloaded, ("dep_quit",))
        self.assertEqual(vi.generation("dep_quit"), 3)
        report = vi.reload("dep_a")
        self.assertEqual(report.reloaded, ("dep_a",))
        self.assertEqual(vi.generation("dep_quit"), 3)
        self.assertEqual(quit_.Y, 0)

    def test_a_module_that_starts_importing_becomes_a_dependent(self):
        self.write_a(1)
        importlib.import_module("dep_a")
        self.write("dep_start.py", "Y = 0\n")
        start = importlib.import_module("dep_start")
        self.assertEqual(vi.reload("dep_a").reloaded, ("dep_a",))
        self.write("dep_start.py", "from dep_a import X\nY = X + 1\n")
        vi.reload("dep_start")
        self.write_a(3)
        self.assertEqual(vi.reload("dep_a").reloaded, ("dep_a", "dep_start"))
        self.assertEqual(start.Y, 4)

    def test_refused_dependent_refuses_the_whole_reload(self):
        self.write_a(1)
        self.write("dep_strict.py", "from dep_a import X\nassert X < 5, 'X too big'\nY = X + 1\n")
        strict = importlib.import_module("dep_strict")
        self.write_a(9)
        with self.assertRaises(vi.ReloadError) as caught:
            vi.reload("dep_a")
        self.assertEqual(caught.exception.module, "dep_strict")
        self.assertIsInstance(caught.exception.__cause__, AssertionError)
        self.assertEqual(sys.modules["dep_a"].X, 1)
        self.assertEqual((vi.generation("dep_a"), vi.generation("dep_strict"), strict.Y), (1, 1, 2))


class CycleTest(Sandbox):
    """An import cycle re-executes as a group, with a first import's partially-initialised semantics."""

    GOOD = ("X = {x}\nimport {b}\ndef total():\n    return X + {b}.Z\n",
            "from {a} import X\nZ = X + 1\n")
    # b uses a name that a defines only after importing b: a first import fails.
    BAD = ("import {b}\nX = {x}\ndef total():\n    return X + {b}.Z\n",
           "from {a} import X\nZ = X + 1\n")

    def setUp(self):
        super().setUp()
        self.install()

    def write_cycle(self, shape, a, b, x):
        self.write(f"{a}.py", shape[0].format(a=a, b=b, x=x))
        self.write(f"{b}.py", shape[1].format(a=a, b=b, x=x))

    def fresh_outcome(self, shape, a, b):
        """What a first import of the same cycle does: None, or the exception it raises."""
        self.write_cycle(shape, a, b, 1)
        try:
            importlib.import_module(a)
        except Exception as exc:  # the outcome is what we compare
            return exc
        return None

    def reload_outcome(self, shape, a, b):
        """Import the working cycle, rewrite it as ``shape``, reload: None, or the refusal's cause."""
        self.write_cycle(self.GOOD, a, b, 1)
        module_a = importlib.import_module(a)
        self.assertEqual(module_a.total(), 3)
        self.write_cycle(shape, a, b, 5)
        try:
            report = vi.reload(a)
        except vi.ReloadError as exc:
            # Nothing changed, and the refusal names the member that failed.
            self.assertEqual((vi.generation(a), vi.generation(b), module_a.total()), (1, 1, 3))
            self.assertEqual(exc.module, b)
            return exc.__cause__
        self.assertEqual(report.reloaded, (a, b))
        self.assertEqual(module_a.total(), 11)
        return None

    def test_working_cycle_reloads_like_a_first_import(self):
        self.assertIsNone(self.fresh_outcome(self.GOOD, "dep_cg_fa", "dep_cg_fb"))
        self.assertIsNone(self.reload_outcome(self.GOOD, "dep_cg_ra", "dep_cg_rb"))

    def test_broken_cycle_is_refused_like_a_first_import_fails(self):
        fresh = self.fresh_outcome(self.BAD, "dep_cb_fa", "dep_cb_fb")
        self.assertIsInstance(fresh, ImportError)
        cause = self.reload_outcome(self.BAD, "dep_cb_ra", "dep_cb_rb")
        self.assertIs(type(cause), type(fresh))
        self.assertEqual(cause.name, "dep_cb_ra")
        self.assertEqual(fresh.name, "dep_cb_fa")

    def test_broken_cycle_error_reads_as_a_first_import_error(self):
        # A first import says "partially initialized module ... (most likely due to a circular import)";
        # a reload of the same cycle executes it "like a first import" (G6), so it must say the same.
        fresh = self.fresh_outcome(self.BAD, "dep_cm_fa", "dep_cm_fb")
        cause = self.reload_outcome(self.BAD, "dep_cm_ra", "dep_cm_rb")
        self.assertEqual(str(cause).replace("dep_cm_r", "dep_cm_"), str(fresh).replace("dep_cm_f", "dep_cm_"))

    def test_cycle_is_reloaded_as_a_group_in_first_import_order(self):
        self.write_cycle(self.GOOD, "dep_cy_a", "dep_cy_b", 1)
        a = importlib.import_module("dep_cy_a")
        b = sys.modules["dep_cy_b"]
        for name in ("dep_cy_b", "dep_cy_a"):  # whichever member is named, the whole cycle runs
            with self.subTest(reloading=name):
                before = (vi.generation("dep_cy_a"), vi.generation("dep_cy_b"))
                report = vi.reload(name)
                self.assertEqual(report.reloaded, ("dep_cy_a", "dep_cy_b"))
                self.assertEqual(report.generations, {"dep_cy_a": before[0] + 1, "dep_cy_b": before[1] + 1})
        self.write_cycle(self.GOOD, "dep_cy_a", "dep_cy_b", 20)
        vi.reload("dep_cy_b")
        self.assertEqual((a.X, b.Z, a.total()), (20, 21, 41))
        self.assertIs(a.dep_cy_b, b)
        self.assertIs(sys.modules["dep_cy_a"], a)

    def test_cycle_entered_from_the_other_member_keeps_that_order(self):
        # b is imported first, so it runs first again; its `from a import X` makes a execute inside it.
        self.write("dep_co_b.py", "import dep_co_a\nZ = dep_co_a.X + 1\n")
        self.write("dep_co_a.py", "X = 1\nimport dep_co_b\n")
        b = importlib.import_module("dep_co_b")
        self.assertEqual(b.Z, 2)
        self.write("dep_co_a.py", "X = 4\nimport dep_co_b\n")
        report = vi.reload("dep_co_a")
        self.assertEqual(report.reloaded, ("dep_co_b", "dep_co_a"))
        self.assertEqual(report.generations, {"dep_co_a": 2, "dep_co_b": 2})
        self.assertEqual(b.Z, 5)

    def test_dependent_of_a_cycle_runs_after_the_whole_cycle(self):
        self.write_cycle(self.GOOD, "dep_cd_a", "dep_cd_b", 1)
        self.write("dep_cd_user.py", "import dep_cd_b, dep_cd_a\nT = dep_cd_a.total()\n")
        user = importlib.import_module("dep_cd_user")
        self.assertEqual(user.T, 3)
        self.write_cycle(self.GOOD, "dep_cd_a", "dep_cd_b", 2)
        report = vi.reload("dep_cd_a")
        # The user imported b first (and b's `from dep_cd_a import X` imported a inside it): b, a, then the user.
        self.assertEqual(report.reloaded, ("dep_cd_b", "dep_cd_a", "dep_cd_user"))
        self.assertEqual(user.T, 5)


if __name__ == "__main__":
    unittest.main()
