"""G13 on bad API input: every misuse gets a documented exception that says what to do, and changes nothing.

For ``reload``, ``reload_changed``, ``changed``, ``generation``, ``rollback``,
``unload``, ``pinned``, ``on_reload``, ``watch`` and ``install``: unknown
names, modules that are not versioned (``math``, ``json``, a module imported
before ``install()``, one outside the roots), relative and empty names,
non-strings, no names at all, rollback without a previous generation, unload
of an unknown module and unload twice, calls before ``install()`` and after
``uninstall()``, roots that are not directories, bad intervals and rollback
depths, a non-callable subscriber.

The documented exceptions (``versioned_import/_api.py`` and
``_reload.resolve_records``): ``NotVersionedError`` for a name or module that
is not a versioned module (relative and empty names included), ``ReloadError``
for a rollback with nothing to roll back to, ``TypeError`` for arguments of
the wrong type and for no names at all, ``ValueError`` for bad values given to
``install`` and ``watch``.

"Changes nothing" is checked with one snapshot taken before and after each
call: the keys and objects of ``sys.modules``, ``sys.meta_path``, the
generation, namespace and behaviour of every versioned module, what
``changed()`` reports, the watcher thread, and the ``on_reload`` reports (a
request refused for its arguments is not an attempt: subscribers hear
nothing).
"""

from __future__ import annotations

import importlib
import linecache
import logging
import math
import os
import pathlib
import sys
import threading
import types
import unittest

import versioned_import as vi
import versioned_import._runtime.watcher
from tests.support import Sandbox

A_SOURCE = """\
VALUE = 1

def get():
    return VALUE

class Thing:
    def who(self):
        return ("Thing", VALUE)
"""

B_SOURCE = """\
import ai_a

def twice():
    return ai_a.get() * 2
"""

WATCHER_THREAD = "versioned_import-watcher"


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WATCHER_THREAD and t.is_alive()]


