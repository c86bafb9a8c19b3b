"""G3 fresh generations, G4 all-or-nothing, G8 change detection by content, G13 clear errors."""

from __future__ import annotations

import os
import py_compile
import shutil
import stat
import sys
import traceback
import types
import unittest

import versioned_import as vi
from tests.support import Sandbox

A_SOURCE = """\
VALUE = 1
ITEMS = []
class Thing:
    kind = "old"
    def describe(self):
        return "old " + self.kind
def answer():
    return VALUE
"""

B_SOURCE = """\
import gen_a
from gen_a import answer, Thing
def twice():
    return answer() * 2
class Sub(Thing):
    def describe(self):
        return "sub " + super().describe()
"""

A_VALID_EDIT = A_SOURCE.replace("VALUE = 1", "VALUE = 7").replace('kind = "old"', 'kind = "new"')


class FreshGenerationsTest(Sandbox):
    """G3: each generation runs its source once, in a fresh namespace."""

    def test_generation_numbers_count_up(self):
        self.write("gen_count.py", "X = 0\n")
        self.install()
        import gen_count

        numbers = [vi.generation("gen_count")]
        for value in (1, 2):
            self.write("gen_count.py", f"X = {value}\n")
            report = vi.reload("gen_count")
            numbers.append(vi.generation(gen_count))
            self.assertEqual(report.generations, {"gen_count": numbers[-1]})
            self.assertEqual(gen_count.X, value)
        self.assertEqual(numbers, [1, 2, 3])
        # A reload of unchanged source is still a new generation.
        vi.reload("gen_count")
        self.assertEqual(vi.generation("gen_count"), 4)

    def test_a_name_deleted_from_the_source_is_gone(self):
        self.write("gen_del.py", """\
            KEEP = 1
            GONE = 2
            def gone_function():
                return 3
            class GoneClass:
                pass
            def keep():
                return "GONE" in globals()
        """)
        self.install()
        import gen_del

        self.assertEqual(gen_del.GONE, 2)
        self.assertTrue(gen_del.keep())
        self.write("gen_del.py", "KEEP = 1\ndef keep():\n    return 'GONE' in globals()\n")
        vi.reload("gen_del")
        for name in ("GONE", "gone_function", "GoneClass"):
            with self.subTest(name=name):
                with self.assertRaises(AttributeError):
                    getattr(gen_del, name)
                self.assertNotIn(name, dir(gen_del))
                self.assertNotIn(name, gen_del.__dict__)
        self.assertFalse(gen_del.keep())  # gone from the module's own globals too
        with self.assertRaises(ImportError):
            exec("from gen_del import GONE", {})
        # A name set from outside (not by the source) does not survive a reload either.
        gen_del.patched_in = 1
        vi.reload("gen_del")
        self.assertFalse(hasattr(gen_del, "patched_in"))

    def test_module_level_code_runs_once_per_generation_in_a_fresh_namespace(self):
        self.write("gen_log.py", "RUNS = []\n")  # excluded below: it outlives the generations
        self.write("gen_fresh.py", """\
            import gen_log
            gen_log.RUNS.append(__name__)
            ITEMS = []
            CACHE = {}
            def add(x):
                ITEMS.append(x)
                return len(ITEMS)
        """)
        self.install(exclude=["gen_log"])
        import gen_fresh
        import gen_log

        self.assertEqual(gen_log.RUNS, ["gen_fresh"])
        first_items = gen_fresh.ITEMS
        first_cache = gen_fresh.CACHE
        gen_fresh.add(1)
        gen_fresh.add(2)
        self.assertEqual(gen_fresh.ITEMS, [1, 2])
        vi.reload("gen_fresh")
        self.assertEqual(gen_log.RUNS, ["gen_fresh"] * 2)
        self.assertIsNot(gen_fresh.ITEMS, first_items)
        self.assertIsNot(gen_fresh.CACHE, first_cache)
        self.assertEqual(gen_fresh.ITEMS, [])
        self.assertEqual(first_items, [1, 2])  # the old generation's objects were not touched
        self.assertEqual(gen_fresh.add(9), 1)
        second_items = gen_fresh.ITEMS
        vi.reload("gen_fresh")
        self.assertEqual(gen_log.RUNS, ["gen_fresh"] * 3)
        self.assertIsNot(gen_fresh.ITEMS, second_items)

    def test_state_crosses_only_through_the_reload_hook(self):
        self.write("gen_hook.py", "COUNT = 1\nKEPT = []\n")
        self.install()
        import gen_hook

        kept = gen_hook.KEPT
        kept.append("state")
        self.write("gen_hook.py", """\
            COUNT = 1
            KEPT = []
            OLD_GENERATION_SAW = None
            def __reload__(old):
                global COUNT, KEPT, OLD_GENERATION_SAW
                COUNT = old.COUNT + 1
                KEPT = old.KEPT
                OLD_GENERATION_SAW = sorted(k for k in vars(old) if not k.startswith("__"))
        """)
        vi.reload("gen_hook")
        self.assertEqual(gen_hook.COUNT, 2)
        self.assertIs(gen_hook.KEPT, kept)
        self.assertEqual(gen_hook.OLD_GENERATION_SAW, ["COUNT", "KEPT"])
        vi.reload("gen_hook")
        self.assertEqual(gen_hook.COUNT, 3)
        self.assertIs(gen_hook.KEPT, kept)


