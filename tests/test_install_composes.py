"""``install()`` called twice composes (issue 19.5): a framework and its user may both call it.

A second call adds its roots, packages and exclusions to the first's; the
deepest rollback depth and, while watching, the shortest interval win; what
either call started keeps running. What cannot be combined (an exclusion that
undoes a package the other asked for, two reload signals) is a ``ValueError``
that changes nothing. ``uninstall()`` ends the composition: the next call
starts a new scope. Every argument is type-checked alike.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

import versioned_import as vi
from tests.support import Sandbox, versioned
from versioned_import._core.state import state


class InstallTwiceTest(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.framework = os.path.join(self.root, "framework")
        self.user = os.path.join(self.root, "user")
        for directory, name in ((self.framework, "ic_plugin"), (self.user, "ic_mine")):
            self.write(os.path.join(directory, f"{name}.py"), "X = 1\n")
            sys.path.insert(0, directory)
        self.write("ic_pkg/__init__.py", "")
        self.write("ic_pkg/core.py", "X = 1\n")
        self.write("ic_pkg/settings.py", "X = 1\n")

    def test_a_second_call_adds_its_roots_to_the_first(self):
        vi.install(roots=[self.framework])
        vi.install(roots=[self.user])
        import ic_mine  # noqa: F401
        import ic_plugin  # noqa: F401  (imported after the second call: still versioned)

        self.assertTrue(versioned("ic_plugin"))
        self.assertTrue(versioned("ic_mine"))
        self.assertEqual(state.finder.scope.roots, (self.framework, self.user))

    def test_packages_and_roots_from_different_calls_both_apply(self):
        vi.install(packages=["ic_pkg"], exclude=["ic_pkg.settings"])
        vi.install(roots=[self.user])
        for name in ("ic_pkg.core", "ic_pkg.settings", "ic_mine"):
            importlib.import_module(name)
        self.assertEqual([versioned(n) for n in ("ic_pkg.core", "ic_pkg.settings", "ic_mine")],
                         [True, False, True])

    def test_a_call_without_a_scope_keeps_the_roots_asked_for_before(self):
        vi.install(roots=[self.framework])
        vi.install()  # the script's directory is added, nothing is dropped
        import ic_plugin  # noqa: F401

        self.assertTrue(versioned("ic_plugin"))
        self.assertIn(self.framework, state.finder.scope.roots)

    def test_an_exclusion_that_undoes_a_package_asked_for_is_refused_and_changes_nothing(self):
        cases = [(dict(packages=["ic_pkg"]), dict(roots=[self.user], exclude=["ic_pkg"]), "exclude"),
                 (dict(packages=["ic_pkg.core"]), dict(roots=[self.user], exclude=["ic_pkg"]), "exclude"),
                 (dict(roots=[self.user], exclude=["ic_pkg"]), dict(packages=["ic_pkg.core"]), "packages")]
        for first, second, named in cases:
            with self.subTest(first=first, second=second):
                vi.install(**first)
                before = state.finder.scope
                with self.assertRaises(ValueError) as caught:
                    vi.install(**second)
                self.assertIn(f"install({named}=", str(caught.exception))
                self.assertIn("uninstall()", str(caught.exception))
                self.assertIs(state.finder.scope, before)
                vi.uninstall()

    def test_the_deepest_rollback_depth_wins(self):
        vi.install(roots=[self.user], rollback_depth=3)
        vi.install(roots=[self.framework])  # rollback_depth=1 by default: must not shrink the history
        import ic_mine  # noqa: F401

        for _ in range(3):
            vi.reload("ic_mine")
        self.assertEqual([vi.rollback("ic_mine") for _ in range(3)], [5, 6, 7])

    def test_the_watcher_keeps_running_and_takes_the_shortest_interval(self):
        vi.install(roots=[self.user], watch=True, interval=30)
        watcher = state.watcher
        vi.install(roots=[self.framework])  # watch=False: what the first call started keeps running
        self.assertIs(state.watcher, watcher)
        self.assertTrue(watcher.alive())
        vi.install(roots=[self.framework], watch=True, interval=60)
        self.assertEqual(watcher.interval, 30)
        vi.install(roots=[self.framework], watch=True, interval=0.25)
        self.assertEqual(watcher.interval, 0.25)
        self.assertIs(state.watcher, watcher)

    def test_two_different_reload_signals_are_refused(self):
        vi.install(roots=[self.user], reload_signal=signal.SIGUSR1)
        reloader = state.reload_signal
        vi.install(roots=[self.user], reload_signal=signal.SIGUSR1)  # the same one: harmless
        self.assertIs(state.reload_signal, reloader)
        with self.assertRaises(ValueError) as caught:
            vi.install(roots=[self.framework], reload_signal=signal.SIGUSR2)
        self.assertIn("reload_signal", str(caught.exception))
        self.assertIs(state.reload_signal, reloader)
        self.assertEqual(state.finder.scope.roots, (self.user,))  # the refused call added nothing

    def test_uninstall_ends_the_composition(self):
        vi.install(roots=[self.framework], rollback_depth=4)
        vi.uninstall()
        vi.install(roots=[self.user])
        self.assertEqual(state.finder.scope.roots, (self.user,))
        self.assertEqual(state.rollback_depth, 1)


class InstallTypesTest(Sandbox):
    def test_every_argument_of_the_wrong_type_is_a_type_error_naming_it(self):
        cases = {"watch": "yes", "control": "yes", "rollback_depth": True, "interval": "1",
                 "reload_signal": "SIGHUP", "roots": 42, "packages": 42, "exclude": None}
        for parameter, value in cases.items():
            with self.subTest(parameter=parameter):
                try:
                    with self.assertRaises(TypeError) as caught:
                        vi.install(**{"roots": [self.root], parameter: value})
                    self.assertIn(f"install({parameter}=...)", str(caught.exception))
                    self.assertIsNone(state.finder)
                    self.assertIsNone(state.watcher)
                finally:
                    vi.uninstall()  # whatever an accepted call started, the next case starts from nothing