class ApiInputCase(Sandbox):
    """``inside/`` is the root; ``outside/`` is on ``sys.path`` but not a root.

    ``ai_pre`` (under the root) is imported before ``install()``, ``ai_out``
    (outside) after it: neither is versioned. ``ai_a`` and ``ai_b`` (which
    imports ``ai_a``) are versioned; ``ai_a`` has been reloaded once, so it
    has a previous generation; ``ai_fresh`` has none.
    """

    install_first = True

    def setUp(self) -> None:
        super().setUp()
        self.inside = os.path.join(self.root, "inside")
        self.outside = os.path.join(self.root, "outside")
        self.write("inside/ai_pre.py", "X = 'pre'\n")
        self.write("outside/ai_out.py", "X = 'out'\n")
        self.a_path = self.write("inside/ai_a.py", A_SOURCE)
        self.write("inside/ai_b.py", B_SOURCE)
        self.write("inside/ai_fresh.py", "X = 'fresh'\n")
        sys.path[:0] = [self.inside, self.outside]
        self.pre = importlib.import_module("ai_pre")
        self.reports: list[vi.ReloadReport] = []
        if self.install_first:
            self.install(roots=[self.inside])
            self.versioned_setup()

    def versioned_setup(self) -> None:
        self.out = importlib.import_module("ai_out")
        self.a = importlib.import_module("ai_a")
        self.b = importlib.import_module("ai_b")
        self.fresh = importlib.import_module("ai_fresh")
        vi.reload("ai_a")  # ai_a and ai_b are at generation 2, with generation 1 kept for rollback
        self.thing = self.a.Thing()
        self.held_get = self.a.get
        self.addCleanup(vi.on_reload(self.reports.append))

    # -- "changes nothing" --------------------------------------------------------------

    VERSIONED = ("ai_a", "ai_b", "ai_fresh")

    def snapshot(self) -> dict:
        shot = {
            "modules": dict(sys.modules),
            "meta_path": list(sys.meta_path),
            "watchers": watcher_threads(),
            "changed": vi.changed(),
            "reports": len(self.reports),
        }
        for name in self.VERSIONED:
            proxy = sys.modules.get(name)
            if proxy is None:
                continue
            shot[name] = (proxy, vi.generation(name), proxy.__dict__, dict(proxy.__dict__))
        if "ai_a" in sys.modules:
            shot["behaviour"] = (self.a.get(), self.held_get(), self.thing.who(), self.b.twice(),
                                 type(self.thing) is self.a.Thing)
        return shot

    def assertNothingChanged(self, before: dict, what: str = "") -> None:
        after = self.snapshot()
        self.assertEqual(after["modules"].keys(), before["modules"].keys(), f"{what}: sys.modules keys changed")
        for key, module in before["modules"].items():
            self.assertIs(after["modules"][key], module, f"{what}: sys.modules[{key!r}] was replaced")
        self.assertEqual(after["meta_path"], before["meta_path"], f"{what}: sys.meta_path changed")
        self.assertEqual(after["watchers"], before["watchers"], f"{what}: a watcher started or stopped")
        self.assertEqual(after["changed"], before["changed"], what)
        self.assertEqual(after["reports"], before["reports"], f"{what}: on_reload subscribers were notified")
        for name in self.VERSIONED:
            if name not in before:
                continue
            proxy, number, namespace, contents = before[name]
            self.assertIs(after[name][0], proxy, f"{what}: {name}")
            self.assertEqual(after[name][1], number, f"{what}: generation of {name} changed")
            self.assertIs(after[name][2], namespace, f"{what}: {name} was republished")
            self.assertEqual(after[name][3].keys(), contents.keys(), f"{what}: {name}'s names changed")
            for key, value in contents.items():
                self.assertIs(after[name][3][key], value, f"{what}: {name}.{key}")
        self.assertEqual(after.get("behaviour"), before.get("behaviour"), what)

    def refused(self, exception: type[BaseException], call, *args, **kwargs) -> BaseException:
        """Run ``call(*args, **kwargs)``, which must raise exactly ``exception`` and change nothing."""
        label = f"{getattr(call, '__name__', call)}{args!r}{kwargs or ''}"
        before = self.snapshot()
        with self.assertRaises(exception, msg=label) as caught:
            call(*args, **kwargs)
        self.assertNothingChanged(before, label)
        return caught.exception

    def assertNotVersioned(self, error: BaseException, action: str, name: str) -> None:
        """A NotVersionedError that names the action and the module and says what to do."""
        self.assertIsInstance(error, vi.NotVersionedError)
        self.assertIsInstance(error, vi.ReloadError)
        self.assertIsInstance(error, ImportError)
        self.assertEqual(error.module, name)
        message = str(error)
        self.assertIn(action, message)
        self.assertIn(repr(name), message)
        self.assertRegex(message, r" — \w+", f"no remedy in {message!r}")


# -- names ------------------------------------------------------------------------------

ACTIONS = {"reload": vi.reload, "generation": vi.generation, "rollback": vi.rollback, "unload": vi.unload}


