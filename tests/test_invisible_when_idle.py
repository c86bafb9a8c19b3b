"""G16 invisible when idle: warnings, tracebacks, module classes and refusals read as without the library."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import threading
import traceback
import types
import unittest
import warnings

import versioned_import as vi
from tests.support import WAIT, Sandbox
from versioned_import._core import proxy as _proxy


def own_frames(tb) -> list[str]:
    """The frames of a traceback that belong to versioned_import (by file or by our hidden names)."""
    return [f"{frame.filename}:{frame.name}" for frame in traceback.extract_tb(tb)
            if "versioned_import" in frame.filename]


class WarningsAndTracebacksTest(Sandbox):
    WARNS = "import warnings\nwarnings.warn('old api', DeprecationWarning, stacklevel=2)\nX = 1\n"

    def setUp(self) -> None:
        super().setUp()
        self.install()

    def test_a_warning_at_first_import_names_the_importing_line(self):
        # python-dateutil's tests: a module warning at import with stacklevel=2 blames its importer.
        self.write("iw_warns.py", self.WARNS)
        importer = self.write("iw_importer.py", "import iw_warns\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            importlib.import_module("iw_importer")
        self.assertEqual([(w.filename, w.lineno) for w in caught], [(importer, 1)])
        self.assertEqual(vi.generation("iw_warns"), 1)
        self.assertIsNone(importer_now(), "the import ended: no module is importing any more")

    def test_a_warning_while_reloading_names_the_reload_call(self):
        self.write("iw_warns.py", self.WARNS)
        importlib.import_module("iw_warns")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vi.reload("iw_warns"); line = sys._getframe().f_lineno  # noqa: E702  (the same line)
        self.assertEqual([(w.filename, w.lineno) for w in caught], [(__file__, line)])

    def test_a_failing_first_import_shows_the_traceback_of_a_plain_import(self):
        path = self.write("iw_fails.py", "X = 1\nraise LookupError('at import')\n")
        try:
            exec("import iw_fails", {})  # an import statement: CPython trims importlib's frames
        except LookupError as error:
            tb = error.__traceback__
        else:
            self.fail("the import did not raise")
        frames = traceback.extract_tb(tb)
        self.assertEqual(own_frames(tb), [])
        # This test's frame, the import statement, the module's line: as for a plain import.
        self.assertEqual([f.filename for f in frames], [__file__, "<string>", path])

    def test_the_stack_of_module_code_at_import_is_that_of_a_plain_import(self):
        source = "import sys\nNAMES = []\nframe = sys._getframe()\nwhile frame is not None:\n" \
                 "    NAMES.append(frame.f_globals.get('__name__'))\n    frame = frame.f_back\n"
        self.write("iw_stack.py", source)
        plain_dir = self.root + "-plain"
        self.addCleanup(__import__("shutil").rmtree, plain_dir, True)
        __import__("os").makedirs(plain_dir)
        with open(f"{plain_dir}/iw_plain_stack.py", "w", encoding="utf-8") as stream:
            stream.write(source)
        sys.path.append(plain_dir)
        importlib.invalidate_caches()
        versioned = importlib.import_module("iw_stack")
        plain = importlib.import_module("iw_plain_stack")
        self.assertEqual(vi.generation("iw_stack"), 1)
        self.assertEqual(versioned.NAMES[1:], plain.NAMES[1:])


    def test_a_module_loaded_by_hand_from_its_spec_is_executed_once(self):
        import importlib.util

        self.write("iw_by_hand.py", "import iw_log\niw_log.RUNS.append(1)\nX = 1\n")
        self.write("iw_log.py", "RUNS = []\n")
        log = importlib.import_module("iw_log")
        spec = importlib.util.find_spec("iw_by_hand")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # no import statement ends this one: the loader does it all
        self.assertEqual((module.X, log.RUNS), (1, [1]))
        self.assertEqual(vi.generation(module), 1)
        self.assertIsNone(importer_now())


def importer_now():
    from versioned_import._core import edges as _edges
    return _edges.importer.get()


class OtherLoaderTest(Sandbox):
    def test_a_module_another_import_hook_loaded_is_refused_naming_that_loader(self):
        class RewritingLoader(importlib.machinery.SourceFileLoader):
            """Stands for pytest's assertion rewriting: another loader's output."""

        class RewritingHook:
            def find_spec(self, name, path=None, target=None):
                if name != "iw_rewritten":
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                spec.loader = RewritingLoader(spec.loader.name, spec.loader.path)
                return spec

        self.write("iw_rewritten.py", "X = 1\n")
        self.install()
        sys.meta_path.insert(1, RewritingHook())
        importlib.import_module("iw_rewritten")
        with self.assertRaises(vi.NotVersionedError) as caught:
            vi.reload("iw_rewritten")
        message = str(caught.exception)
        self.assertIn("loaded by another loader", message)
        self.assertIn("RewritingLoader", message)
        self.assertNotIn("before install()", message)

    def test_a_module_imported_before_install_keeps_that_message(self):
        self.write("iw_early.py", "X = 1\n")
        importlib.import_module("iw_early")
        self.install()
        with self.assertRaisesRegex(vi.NotVersionedError, "before install"):
            vi.reload("iw_early")


OWN_CLASS = """
import sys
import types