class RefusalTest(Sandbox):
    """G4 and G13: a refused reload names module, file and remedy, chains the cause, and changes nothing."""

    def setUp(self) -> None:
        super().setUp()
        self.a_path = self.write("gen_a.py", A_SOURCE)
        self.b_path = self.write("gen_b.py", B_SOURCE)
        self.install()
        import gen_a
        import gen_b

        self.gen_a, self.gen_b = gen_a, gen_b
        self.thing = gen_a.Thing()
        self.sub = gen_b.Sub()
        self.items = gen_a.ITEMS
        self.items.append("kept")

    # -- what "nothing changed" means ---------------------------------------------

    def snapshot(self) -> dict:
        shot: dict = {"modules": {k: v for k, v in sys.modules.items() if k.startswith("gen_")}}
        for name in ("gen_a", "gen_b"):
            proxy = sys.modules[name]
            namespace = dict(proxy.__dict__)
            shot[name] = {
                "proxy": proxy,
                "type": type(proxy),
                "generation": vi.generation(name),
                "namespace": namespace,
                "classes": {k: dict(v.__dict__) for k, v in namespace.items() if isinstance(v, type)},
                "code": {k: v.__code__ for k, v in namespace.items() if isinstance(v, types.FunctionType)},
            }
        shot["behaviour"] = self.behaviour()
        return shot

    def behaviour(self) -> tuple:
        return (self.gen_a.answer(), self.gen_b.twice(), self.gen_b.answer(), self.thing.describe(),
                self.sub.describe(), self.gen_a.Thing.kind, type(self.thing) is self.gen_a.Thing,
                isinstance(self.sub, self.gen_a.Thing), list(self.gen_a.ITEMS), self.gen_a.ITEMS is self.items)

    def assertUnchanged(self, before: dict) -> None:
        after = self.snapshot()
        self.assertEqual(after["behaviour"], before["behaviour"])
        self.assertEqual(after["behaviour"], (1, 2, 1, "old old", "sub old old", "old", True, True, ["kept"], True))
        self.assertEqual(after["modules"].keys(), before["modules"].keys())
        for key, module in before["modules"].items():
            self.assertIs(after["modules"][key], module, key)
        for name in ("gen_a", "gen_b"):
            old, new = before[name], after[name]
            self.assertIs(new["proxy"], old["proxy"])
            self.assertIs(new["type"], old["type"])
            self.assertEqual(new["generation"], old["generation"])
            self.assertEqual(new["namespace"].keys(), old["namespace"].keys(), name)
            for key, value in old["namespace"].items():
                self.assertIs(new["namespace"][key], value, f"{name}.{key}")
            self.assertEqual(new["classes"].keys(), old["classes"].keys())
            for cls, attributes in old["classes"].items():
                self.assertEqual(new["classes"][cls].keys(), attributes.keys(), f"{name}.{cls}")
                for key, value in attributes.items():
                    self.assertIs(new["classes"][cls][key], value, f"{name}.{cls}.{key}")
            for key, code in old["code"].items():
                self.assertIs(new["code"][key], code, f"{name}.{key}.__code__")

    def refuse(self, names: tuple[str, ...], module: str, path: str, cause: type | tuple[type, ...]) -> vi.ReloadError:
        """Run a reload that must be refused; check the error and that nothing changed; return the error."""
        before = self.snapshot()
        reports = []
        unsubscribe = vi.on_reload(reports.append)
        try:
            with self.assertRaises(vi.ReloadError) as caught:
                vi.reload(*names)
        finally:
            unsubscribe()
        error = caught.exception
        self.assertIsInstance(error, ImportError)
        self.assertNotIsInstance(error, vi.NotVersionedError)
        self.assertEqual(error.module, module)
        self.assertEqual(error.path, path)
        self.assertIsInstance(error.__cause__, cause)
        message = str(error)
        self.assertIn(repr(module), message)
        self.assertIn(path, message)
        self.assertIn(type(error.__cause__).__name__, message)
        self.assertRegex(message, r"— .*reload")  # the remedy
        self.assertUnchanged(before)
        self.assertIn(module, vi.changed())  # the edit is still pending
        self.assertEqual(len(reports), 1)
        self.assertFalse(reports[0].ok)
        self.assertIs(reports[0].error, error)
        self.assertEqual(reports[0].reloaded, ())
        return error

    def assertFramePointsAt(self, exc: BaseException, path: str, line: int, text: str) -> None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        self.assertTrue(frames, f"no frame in {path}: {traceback.format_exception(exc)}")
        self.assertEqual(frames[-1].lineno, line)
        with open(path, encoding="utf-8") as stream:
            self.assertEqual(stream.read().splitlines()[line - 1].strip(), text)

    def assertValidEditReloads(self, expected_generation: int = 2) -> None:
        self.write("gen_a.py", A_VALID_EDIT)
        self.write("gen_b.py", B_SOURCE)
        report = vi.reload("gen_a", dependents="all")
        self.assertEqual(report.reloaded, ("gen_a", "gen_b"))
        self.assertEqual(vi.generation("gen_a"), expected_generation)
        self.assertEqual(vi.generation("gen_b"), expected_generation)
        self.assertEqual(self.gen_a.VALUE, 7)
        self.assertEqual(self.gen_b.twice(), 14)
        self.assertEqual(self.thing.describe(), "old new")
        self.assertEqual(self.sub.describe(), "sub old new")
        self.assertEqual(vi.changed(), [])

    # -- the refusals -------------------------------------------------------------------

    def test_syntax_error(self):
        self.write("gen_a.py", "VALUE = 2\ndef broken(:\n    pass\n")
        error = self.refuse(("gen_a",), "gen_a", self.a_path, SyntaxError)
        self.assertEqual(error.__cause__.filename, self.a_path)
        self.assertEqual(error.__cause__.lineno, 2)
        self.assertIn(f"{self.a_path}:2", str(error))
        self.assertEqual(vi.changed(), ["gen_a"])
        self.assertValidEditReloads()

    def test_exception_halfway_through_the_module(self):
        self.write("gen_a.py", """\
            VALUE = 2
            LEAKED = "new"
            class Thing:
                kind = "halfway"
                def describe(self):
                    return "halfway"
            def answer():
                return "halfway"
            ITEMS = []
            raise RuntimeError("halfway")
            AFTER = 1
        """)
        error = self.refuse(("gen_a",), "gen_a", self.a_path, RuntimeError)
        self.assertEqual(str(error.__cause__), "halfway")
        self.assertIn(f"{self.a_path}:10", str(error))
        self.assertFramePointsAt(error.__cause__, self.a_path, 10, 'raise RuntimeError("halfway")')
        for leaked in ("LEAKED", "AFTER"):
            self.assertFalse(hasattr(self.gen_a, leaked), leaked)
            self.assertNotIn(leaked, dir(self.gen_a))
        self.assertEqual(vi.changed(), ["gen_a"])
        self.assertValidEditReloads()

    def test_system_exit_at_import_is_refused_not_obeyed(self):
        self.write("gen_a.py", A_SOURCE + "import sys\nsys.exit(3)\n")
        error = self.refuse(("gen_a",), "gen_a", self.a_path, SystemExit)
        self.assertEqual(error.__cause__.code, 3)
        self.assertValidEditReloads()

    def test_missing_source_file(self):
        os.remove(self.a_path)
        self.assertEqual(vi.changed(), ["gen_a"])
        self.refuse(("gen_a",), "gen_a", self.a_path, FileNotFoundError)
        self.assertEqual(vi.changed(), ["gen_a"])
        self.assertValidEditReloads()

    def test_unreadable_file(self):
        self.write("gen_a.py", A_VALID_EDIT)
        os.chmod(self.a_path, 0)
        self.addCleanup(os.chmod, self.a_path, stat.S_IRUSR | stat.S_IWUSR)
        if os.access(self.a_path, os.R_OK):
            self.skipTest("this user can read a mode-000 file (root)")
        self.refuse(("gen_a",), "gen_a", self.a_path, PermissionError)
        os.chmod(self.a_path, stat.S_IRUSR | stat.S_IWUSR)
        self.assertValidEditReloads()

    def test_a_directory_where_the_file_was(self):
        os.remove(self.a_path)
        os.mkdir(self.a_path)
        self.refuse(("gen_a",), "gen_a", self.a_path, OSError)
        os.rmdir(self.a_path)
        self.assertValidEditReloads()

    def test_undecodable_bytes(self):
        self.write_bytes("gen_a.py", b'VALUE = 2\nTEXT = "\xff"\n')
        self.refuse(("gen_a",), "gen_a", self.a_path, (SyntaxError, UnicodeDecodeError))
        self.assertEqual(vi.changed(), ["gen_a"])
        self.assertValidEditReloads()

    def test_source_the_compiler_cannot_handle(self):
        # Valid grammar, too deep for the compiler: not a SyntaxError but RecursionError ("maximum recursion
        # depth exceeded during compilation") or MemoryError ("Parser stack overflowed"), on 3.11-3.13.
        cases = [("VALUE = 1" + " + 1" * 200_000 + "\n", RecursionError),
                 ("VALUE = " + "-" * 20_000 + "1\n", MemoryError)]
        for source, cause in cases:
            with self.subTest(cause=cause.__name__):
                self.write("gen_a.py", source)
                self.refuse(("gen_a",), "gen_a", self.a_path, cause)
        self.assertValidEditReloads()

    def test_reload_hook_raising(self):
        self.write("gen_a.py", A_VALID_EDIT + "def __reload__(old):\n    raise ValueError('not today')\n")
        line = A_VALID_EDIT.count("\n") + 2
        error = self.refuse(("gen_a",), "gen_a", self.a_path, ValueError)
        self.assertFramePointsAt(error.__cause__, self.a_path, line, "raise ValueError('not today')")
        self.assertIn("__reload__", str(error))
        self.assertValidEditReloads()

    def test_failure_in_a_dependent_keeps_the_edited_module_old(self):
        self.write("gen_a.py", A_VALID_EDIT)
        self.write("gen_b.py", B_SOURCE + "if answer() == 7:\n    raise LookupError('b cannot cope')\n")
        error = self.refuse(("gen_a",), "gen_b", self.b_path, LookupError)
        line = B_SOURCE.count("\n") + 2
        self.assertFramePointsAt(error.__cause__, self.b_path, line, "raise LookupError('b cannot cope')")
        self.assertEqual(vi.generation("gen_a"), 1)
        self.assertEqual(self.gen_a.VALUE, 1)
        self.assertEqual(vi.changed(), ["gen_a", "gen_b"])
        with self.assertRaises(vi.ReloadError):
            vi.reload_changed()
        self.assertEqual(vi.generation("gen_a"), 1)
        self.assertValidEditReloads()

    def test_a_module_first_imported_by_a_refused_generation_is_not_left_behind(self):
        # gen_newdep is imported for the first time by the new source, and binds objects of that
        # generation; the generation is refused, so neither gen_newdep nor those objects may stay live.
        self.write("gen_newdep.py", "from gen_a import answer\nSEEN = answer()\n")
        self.write("gen_a.py", A_VALID_EDIT + "import gen_newdep\nraise RuntimeError('after the import')\n")
        self.refuse(("gen_a",), "gen_a", self.a_path, RuntimeError)
        self.assertNotIn("gen_newdep", sys.modules)
        with self.assertRaises(vi.NotVersionedError):
            vi.generation("gen_newdep")
        self.assertValidEditReloads()
        # Once a generation that imports it is published, it is imported normally.
        self.write("gen_a.py", A_VALID_EDIT + "import gen_newdep\n")
        report = vi.reload("gen_a", dependents="all")
        self.assertEqual(report.reloaded, ("gen_a", "gen_b"))
        self.assertEqual(sys.modules["gen_newdep"].SEEN, 7)
        self.assertEqual(vi.generation("gen_newdep"), 1)

    def test_refusals_in_a_row_then_success(self):
        for broken in ("def (:\n", "raise KeyError('k')\n", A_SOURCE + "1/0\n"):
            self.write("gen_a.py", broken)
            with self.assertRaises(vi.ReloadError):
                vi.reload("gen_a")
            self.assertEqual(vi.generation("gen_a"), 1)
        self.assertValidEditReloads()
        # Refused attempts do not use up generation numbers either.
        self.write("gen_a.py", "raise KeyError('k')\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("gen_a")
        self.write("gen_a.py", A_SOURCE)
        vi.reload("gen_a")
        self.assertEqual(vi.generation("gen_a"), 3)

    def test_the_rendered_refusal_shows_the_failing_new_line(self):
        # What a user sees when the refusal is printed (the ReloadError with its chained cause) must show
        # the failing line of the *new* source, also after an earlier successful reload of the same file
        # (whose text the library may keep in linecache for the running code).
        self.write("gen_a.py", A_VALID_EDIT)
        vi.reload("gen_a")
        self.write("gen_a.py", "VALUE = 3\nraise RuntimeError('second')\n")
        with self.assertRaises(vi.ReloadError) as caught:
            vi.reload("gen_a")
        rendered = "".join(traceback.format_exception(caught.exception))
        self.assertIn(f'File "{self.a_path}", line 2', rendered)
        self.assertIn("raise RuntimeError('second')", rendered)

    # -- refusals of the request itself ---------------------------------------------------

    def test_names_that_are_not_versioned_modules(self):
        self.write("gen_a.py", A_VALID_EDIT)
        before = self.snapshot()
        for name in ("math", "gen_typo", "sys", "versioned_import"):
            with self.subTest(name=name):
                with self.assertRaises(vi.NotVersionedError) as caught:
                    vi.reload(name)
                self.assertIsInstance(caught.exception, vi.ReloadError)
                self.assertIsInstance(caught.exception, ImportError)
                self.assertEqual(caught.exception.module, name)
                self.assertIn(repr(name), str(caught.exception))
                self.assertRegex(str(caught.exception), r" — \w+")
                with self.assertRaises(vi.NotVersionedError):
                    vi.generation(name)
        # One bad name refuses the whole request.
        with self.assertRaises(vi.NotVersionedError):
            vi.reload("gen_a", "gen_typo")
        self.assertUnchanged(before)
        self.assertIn("math", str(self._refusal_of("math")))
        self.assertIn("spelling", str(self._refusal_of("gen_typo")))

    def _refusal_of(self, name: str) -> vi.NotVersionedError:
        try:
            vi.reload(name)
        except vi.NotVersionedError as exc:
            return exc
        self.fail(f"reload({name!r}) was not refused")

    def test_wrong_argument_types(self):
        before = self.snapshot()
        with self.assertRaises(TypeError):
            vi.reload(42)
        with self.assertRaises(TypeError):
            vi.reload("gen_a", None)
        with self.assertRaises(TypeError):
            vi.reload()
        with self.assertRaises(TypeError):
            vi.generation(42)
        self.assertUnchanged(before)


class ChangeDetectionTest(Sandbox):
    """G8: a change is a change of the source bytes."""

    OLD = 1_600_000_000_000_000_000  # Sep 2020: far from "racily clean"

    def write_old(self, relative: str, source: str) -> str:
        path = self.write(relative, source)
        os.utime(path, ns=(self.OLD, self.OLD))
        return path

    def edit_keeping_stat(self, path: str, source: str) -> None:
        """Rewrite ``path`` with same-size content and put its timestamps back (an edit in the same second)."""
        before = os.stat(path)
        with open(path, "rb") as stream:
            old = stream.read()
        data = source.encode()
        self.assertEqual(len(data), len(old), "the edit must keep the size")
        self.assertNotEqual(data, old)
        with open(path, "wb") as stream:
            stream.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(path)
        self.assertEqual((after.st_size, after.st_mtime_ns), (before.st_size, before.st_mtime_ns))

    def test_nothing_changed_right_after_import(self):
        self.write("gen_fresh_a.py", "X = 1\n")
        self.write_old("gen_fresh_b.py", "import gen_fresh_a\n")
        self.install()
        import gen_fresh_b  # noqa: F401

        self.assertEqual(vi.changed(), [])
        report = vi.reload_changed()
        self.assertEqual(report.reloaded, ())
        self.assertEqual(report.generations, {})
        self.assertEqual(vi.generation("gen_fresh_a"), 1)
        vi.reload("gen_fresh_a")
        self.assertEqual(vi.changed(), [])

    def test_same_size_same_timestamp_edit_is_seen(self):
        for racy in (False, True):
            with self.subTest(racy=racy):
                name = f"gen_same_{int(racy)}"
                writer = self.write if racy else self.write_old
                path = writer(f"{name}.py", "VALUE = 'aaa'\n")
                self.install()
                module = __import__(name)
                self.assertEqual(vi.changed(), [])
                self.edit_keeping_stat(path, "VALUE = 'bbb'\n")
                self.assertEqual(vi.changed(), [name])
                self.assertEqual(vi.changed(), [name])  # asking does not consume the change
                report = vi.reload_changed()
                self.assertEqual(report.reloaded, (name,))
                self.assertEqual(module.VALUE, "bbb")
                self.assertEqual(vi.generation(name), 2)
                self.assertEqual(vi.changed(), [])
                # and again, back to the first bytes
                self.edit_keeping_stat(path, "VALUE = 'aaa'\n")
                self.assertEqual(vi.changed(), [name])
                vi.reload_changed()
                self.assertEqual(module.VALUE, "aaa")

    def test_a_touch_without_a_content_change_is_not_a_change(self):
        path = self.write_old("gen_touch.py", "VALUE = 1\n")
        self.install()
        import gen_touch  # noqa: F401

        later = self.OLD + 3_600_000_000_000
        os.utime(path, ns=(later, later))
        self.assertEqual(vi.changed(), [])
        self.assertEqual(vi.reload_changed().reloaded, ())
        # an editor's atomic save of identical bytes (new inode) is no change either
        temporary = path + ".tmp"
        shutil.copyfile(path, temporary)
        os.replace(temporary, path)
        self.assertEqual(vi.changed(), [])
        os.utime(path, ns=(self.OLD, self.OLD))  # back in time
        self.assertEqual(vi.changed(), [])
        self.assertEqual(vi.generation("gen_touch"), 1)

    def test_reload_changed_reports_changed_modules_and_dependents(self):
        self.write_old("gen_base.py", "VALUE = 1\n")
        self.write_old("gen_mid.py", "import gen_base\nDOUBLE = gen_base.VALUE * 2\n")
        self.write_old("gen_top.py", "from gen_mid import DOUBLE\nQUAD = DOUBLE * 2\n")
        self.write_old("gen_other.py", "VALUE = 1\n")
        self.install()
        import gen_other  # noqa: F401
        import gen_top

        self.assertEqual(vi.reload_changed().reloaded, ())
        self.write("gen_base.py", "VALUE = 10\n")
        self.assertEqual(vi.changed(), ["gen_base"])
        report = vi.reload_changed()
        self.assertEqual(report.reloaded, ("gen_base", "gen_mid", "gen_top"))
        self.assertEqual(report.generations, {"gen_base": 2, "gen_mid": 2, "gen_top": 2})
        self.assertTrue(report.ok)
        self.assertEqual(gen_top.QUAD, 40)
        self.assertEqual(vi.generation("gen_other"), 1)
        self.assertEqual(vi.changed(), [])
        self.assertEqual(vi.reload_changed().reloaded, ())
        # without dependents
        self.write("gen_base.py", "VALUE = 100\n")
        report = vi.reload_changed(dependents=False)
        self.assertEqual(report.reloaded, ("gen_base",))
        self.assertEqual(gen_top.QUAD, 40)

    def test_a_stale_bytecode_cache_never_runs(self):
        """A timestamp pyc of the old source, then a same-size, same-mtime edit: the new source must run."""
        path = self.write_old("gen_stale.py", "VALUE = 'old'\n")
        unchecked = self.write_old("gen_stale_hash.py", "VALUE = 'old'\n")
        py_compile.compile(path, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        py_compile.compile(unchecked, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        self.edit_keeping_stat(path, "VALUE = 'new'\n")
        self.edit_keeping_stat(unchecked, "VALUE = 'new'\n")
        env = {"PYTHONDONTWRITEBYTECODE": ""}
        plain = "import gen_stale, gen_stale_hash; print(gen_stale.VALUE, gen_stale_hash.VALUE)"
        versioned = ("import versioned_import as vi; vi.install(roots=['.']); " + plain +
                     "; print(vi.generation('gen_stale'), vi.generation('gen_stale_hash'))")

        # Without the finder CPython runs the stale bytecode: the test reproduces the trap.
        result = self.run_python("-c", plain, env=env)
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.split(), ["old", "old"])

        for attempt in range(2):  # the second run meets whatever cache the first one left behind
            result = self.run_python("-c", versioned, env=env)
            self.assertProcessOK(result)
            self.assertEqual(result.stdout.split(), ["new", "new", "1", "1"], f"attempt {attempt}")

        # A cache written for 'new' must not be trusted after another same-size, same-mtime edit.
        self.edit_keeping_stat(path, "VALUE = 'nu2'\n")
        result = self.run_python("-c", versioned, env=env)
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.split()[0], "nu2")

    def test_a_stale_bytecode_cache_is_not_used_by_reload(self):
        path = self.write_old("gen_stale_in.py", "VALUE = 'old'\n")
        self.install()
        import gen_stale_in

        py_compile.compile(path, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        self.edit_keeping_stat(path, "VALUE = 'new'\n")
        self.assertEqual(vi.reload_changed().reloaded, ("gen_stale_in",))
        self.assertEqual(gen_stale_in.VALUE, "new")


if __name__ == "__main__":
    unittest.main()