class NamesTest(ApiInputCase):
    def test_unknown_and_unversioned_names_for_every_call(self):
        names = ("ai_typo", "ai_a.nope", "ai_a ", "math", "json", "sys", "versioned_import", "ai_pre", "ai_out")
        for action, call in ACTIONS.items():
            for name in names:
                with self.subTest(action=action, name=name):
                    error = self.refused(vi.NotVersionedError, call, name)
                    self.assertNotVersioned(error, action, name)

    def test_module_objects_that_are_not_versioned(self):
        impostor = types.ModuleType("ai_a")  # named like a versioned module, but not its proxy
        for action, call in ACTIONS.items():
            for module in (math, self.pre, self.out, impostor, vi):
                with self.subTest(action=action, module=module.__name__):
                    error = self.refused(vi.NotVersionedError, call, module)
                    self.assertNotVersioned(error, action, module.__name__)

    def test_a_module_imported_before_install_is_explained(self):
        # ai_pre lies under the root: the roots are right, it was simply imported too early. A message that
        # sends the user to check install(roots=...) sends them the wrong way.
        for action, call in ACTIONS.items():
            with self.subTest(action=action):
                error = self.refused(vi.NotVersionedError, call, "ai_pre")
                self.assertIn("before", str(error), f"the remedy does not say the module was imported before "
                                                    f"install(): {error}")

    def test_a_module_outside_the_roots_names_its_file_and_the_roots(self):
        error = self.refused(vi.NotVersionedError, vi.reload, "ai_out")
        self.assertIn(self.out.__file__, str(error))
        self.assertIn(os.path.realpath(self.inside), str(error))
        self.assertIn("install(roots=", str(error))
        # An unknown name says where the library looked, too.
        self.assertIn(os.path.realpath(self.inside), str(self.refused(vi.NotVersionedError, vi.reload, "ai_typo")))

    def test_relative_and_empty_names(self):
        for action, call in ACTIONS.items():
            for name in (".ai_a", "..ai_a", ".", "..", ""):
                with self.subTest(action=action, name=name):
                    error = self.refused(vi.NotVersionedError, call, name)
                    self.assertNotVersioned(error, action, name)
                    self.assertIn("absolute", str(error))

    def test_names_that_are_not_strings(self):
        for action, call in ACTIONS.items():
            for value in (42, None, b"ai_a", bytearray(b"ai_a"), ["ai_a"], ("ai_a",), 1.5, object(), self.a.Thing):
                with self.subTest(action=action, value=value):
                    error = self.refused(TypeError, call, value)
                    message = str(error)
                    self.assertIn(f"{action}()", message)
                    self.assertIn(type(value).__name__, message)
                    self.assertIn("str", message)

    def test_one_bad_name_refuses_the_whole_request(self):
        for bad, exception in (("ai_typo", vi.NotVersionedError), ("math", vi.NotVersionedError),
                               ("", vi.NotVersionedError), (".x", vi.NotVersionedError), (42, TypeError),
                               (None, TypeError)):
            for names in (("ai_fresh", bad), (bad, "ai_fresh"), ("ai_fresh", "ai_a", bad)):
                with self.subTest(names=names):
                    self.refused(exception, vi.reload, *names)

    def test_no_names_at_all(self):
        error = self.refused(TypeError, vi.reload)
        self.assertIn("at least one", str(error))
        self.refused(TypeError, vi.reload, *[])
        self.refused(TypeError, vi.reload, dependents=False)
        for call in (vi.generation, vi.rollback, vi.unload, vi.on_reload):
            with self.subTest(call=call.__name__):
                self.refused(TypeError, call)

    def test_reload_changed_and_changed_with_nothing_to_do(self):
        before = self.snapshot()
        self.assertEqual(vi.changed(), [])
        report = vi.reload_changed()
        self.assertTrue(report.ok)
        self.assertEqual((report.reloaded, report.generations, report.replaced), ((), {}, ()))
        self.assertNothingChanged(before, "reload_changed() with nothing changed")
        self.refused(TypeError, vi.changed, "ai_a")  # takes no names
        self.refused(TypeError, vi.reload_changed, "ai_a", "ai_b")

    def test_pinned_takes_no_arguments_and_a_bare_pin_changes_nothing(self):
        self.refused(TypeError, vi.pinned, "ai_a")
        before = self.snapshot()
        with vi.pinned(), vi.pinned():
            self.assertEqual(self.a.get(), 1)
        self.assertNothingChanged(before, "pinned()")


# -- rollback and unload ----------------------------------------------------------------