class Module(types.ModuleType):
    @property
    def answer(self):
        return ("property", VERSION)

    def __call__(self):
        return ("called", VERSION)

VERSION = {v}
sys.modules[__name__].__class__ = Module
"""


class OwnModuleClassTest(Sandbox):
    """A module that sets its own class keeps it: first import, reloads, pinned(), rollback."""

    def setUp(self) -> None:
        super().setUp()
        self.install()

    def given(self, v=1):
        self.write("iw_own.py", OWN_CLASS.format(v=v))
        return importlib.import_module("iw_own")

    def reload(self, v):
        self.write("iw_own.py", OWN_CLASS.format(v=v))
        vi.reload("iw_own")

    def assertClass(self, module, cls):
        """Exactly ``cls`` (the portable mode's proxies are always its view class, which derives from it)."""
        self.assertIs(type(module), cls if _proxy.FAST_SWAP else _proxy.view_class(cls))
        self.assertIsInstance(module, cls)

    def assertOwn(self, module, v):
        self.assertIsInstance(module, types.ModuleType)
        self.assertEqual(type(module).__name__, "Module")
        self.assertEqual(module.answer, ("property", v))
        self.assertEqual(module(), ("called", v))
        self.assertEqual(module.VERSION, v)

    def test_kept_after_first_import_and_reloads(self):
        module = self.given()
        self.assertOwn(module, 1)
        self.assertClass(module, module.Module)  # exactly its own class: nothing of ours
        for v in (2, 3):
            self.reload(v)
            self.assertOwn(module, v)
            self.assertClass(module, module.Module)

    def test_kept_inside_a_stale_pin_and_after_rollback(self):
        module = self.given()
        with vi.pinned():
            thread = threading.Thread(target=self.reload, args=(2,))
            thread.start()
            thread.join(WAIT)
            self.assertEqual(vi.generation("iw_own"), 2)
            self.assertOwn(module, 1)  # the pinned generation, through the module's own property
        self.assertOwn(module, 2)
        vi.rollback("iw_own")
        self.assertOwn(module, 1)
        self.assertClass(module, module.Module)

    def test_a_reload_whose_source_no_longer_sets_it_gives_a_plain_module(self):
        module = self.given()
        self.write("iw_own.py", "VERSION = 2\n")
        vi.reload("iw_own")
        self.assertClass(module, types.ModuleType)
        vi.rollback("iw_own")
        self.assertOwn(module, 1)

    def test_a_refused_reload_leaves_the_class_alone(self):
        module = self.given()
        self.write("iw_own.py", OWN_CLASS.format(v=2) + "raise RuntimeError('refused')\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("iw_own")
        self.assertOwn(module, 1)


if __name__ == "__main__":
    unittest.main()
