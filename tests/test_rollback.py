"""Rollback is the undo of a reload (G9): every module the reload published goes back, together, and stays back.

``rollback(name)`` undoes the last reload that published ``name`` — the
dependents it re-executed included — and the later reloads built on it; the
files rolled back from are held: ``changed()`` and ``reload_changed()`` leave
them alone until they are saved with other bytes, or reloaded by name.
"""

import importlib
import unittest

import versioned_import as vi
from tests.support import Sandbox


class UndoOfAReloadTest(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.reports: list = []
        self.install()
        self.addCleanup(vi.on_reload(self.reports.append))

    def modules(self, *names: str) -> list:
        return [importlib.import_module(name) for name in names]

    def test_the_dependents_a_reload_published_go_back_with_it(self):
        # The case: b did `from a import X; Y = X * 2`, the edit of a published both.
        self.write("rb_a.py", "X = 1\n")
        self.write("rb_b.py", "from rb_a import X\nY = X * 2\n")
        a, b = self.modules("rb_a", "rb_b")
        self.write("rb_a.py", "X = 5\n")
        self.assertEqual(vi.reload("rb_a").reloaded, ("rb_a", "rb_b"))
        self.assertEqual((a.X, b.Y), (5, 10))

        self.assertEqual(vi.rollback("rb_a"), 3)
        self.assertEqual((a.X, b.Y), (1, 2))
        self.assertEqual((vi.generation("rb_a"), vi.generation("rb_b")), (3, 3))
        report = self.reports[-1]
        self.assertEqual((report.action, report.reloaded, report.generations, report.held),
                         ("rollback", ("rb_a", "rb_b"), {"rb_a": 3, "rb_b": 3}, ("rb_a",)))
        # It stays: the file rolled back from is not a change, so nothing re-applies the edit.
        self.assertEqual(vi.changed(), [])
        self.assertEqual(vi.reload_changed().reloaded, ())
        self.write("rb_a.py", "X = 5\n")  # the same bytes written again are still the ones rolled back from
        self.assertEqual(vi.changed(), [])
        self.assertEqual((a.X, b.Y), (1, 2))
        # Asked for by name, the file is taken; and it ends the hold.
        self.assertEqual(vi.reload("rb_a").generations, {"rb_a": 4, "rb_b": 4})
        self.assertEqual((a.X, b.Y), (5, 10))
        self.write("rb_a.py", "X = 6\n")
        self.assertEqual(vi.changed(), ["rb_a"])

    def test_a_new_save_after_a_rollback_is_a_change_as_usual(self):
        self.write("rb_n.py", "X = 1\n")
        (n,) = self.modules("rb_n")
        self.write("rb_n.py", "X = 2\n")
        vi.reload("rb_n")
        vi.rollback("rb_n")
        self.write("rb_n.py", "X = 3\n")
        self.assertEqual(vi.changed(), ["rb_n"])
        self.assertEqual(vi.reload_changed().generations, {"rb_n": 4})
        self.assertEqual(n.X, 3)

    def test_a_later_reload_that_published_one_of_its_modules_again_is_undone_first(self):
        vi.install(roots=[self.root], rollback_depth=2)  # b is published twice: two of its generations to keep
        self.write("rb_c_a.py", "X = 1\n")
        self.write("rb_c_b.py", "from rb_c_a import X\nY = X * 2\nZ = 'b1'\n")
        self.write("rb_c_c.py", "C = 1\n")
        self.write("rb_c_d.py", "from rb_c_c import C\nD = C + 100\n")
        a, b, c, d = self.modules("rb_c_a", "rb_c_b", "rb_c_c", "rb_c_d")
        self.write("rb_c_a.py", "X = 5\n")
        vi.reload("rb_c_a")  # publishes a and b
        self.write("rb_c_b.py", "from rb_c_a import X\nY = X * 2\nZ = 'b2'\n")
        vi.reload("rb_c_b")  # publishes b again: built on the a that goes back
        self.write("rb_c_c.py", "C = 2\n")
        vi.reload("rb_c_c")  # publishes c and d: nothing to do with a
        self.assertEqual((a.X, b.Y, b.Z, c.C, d.D), (5, 10, "b2", 2, 102))

        vi.rollback("rb_c_a")
        self.assertEqual((a.X, b.Y, b.Z), (1, 2, "b1"))  # both reloads undone: b as before the first
        self.assertEqual((c.C, d.D), (2, 102))  # the unrelated reload stays
        self.assertEqual(self.reports[-1].reloaded, ("rb_c_a", "rb_c_b"))
        self.assertEqual(self.reports[-1].held, ("rb_c_a", "rb_c_b"))
        self.assertEqual(vi.changed(), [])
        vi.rollback("rb_c_c")
        self.assertEqual((c.C, d.D), (1, 101))

    def test_a_later_reload_that_imported_a_module_going_back_is_undone_too(self):
        self.write("rb_i_a.py", "X = 1\n")
        self.write("rb_i_b.py", "B = 'plain'\n")
        a, b = self.modules("rb_i_a", "rb_i_b")
        self.write("rb_i_a.py", "X = 5\n")
        vi.reload("rb_i_a")
        self.write("rb_i_b.py", "from rb_i_a import X\nB = X * 3\n")  # b starts to depend on the new a
        vi.reload("rb_i_b")
        self.assertEqual(b.B, 15)
        vi.rollback("rb_i_a")
        self.assertEqual((a.X, b.B), (1, "plain"))

    def test_rolling_back_again_undoes_the_reload_before(self):
        vi.install(roots=[self.root], rollback_depth=2)
        self.write("rb_d_a.py", "X = 1\n")
        self.write("rb_d_b.py", "from rb_d_a import X\nY = X * 2\n")
        a, b = self.modules("rb_d_a", "rb_d_b")
        for value in (2, 3):
            self.write("rb_d_a.py", f"X = {value}\n")
            vi.reload("rb_d_a")
        vi.rollback("rb_d_a")
        self.assertEqual((a.X, b.Y), (2, 4))
        vi.rollback("rb_d_a")
        self.assertEqual((a.X, b.Y), (1, 2))
        self.assertEqual((vi.generation("rb_d_a"), vi.generation("rb_d_b")), (5, 5))
        self.assertEqual(vi.changed(), [])  # every source rolled back from is held
        with self.assertRaises(vi.ReloadError):
            vi.rollback("rb_d_a")

    def test_an_undo_that_needs_a_generation_no_longer_kept_is_refused_and_changes_nothing(self):
        self.write("rb_k_a.py", "X = 1\n")
        self.write("rb_k_b.py", "from rb_k_a import X\nY = X * 2\nZ = 1\n")
        a, b = self.modules("rb_k_a", "rb_k_b")
        self.write("rb_k_a.py", "X = 5\n")
        vi.reload("rb_k_a")
        self.write("rb_k_b.py", "from rb_k_a import X\nY = X * 2\nZ = 2\n")
        vi.reload("rb_k_b")  # depth 1: b's generation from before the first reload is let go
        with self.assertRaises(vi.ReloadError) as caught:
            vi.rollback("rb_k_a")
        message = str(caught.exception)
        self.assertIn("'rb_k_b'", message)
        self.assertIn("rollback_depth=1", message)
        self.assertEqual((caught.exception.module, a.X, b.Y, b.Z), ("rb_k_a", 5, 10, 2))
        self.assertEqual((vi.generation("rb_k_a"), vi.generation("rb_k_b")), (2, 3))
        vi.rollback("rb_k_b")  # the last reload of b alone can still be undone
        self.assertEqual((b.Y, b.Z), (10, 1))

    def test_an_unloaded_module_leaves_the_reload_it_was_in(self):
        self.write("rb_u_a.py", "X = 1\n")
        self.write("rb_u_b.py", "from rb_u_a import X\nY = X * 2\n")
        a, _ = self.modules("rb_u_a", "rb_u_b")
        self.write("rb_u_a.py", "X = 5\n")
        vi.reload("rb_u_a")
        vi.unload("rb_u_b")
        self.assertEqual(vi.rollback("rb_u_a"), 3)
        self.assertEqual((a.X, self.reports[-1].reloaded), (1, ("rb_u_a",)))


if __name__ == "__main__":
    unittest.main()