class RollbackAndUnloadTest(ApiInputCase):
    def assertNothingToRollBack(self, name: str) -> None:
        error = self.refused(vi.ReloadError, vi.rollback, name)
        self.assertNotIsInstance(error, vi.NotVersionedError, "the module *is* versioned")
        self.assertEqual(error.module, name)
        message = str(error)
        self.assertIn(repr(name), message)
        self.assertIn(sys.modules[name].__file__, message)
        self.assertIn("nothing to roll back", message)
        self.assertRegex(message, r" — \w+")

    def test_rollback_with_no_previous_generation(self):
        self.assertNothingToRollBack("ai_fresh")
        self.assertNothingToRollBack("ai_fresh")  # a refusal leaves nothing behind that a second one trips on
        # ai_a has one previous generation (depth 1): one rollback, then there is nothing left.
        self.assertEqual(vi.rollback("ai_a"), 3)
        self.assertNothingToRollBack("ai_a")
        self.assertEqual((vi.generation("ai_a"), self.a.get(), self.held_get()), (3, 1, 1))

    def test_rollback_with_depth_zero_after_reloads(self):
        vi.uninstall()  # a second install() keeps the deepest history asked for; a new one sets it
        vi.install(roots=[self.inside], rollback_depth=0)
        self.assertNothingToRollBack("ai_a")
        vi.reload("ai_fresh")
        self.assertNothingToRollBack("ai_fresh")

    def test_unload_of_an_unknown_module(self):
        for name in ("ai_typo", "ai_a.sub", "ai_pre", "json"):
            with self.subTest(name=name):
                self.assertNotVersioned(self.refused(vi.NotVersionedError, vi.unload, name), "unload", name)

    def test_unload_with_a_lazy_linecache_entry_for_the_file(self):
        # traceback's lazycache() stores a 1-tuple; unload once indexed it as a full entry.
        proxy = sys.modules["ai_fresh"]
        path = proxy.__file__
        linecache.cache.pop(path, None)
        self.assertTrue(linecache.lazycache(path, vars(proxy)))
        self.assertEqual(len(linecache.cache[path]), 1)
        vi.unload("ai_fresh")
        self.assertNotIn("ai_fresh", sys.modules)

    def test_unload_twice_by_name_and_by_proxy(self):
        proxy = sys.modules["ai_fresh"]
        vi.unload("ai_fresh")
        self.assertNotIn("ai_fresh", sys.modules)
        for target in ("ai_fresh", proxy):
            with self.subTest(target=target):
                error = self.refused(vi.NotVersionedError, vi.unload, target)
                self.assertNotVersioned(error, "unload", "ai_fresh")
        # Everything else about an unloaded module is refused the same way.
        for action, call in ACTIONS.items():
            with self.subTest(action=action):
                self.assertNotVersioned(self.refused(vi.NotVersionedError, call, proxy), action, "ai_fresh")


# -- before install() and after uninstall() ---------------------------------------------

class BeforeInstallTest(ApiInputCase):
    install_first = False

    def test_calls_before_install(self):
        for action, call in ACTIONS.items():
            for name in ("ai_a", "ai_pre", "math"):
                with self.subTest(action=action, name=name):
                    error = self.refused(vi.NotVersionedError, call, name)
                    self.assertNotVersioned(error, action, name)
                    self.assertIn("install()", str(error))
                    self.assertIn("not installed", str(error))
            with self.subTest(action=action, name=42):
                self.refused(TypeError, call, 42)
        before = self.snapshot()
        self.assertEqual(vi.changed(), [])
        self.assertTrue(vi.reload_changed().ok)
        self.assertEqual(vi.reload_changed().reloaded, ())
        with vi.pinned():
            self.assertEqual(self.pre.X, "pre")
        unsubscribe = vi.on_reload(print)
        unsubscribe()
        unsubscribe()
        vi.stop_watching()
        vi.uninstall()
        self.assertNothingChanged(before, "harmless calls before install()")


class AfterUninstallTest(ApiInputCase):
    def test_calls_after_uninstall(self):
        vi.uninstall()
        # Documented: modules versioned before stay versioned (reloadable); that is not bad input.
        self.assertEqual(vi.generation("ai_a"), 2)
        self.write("inside/ai_late.py", "X = 'late'\n")
        importlib.import_module("ai_late")  # under the root, but imported with no finder installed
        for action, call in ACTIONS.items():
            for name in ("ai_typo", "ai_late", "math"):
                with self.subTest(action=action, name=name):
                    error = self.refused(vi.NotVersionedError, call, name)
                    self.assertNotVersioned(error, action, name)
            # "import it first" or "check install(roots=...)" cannot help while nothing is installed.
            for name in ("ai_typo", "ai_late"):
                with self.subTest(action=action, name=name, check="remedy"):
                    self.assertIn("not installed", str(self.refused(vi.NotVersionedError, call, name)))


# -- install(), watch(), on_reload() ----------------------------------------------------

class InstallArgumentsTest(ApiInputCase):
    def test_roots_that_are_not_directories(self):
        missing = os.path.join(self.root, "missing")
        for roots in (self.a_path, [self.a_path], missing, [missing], pathlib.Path(missing),
                      [self.inside, missing]):
            with self.subTest(roots=roots):
                error = self.refused(ValueError, vi.install, roots=roots)
                self.assertIn("not a directory", str(error))
                self.assertIn(os.fspath(roots if not isinstance(roots, list) else roots[-1]), str(error))
        # The scope kept is the one installed before: a module under the old root is still versioned.
        self.write("inside/ai_after_bad_root.py", "X = 1\n")
        importlib.import_module("ai_after_bad_root")
        self.assertEqual(vi.generation("ai_after_bad_root"), 1)

    def test_an_empty_string_is_not_a_root(self):
        # os.path.isdir("") is False, but os.path.realpath("") is the current directory: a root of ""
        # (an unset environment variable, say) must not quietly version whatever directory we run in.
        for roots in ("", [""], [self.inside, ""]):
            with self.subTest(roots=roots):
                error = self.refused(ValueError, vi.install, roots=roots)
                self.assertIn("not a directory", str(error))

    def test_roots_packages_and_exclude_of_the_wrong_type_name_the_parameter(self):
        cases = [("roots", 42), ("roots", [42]), ("roots", b"/tmp"), ("roots", [None]),
                 ("packages", 42), ("packages", b"ai_a"), ("packages", [42]),
                 ("exclude", None), ("exclude", 42), ("exclude", [42]), ("exclude", b"ai_a")]
        for parameter, value in cases:
            with self.subTest(parameter=parameter, value=value):
                options = {"roots": [self.inside], parameter: value}
                error = self.refused((TypeError, ValueError), vi.install, **options)
                self.assertIn(parameter, str(error), f"the message does not say which argument is wrong: {error}")

    def test_packages_and_exclude_need_absolute_dotted_names(self):
        for parameter in ("packages", "exclude"):
            for value in ("", [""], [".ai_a"], ["..ai_a"]):
                with self.subTest(parameter=parameter, value=value):
                    error = self.refused(ValueError, vi.install, roots=[self.inside], **{parameter: value})
                    self.assertIn("absolute dotted", str(error))

    def test_negative_or_non_integer_rollback_depth(self):
        vi.install(roots=[self.inside], rollback_depth=2)
        vi.reload("ai_fresh")
        vi.reload("ai_fresh")  # two previous generations kept
        for depth in (-1, -5, 1.5, "1", None):
            with self.subTest(depth=depth):
                error = self.refused((TypeError, ValueError), vi.install, roots=[self.inside], rollback_depth=depth)
                self.assertIn("rollback_depth", str(error))
        # The depth in force is still 2: both previous generations are still there.
        self.assertEqual(vi.rollback("ai_fresh"), 4)
        self.assertEqual(vi.rollback("ai_fresh"), 5)

    def test_zero_or_negative_interval_with_watch(self):
        for interval in (0, -1, -0.5):
            with self.subTest(interval=interval):
                error = self.refused(ValueError, vi.install, roots=[self.inside], watch=True, interval=interval)
                self.assertIn("interval", str(error))

    def test_zero_or_negative_interval_without_watch(self):
        # The interval is validated even when watch=False: a bad value passes silently otherwise, until
        # the configuration that carries it turns the watcher on.
        for interval in (0, -1, float("nan")):
            with self.subTest(interval=interval):
                error = self.refused(ValueError, vi.install, roots=[self.inside], interval=interval)
                self.assertIn("interval", str(error))

    def test_positional_and_unknown_arguments(self):
        self.refused(TypeError, vi.install, self.inside)
        self.refused(TypeError, vi.install, roots=[self.inside], root=self.inside)


class InstallFromScratchTest(ApiInputCase):
    """A refused install() must not leave a finder behind when there was none."""

    install_first = False

    def test_refused_install_installs_nothing(self):
        missing = os.path.join(self.root, "missing")
        cases = [dict(roots=[missing]), dict(roots=[self.a_path]), dict(roots=[self.inside], rollback_depth=-1),
                 dict(roots=[self.inside], packages=[".rel"]), dict(roots=[self.inside], watch=True, interval=0),
                 dict(roots=[self.inside], watch=True, interval=-2)]
        for number, options in enumerate(cases):
            with self.subTest(**{k: v for k, v in options.items() if k != "roots"}):
                try:
                    self.refused(ValueError, vi.install, **options)
                    name = f"ai_not_yet_{number}"
                    self.write(f"inside/{name}.py", "X = 1\n")
                    importlib.import_module(name)
                    self.assertRaises(vi.NotVersionedError, vi.generation, name)
                finally:
                    vi.uninstall()  # whatever a half-done install left, the next case starts from nothing


class WatchArgumentsTest(ApiInputCase):
    def test_interval_must_be_a_positive_number(self):
        for interval in (0, -1, -0.5, "1", None, [1]):
            with self.subTest(interval=interval):
                error = self.refused((TypeError, ValueError), vi.watch, interval)
                self.assertIn("interval", str(error))
        self.assertEqual(watcher_threads(), [])

    def test_interval_must_be_finite(self):
        # nan compares false to everything: Event.wait(nan) returns at once and the watcher spins, calling
        # reload_changed() tens of thousands of times a second. inf (or 1e300) overflows Event.wait and
        # the watcher thread dies at its first tick (G11: the watcher never dies).
        for interval in (float("nan"), float("inf"), 1e300):
            with self.subTest(interval=interval):
                try:
                    self.refused(ValueError, vi.watch, interval)
                finally:
                    vi.stop_watching()

    def test_a_bad_interval_leaves_a_running_watcher_alone(self):
        vi.watch(30)
        self.addCleanup(vi.stop_watching)
        running = watcher_threads()
        self.assertEqual(len(running), 1)
        for interval in (0, -3, None, float("nan"), float("inf")):
            with self.subTest(interval=interval):
                self.refused((TypeError, ValueError), vi.watch, interval)
                self.assertEqual(watcher_threads(), running)


class OnReloadArgumentsTest(ApiInputCase):
    def test_a_non_callable_subscriber(self):
        for callback in (None, 42, "print", b"", [print], (print,)):
            with self.subTest(callback=callback):
                error = self.refused(TypeError, vi.on_reload, callback)
                self.assertIn("callable", str(error))
                self.assertIn(type(callback).__name__, str(error))
        # None of them was subscribed: a reload calls only the test's own subscriber and logs no failure.
        with self.assertNoLogs("versioned_import", logging.ERROR):
            vi.reload("ai_fresh")
        self.assertEqual([r.reloaded for r in self.reports], [("ai_fresh",)])

    def test_unsubscribe_twice_is_harmless(self):
        seen = []
        unsubscribe = vi.on_reload(seen.append)
        unsubscribe()
        unsubscribe()
        vi.reload("ai_fresh")
        self.assertEqual(seen, [])
        self.assertEqual(len(self.reports), 1)


if __name__ == "__main__":
    unittest.main()


class FlagArgumentsTest(unittest.TestCase):
    def test_dependents_takes_a_bool(self):
        for call in (lambda v: vi.reload("anything", dependents=v), lambda v: vi.reload_changed(dependents=v)):
            for value in ("yes", 1, None):
                with self.subTest(value=value):
                    with self.assertRaises(TypeError) as caught:
                        call(value)
                    self.assertIn("dependents", str(caught.exception))

    def test_rollback_depth_is_not_a_bool(self):
        with self.assertRaises(TypeError) as caught:
            vi.install(roots=[os.getcwd()], rollback_depth=True)
        self.assertIn("rollback_depth", str(caught.exception))
