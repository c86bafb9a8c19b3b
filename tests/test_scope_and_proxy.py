"""G1 Scope and G2 Proxy: which modules are versioned, and that the proxy behaves as the module it stands for."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.resources
import inspect
import os
import pickle
import sys
import sysconfig
import types
import unittest
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import versioned_import as vi
from tests.support import REPO, Sandbox, versioned
from versioned_import._core import finder as _finder
from versioned_import._core import proxy as _proxy
from versioned_import._core import scope as _scope
from versioned_import._core.finder import VersionedLoader


class ScopeTest(Sandbox):
    """G1: what install()'s roots, packages and exclude select, and what is never versioned."""

    def setUp(self) -> None:
        super().setUp()
        self.inside = os.path.join(self.root, "inside")
        self.outside = os.path.join(self.root, "outside")
        os.makedirs(self.inside)
        os.makedirs(self.outside)
        sys.path[:0] = [self.inside, self.outside]

    def test_modules_under_a_root_are_versioned_and_others_are_not(self):
        self.write("inside/sp_in.py", "X = 1\n")
        self.write("inside/sp_inpkg/__init__.py", "")
        self.write("inside/sp_inpkg/deep/__init__.py", "")
        self.write("inside/sp_inpkg/deep/leaf.py", "Y = 2\n")
        self.write("outside/sp_out.py", "X = 1\n")
        self.install(roots=[self.inside])
        import sp_in
        import sp_inpkg.deep.leaf  # noqa: F401
        import sp_out

        self.assertEqual(vi.generation("sp_in"), 1)
        self.assertEqual(vi.generation(sp_in), 1)
        self.assertEqual(vi.generation("sp_inpkg.deep.leaf"), 1)
        self.assertEqual(vi.generation("sp_inpkg"), 1)
        self.assertIs(sys.modules["sp_in"], sp_in)
        self.assertIsInstance(sp_in.__spec__.loader, VersionedLoader)
        with self.assertRaises(vi.NotVersionedError):
            vi.generation("sp_out")
        with self.assertRaises(vi.NotVersionedError):
            vi.generation(sp_out)
        with self.assertRaises(vi.NotVersionedError):
            vi.reload("sp_out")
        self.assertNotIsInstance(sp_out.__spec__.loader, VersionedLoader)
        self.assertEqual(sp_out.X, 1)

    def test_a_root_is_a_directory_not_a_string_prefix(self):
        # ".../inside" must not capture ".../inside_too".
        sibling = self.inside + "_too"
        os.makedirs(sibling)
        sys.path.insert(0, sibling)
        self.write("inside_too/sp_prefix.py", "X = 1\n")
        self.install(roots=[self.inside])
        import sp_prefix  # noqa: F401

        self.assertFalse(versioned("sp_prefix"))

    def test_packages_version_a_package_and_its_submodules_outside_the_roots(self):
        self.write("outside/sp_named/__init__.py", "")
        self.write("outside/sp_named/sub.py", "X = 1\n")
        self.write("outside/sp_named/inner/__init__.py", "")
        self.write("outside/sp_named/inner/leaf.py", "X = 1\n")
        self.write("outside/sp_namedother.py", "X = 1\n")  # a name that merely starts alike
        self.write("outside/sp_unnamed.py", "X = 1\n")
        self.install(roots=[self.inside], packages=["sp_named"])
        import sp_named.inner.leaf
        import sp_named.sub  # noqa: F401
        import sp_namedother  # noqa: F401
        import sp_unnamed  # noqa: F401

        for name in ("sp_named", "sp_named.sub", "sp_named.inner", "sp_named.inner.leaf"):
            with self.subTest(name=name):
                self.assertEqual(vi.generation(name), 1)
        self.assertFalse(versioned("sp_namedother"))
        self.assertFalse(versioned("sp_unnamed"))

    def test_packages_alone_version_nothing_else(self):
        # With packages= and no roots, the script directory is *not* added as a root.
        self.write("inside/sp_pkgonly/__init__.py", "")
        self.write("inside/sp_bystander.py", "X = 1\n")
        self.install(roots=None, packages="sp_pkgonly")
        import sp_bystander  # noqa: F401
        import sp_pkgonly  # noqa: F401

        self.assertTrue(versioned("sp_pkgonly"))
        self.assertFalse(versioned("sp_bystander"))

    def test_exclude_removes_a_module_and_its_submodules(self):
        self.write("inside/sp_ex/__init__.py", "")
        self.write("inside/sp_ex/sub.py", "X = 1\n")
        self.write("inside/sp_exother.py", "X = 1\n")
        self.write("inside/sp_kept/__init__.py", "")
        self.write("inside/sp_kept/skip.py", "X = 1\n")
        self.write("inside/sp_kept/keep.py", "X = 1\n")
        self.install(roots=[self.inside], exclude=["sp_ex", "sp_kept.skip"])
        import sp_ex.sub  # noqa: F401
        import sp_exother  # noqa: F401
        import sp_kept.keep
        import sp_kept.skip  # noqa: F401

        self.assertFalse(versioned("sp_ex"))
        self.assertFalse(versioned("sp_ex.sub"))
        self.assertFalse(versioned("sp_kept.skip"))
        self.assertTrue(versioned("sp_exother"))
        self.assertTrue(versioned("sp_kept"))
        self.assertTrue(versioned("sp_kept.keep"))

    def test_no_arguments_versions_the_script_directory(self):
        app = os.path.join(self.root, "app")
        elsewhere = os.path.join(self.root, "elsewhere")
        self.write("app/sp_sibling.py", "X = 1\n")
        self.write("elsewhere/sp_far.py", "X = 1\n")
        self.write("app/sp_main.py", """\
            import sys
            import versioned_import as vi
            vi.install()
            import sp_sibling
            import sp_far
            print("sibling", vi.generation("sp_sibling"))
            try:
                vi.generation("sp_far")
            except vi.NotVersionedError:
                print("far not versioned")
            try:
                vi.generation("__main__")
            except vi.NotVersionedError:
                print("__main__ not versioned")
        """)
        # The working directory is *not* the script's: the script's directory wins.
        result = self.run_python(os.path.join(app, "sp_main.py"), cwd=self.root,
                                 env={"PYTHONPATH": os.pathsep.join([REPO, elsewhere])})
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.split("\n")[:3], ["sibling 1", "far not versioned",
                                                             "__main__ not versioned"])

    def test_no_arguments_without_a_script_versions_the_current_directory(self):
        self.write("here/sp_cwd.py", "X = 1\n")
        self.write("there/sp_notcwd.py", "X = 1\n")
        code = ("import versioned_import as vi; vi.install(); import sp_cwd, sp_notcwd; "
                "print(vi.generation('sp_cwd'))\n"
                "try:\n    vi.generation('sp_notcwd')\nexcept vi.NotVersionedError:\n    print('not versioned')\n")
        result = self.run_python("-c", code, cwd=os.path.join(self.root, "here"),
                                 env={"PYTHONPATH": os.pathsep.join([REPO, os.path.join(self.root, "there")])})
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.split("\n")[0], "1")
        self.assertIn("not versioned", result.stdout)

    def test_standard_library_is_never_versioned_even_under_a_root(self):
        stdlib = sysconfig.get_paths()["stdlib"]
        self.install(roots=[stdlib])
        for name in ("colorsys", "json.tool", "json"):
            sys.modules.pop(name, None)  # the sandbox puts them back
        import colorsys
        import json.tool

        self.assertTrue(os.path.realpath(colorsys.__file__).startswith(os.path.realpath(stdlib) + os.sep))
        for module in (colorsys, json.tool):
            with self.subTest(module=module.__name__):
                self.assertFalse(versioned(module.__name__))
                self.assertNotIsInstance(module.__spec__.loader, VersionedLoader)

    def test_extension_and_builtin_modules_are_never_versioned(self):
        import math

        stdlib = sysconfig.get_paths()["stdlib"]
        dynload = os.path.dirname(math.__file__) if hasattr(math, "__file__") else stdlib
        self.install(roots=[stdlib, dynload])
        for name in ("math", "cmath"):
            sys.modules.pop(name, None)
        import cmath
        import math

        for name in ("math", "cmath", "sys", "builtins", "gc"):
            with self.subTest(name=name):
                self.assertFalse(versioned(name))
        self.assertEqual(cmath.sqrt(-1), 1j)

    def test_versioned_import_itself_is_never_versioned(self):
        # A fresh process, so that a not-yet-imported submodule of ours is imported under the root.
        code = ("import sys, versioned_import as vi\n"
                f"vi.install(roots=[{REPO!r}])\n"
                "assert 'versioned_import._runtime.watcher' not in sys.modules\n"
                "import versioned_import._runtime.watcher as w\n"
                "for name in ('versioned_import', 'versioned_import._runtime.watcher'):\n"
                "    try:\n"
                "        vi.generation(name)\n"
                "    except vi.NotVersionedError:\n"
                "        print(name, 'not versioned')\n"
                "print(type(w.__spec__.loader).__name__)\n")
        result = self.run_python("-c", code)
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.split("\n")[:3], ["versioned_import not versioned",
                                                         "versioned_import._runtime.watcher not versioned",
                                                         "SourceFileLoader"])

    def test_namespace_packages_are_not_versioned_but_their_modules_are(self):
        self.write("inside/sp_ns/part.py", "X = 1\n")  # no __init__.py: a namespace package
        self.install(roots=[self.inside])
        import sp_ns.part

        self.assertFalse(versioned("sp_ns"))
        self.assertEqual(vi.generation("sp_ns.part"), 1)
        self.write("inside/sp_ns/part.py", "X = 2\n")
        vi.reload("sp_ns.part")
        self.assertEqual(sp_ns.part.X, 2)
        self.assertIs(sp_ns.part, sys.modules["sp_ns.part"])

    def test_a_symlink_pointing_outside_a_root_is_not_versioned(self):
        target = self.write("outside/sp_real.py", "X = 1\n")
        os.symlink(target, os.path.join(self.inside, "sp_linked.py"))
        importlib.invalidate_caches()
        sys.path.remove(self.outside)
        self.install(roots=[self.inside])
        import sp_linked

        self.assertEqual(sp_linked.X, 1)
        self.assertFalse(versioned("sp_linked"))

    def test_a_symlink_pointing_into_a_root_is_versioned(self):
        target = self.write("inside/sp_target.py", "X = 1\n")
        os.symlink(target, os.path.join(self.outside, "sp_pointer.py"))
        importlib.invalidate_caches()
        self.install(roots=[self.inside])
        import sp_pointer

        self.assertEqual(vi.generation(sp_pointer), 1)


class ScopePredicateTest(Sandbox):
    """G1 on names and paths alone: ``_scope.in_scope`` with a scope from ``_scope.make_scope``."""

    def setUp(self) -> None:
        super().setUp()
        self.app = os.path.join(self.root, "app")
        self.other = os.path.join(self.root, "other")
        os.makedirs(self.app)
        os.makedirs(self.other)
        self.scope = _scope.make_scope([self.app], ["sp_named"], ["sp_ex", "sp_app.skip"], self._no_default)

    def _no_default(self) -> str:
        self.fail("default_root must only be consulted when neither roots nor packages are given")

    def at(self, *parts: str) -> str:
        return os.path.join(*parts)

    def test_source_under_a_root(self):
        self.assertTrue(_scope.in_scope("sp_app", self.at(self.app, "sp_app.py"), True, self.scope))
        self.assertTrue(_scope.in_scope("sp_app.sub", self.at(self.app, "sp_app", "sub", "__init__.py"), True,
                                         self.scope))
        self.assertFalse(_scope.in_scope("sp_other", self.at(self.other, "sp_other.py"), True, self.scope))
        self.assertFalse(_scope.in_scope("sp_near", self.app + "x" + os.sep + "sp_near.py", True, self.scope))

    def test_only_python_source(self):
        path = self.at(self.app, "sp_app.py")
        self.assertFalse(_scope.in_scope("sp_app", path, False, self.scope))  # e.g. a sourceless loader
        self.assertFalse(_scope.in_scope("sp_app", None, True, self.scope))  # namespace or built-in
        self.assertFalse(_scope.in_scope("sp_ext", self.at(self.app, "sp_ext.cpython-311-x86_64-linux-gnu.so"),
                                          False, self.scope))
        self.assertFalse(_scope.in_scope("sp_ext", self.at(self.app, "sp_ext.so"), True, self.scope))
        self.assertFalse(_scope.in_scope("sp_pyc", self.at(self.app, "sp_pyc.pyc"), True, self.scope))

    def test_packages_by_dotted_name(self):
        elsewhere = self.at(self.other, "sp_named", "__init__.py")
        self.assertTrue(_scope.in_scope("sp_named", elsewhere, True, self.scope))
        self.assertTrue(_scope.in_scope("sp_named.a.b", self.at(self.other, "sp_named", "a", "b.py"), True,
                                         self.scope))
        self.assertFalse(_scope.in_scope("sp_namedx", self.at(self.other, "sp_namedx.py"), True, self.scope))
        self.assertFalse(_scope.in_scope("sp_named", elsewhere, False, self.scope))

    def test_exclude_by_dotted_name(self):
        self.assertFalse(_scope.in_scope("sp_ex", self.at(self.app, "sp_ex.py"), True, self.scope))
        self.assertFalse(_scope.in_scope("sp_ex.sub", self.at(self.app, "sp_ex", "sub.py"), True, self.scope))
        self.assertTrue(_scope.in_scope("sp_exx", self.at(self.app, "sp_exx.py"), True, self.scope))
        self.assertFalse(_scope.in_scope("sp_app.skip", self.at(self.app, "sp_app", "skip.py"), True, self.scope))
        self.assertTrue(_scope.in_scope("sp_app.skipper", self.at(self.app, "sp_app", "skipper.py"), True,
                                         self.scope))
        # exclude wins over packages
        scope = _scope.make_scope([], ["sp_named"], ["sp_named.private"], self._no_default)
        self.assertTrue(_scope.in_scope("sp_named.public", self.at(self.other, "sp_named", "public.py"), True, scope))
        self.assertFalse(_scope.in_scope("sp_named.private", self.at(self.other, "sp_named", "private.py"), True,
                                          scope))

    def test_main_and_ourselves_are_never_versioned(self):
        self.assertFalse(_scope.in_scope("__main__", self.at(self.app, "script.py"), True, self.scope))
        self.assertFalse(_scope.in_scope("versioned_import", self.at(self.app, "versioned_import", "__init__.py"),
                                          True, self.scope))
        self.assertFalse(_scope.in_scope("versioned_import._reload.transaction",
                                          self.at(self.app, "versioned_import", "_reload.py"), True, self.scope))
        self.assertFalse(_scope.in_scope("versioned_import", vi.__file__, True,
                                          _scope.make_scope([REPO], ["versioned_import"], (), self._no_default)))
        # Only our package, not every name that starts like it.
        self.assertTrue(_scope.in_scope("versioned_importer", self.at(self.app, "versioned_importer.py"), True,
                                         self.scope))

    def test_standard_library_and_site_packages_even_under_a_root_or_named(self):
        stdlib = sysconfig.get_paths()["stdlib"]
        purelib = sysconfig.get_paths()["purelib"]
        scope = _scope.make_scope([stdlib, purelib, os.path.dirname(stdlib)], ["colorsys", "sp_site"], (),
                                   self._no_default)
        import colorsys

        self.assertFalse(_scope.in_scope("colorsys", colorsys.__file__, True, scope))
        self.assertFalse(_scope.in_scope("json.tool", os.path.join(stdlib, "json", "tool.py"), True, scope))
        self.assertFalse(_scope.in_scope("sp_site", os.path.join(purelib, "sp_site", "__init__.py"), True, scope))
        # while a sibling directory of the standard library under the same root still counts
        self.assertTrue(_scope.in_scope("sp_beside", os.path.join(os.path.dirname(stdlib), "sp_beside.py"), True,
                                         scope))

    def test_real_paths_decide_symlinks(self):
        real_outside = self.at(self.other, "sp_real.py")
        with open(real_outside, "w") as stream:
            stream.write("")
        link_inside = self.at(self.app, "sp_link.py")
        os.symlink(real_outside, link_inside)
        self.assertFalse(_scope.in_scope("sp_link", link_inside, True, self.scope))

        real_inside = self.at(self.app, "sp_home.py")
        with open(real_inside, "w") as stream:
            stream.write("")
        link_outside = self.at(self.other, "sp_visitor.py")
        os.symlink(real_inside, link_outside)
        self.assertTrue(_scope.in_scope("sp_visitor", link_outside, True, self.scope))

        # a root given through a symlinked directory is resolved too
        alias = os.path.join(self.root, "alias")
        os.symlink(self.app, alias)
        scope = _scope.make_scope([alias], (), (), self._no_default)
        self.assertTrue(_scope.in_scope("sp_home", real_inside, True, scope))
        self.assertTrue(_scope.in_scope("sp_home", os.path.join(alias, "sp_home.py"), True, scope))
        self.assertFalse(_scope.in_scope("sp_real", real_outside, True, scope))

    PARTS = ("sp_a", "sp_ab", "sp_b", "versioned_import", "__main__")
    dotted = st.lists(st.sampled_from(PARTS), min_size=1, max_size=3).map(".".join)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(name=dotted, under_root=st.booleans(), suffix=st.sampled_from([".py", ".pyw", ".so", ".pyc"]),
           is_source=st.booleans(), packages=st.lists(dotted, max_size=2), exclude=st.lists(dotted, max_size=2))
    def test_predicate_matches_the_rule(self, name, under_root, suffix, is_source, packages, exclude):
        directory = self.app if under_root else self.other
        origin = os.path.join(directory, *name.split(".")) + suffix
        scope = _scope.make_scope([self.app], packages, exclude, self._no_default)

        def named(prefixes):
            return any(name == p or name.startswith(p + ".") for p in prefixes)

        never = name == "__main__" or named(["versioned_import"])
        if never or not is_source or suffix not in importlib.machinery.SOURCE_SUFFIXES or named(exclude):
            expected = False
        else:
            expected = named(packages) or under_root
        self.assertEqual(_scope.in_scope(name, origin, is_source, scope), expected)

    def test_make_scope_defaults_and_validation(self):
        scope = _scope.make_scope(None, None, (), lambda: self.other)
        self.assertEqual(scope.roots, (os.path.realpath(self.other),))
        self.assertTrue(_scope.in_scope("sp_o", self.at(self.other, "sp_o.py"), True, scope))
        self.assertFalse(_scope.in_scope("sp_a", self.at(self.app, "sp_a.py"), True, scope))
        self.assertEqual(_scope.make_scope(self.app, None, (), self._no_default).roots, (self.app,))
        with self.assertRaises(ValueError):
            _scope.make_scope([os.path.join(self.root, "missing")], None, (), self._no_default)
        with self.assertRaises(ValueError):
            _scope.make_scope([self.app], [".relative"], (), self._no_default)
        with self.assertRaises(ValueError):
            vi.install(roots=[os.path.join(self.root, "missing")])


class InstallUninstallTest(Sandbox):
    def test_install_twice_is_harmless(self):
        self.write("sp_twice.py", "X = 1\n")
        self.install()
        self.install()
        self.assertEqual(sum(isinstance(f, _finder.VersionedFinder) for f in sys.meta_path), 1)
        self.assertIsInstance(sys.meta_path[0], _finder.VersionedFinder)
        import sp_twice

        self.assertEqual(vi.generation(sp_twice), 1)
        vi.reload("sp_twice")
        self.assertEqual(vi.generation(sp_twice), 2)

    def test_install_again_adds_to_the_scope(self):
        self.write("a/sp_first.py", "X = 1\n")
        self.write("b/sp_second.py", "X = 1\n")
        sys.path[:0] = [os.path.join(self.root, "a"), os.path.join(self.root, "b")]
        self.install(roots=[os.path.join(self.root, "a")])
        self.install(roots=[os.path.join(self.root, "b")])
        import sp_first  # noqa: F401
        import sp_second  # noqa: F401

        self.assertTrue(versioned("sp_first"))  # a second call never drops what the first asked for
        self.assertTrue(versioned("sp_second"))

    def test_uninstall_twice_is_harmless_and_proxies_keep_working(self):
        before = list(sys.meta_path)
        path = self.write("sp_after.py", "X = 1\ndef get():\n    return X\n")
        self.install()
        import sp_after

        proxy = sp_after
        vi.uninstall()
        vi.uninstall()
        self.assertEqual(sys.meta_path, before)
        self.assertEqual(proxy.get(), 1)
        self.write("sp_after.py", "X = 2\ndef get():\n    return X * 10\n")
        self.assertEqual(vi.changed(), ["sp_after"])
        report = vi.reload("sp_after")
        self.assertEqual(report.reloaded, ("sp_after",))
        self.assertEqual(vi.generation("sp_after"), 2)
        self.assertIs(sys.modules["sp_after"], proxy)
        self.assertEqual(proxy.get(), 20)
        self.assertEqual(proxy.__file__, path)
        # New imports after uninstall are plain modules.
        self.write("sp_later.py", "X = 1\n")
        import sp_later  # noqa: F401

        self.assertFalse(versioned("sp_later"))


class ProxyTest(Sandbox):
    """G2: the proxy is the module, for the module's whole life."""

    def make_package(self) -> None:
        self.write("sp_pkg/__init__.py", """\
            from . import sib
            from .sib import helper
            PACKAGE_VALUE = sib.VALUE
        """)
        self.write("sp_pkg/sib.py", """\
            VALUE = 1
            def helper():
                return VALUE
        """)
        self.write("sp_pkg/user.py", """\
            import sp_pkg.sib
            import sp_pkg.sib as aliased
            from sp_pkg import sib as via_from
            from .sib import helper
            from . import sib as relative
            import importlib
            dynamic = importlib.import_module("sp_pkg.sib")
            dynamic_relative = importlib.import_module(".sib", "sp_pkg")
            def read():
                return sp_pkg.sib.VALUE, relative.VALUE, helper()
        """)

    def test_same_object_for_the_whole_life(self):
        self.make_package()
        self.install()
        import sp_pkg.sib
        import sp_pkg.user

        proxy = sys.modules["sp_pkg.sib"]
        package = sys.modules["sp_pkg"]
        if _proxy.FAST_SWAP:
            self.assertIs(type(proxy), types.ModuleType)  # exact ModuleType while nothing needs a view
        self.assertIsInstance(proxy, types.ModuleType)
        for value in range(2, 5):
            self.write("sp_pkg/sib.py", f"VALUE = {value}\ndef helper():\n    return VALUE\n")
            report = vi.reload("sp_pkg.sib")
            self.assertIn("sp_pkg.sib", report.reloaded)
            self.assertIn("sp_pkg", report.reloaded)  # the package imports it: a dependent
            self.assertEqual(vi.generation(proxy), value)
            self.assertIs(sys.modules["sp_pkg.sib"], proxy)
            self.assertIs(sys.modules["sp_pkg"], package)
            self.assertIs(sp_pkg.sib, proxy)
            self.assertIs(package.sib, proxy)
            self.assertIs(importlib.import_module("sp_pkg.sib"), proxy)
            self.assertIs(importlib.import_module(".sib", "sp_pkg"), proxy)
            user = sys.modules["sp_pkg.user"]
            for attribute in ("aliased", "via_from", "relative", "dynamic", "dynamic_relative"):
                self.assertIs(getattr(user, attribute), proxy, attribute)
            self.assertEqual(user.read(), (value, value, value))
            self.assertEqual(package.PACKAGE_VALUE, value)
            self.assertIsInstance(proxy, types.ModuleType)
        # Reloading the package itself keeps the submodule attribute on it.
        vi.reload("sp_pkg")
        self.assertIs(package.sib, proxy)
        self.assertIs(sys.modules["sp_pkg"], package)
        exec("import sp_pkg.sib as again", namespace := {})
        self.assertIs(namespace["again"], proxy)

    def test_import_forms_see_the_proxy(self):
        self.make_package()
        self.write("sp_flat.py", "def f():\n    return 'flat'\n")
        self.install()
        import sp_flat
        import sp_pkg.user
        from sp_flat import f
        from sp_pkg import sib
        from sp_pkg.sib import helper

        proxy = sys.modules["sp_pkg.sib"]
        self.assertIs(sib, proxy)
        self.assertIs(importlib.import_module("sp_flat"), sp_flat)
        self.assertIs(sys.modules["sp_flat"], sp_flat)
        self.assertEqual(f(), "flat")
        self.assertEqual(helper(), 1)
        self.assertEqual(sp_pkg.user.read(), (1, 1, 1))
        self.assertEqual(vi.generation(sp_pkg.user), 1)

    def test_dir_follows_the_current_generation(self):
        self.write("sp_dir.py", "alpha = 1\ndef beta():\n    pass\n")
        self.install()
        import sp_dir

        names = dir(sp_dir)
        self.assertIn("alpha", names)
        self.assertIn("beta", names)
        self.assertIn("__name__", names)
        self.assertEqual(names, sorted(sp_dir.__dict__))
        self.write("sp_dir.py", "gamma = 1\n")
        vi.reload("sp_dir")
        names = dir(sp_dir)
        self.assertIn("gamma", names)
        self.assertNotIn("alpha", names)
        self.assertNotIn("beta", names)

    def test_set_and_delete_through_the_proxy_reach_the_module_globals(self):
        self.write("sp_attrs.py", """\
            def read():
                return x
            def has():
                return "x" in globals()
        """)
        self.install()
        import sp_attrs

        sp_attrs.x = 1
        self.assertEqual(sp_attrs.read(), 1)
        self.assertTrue(sp_attrs.has())
        sp_attrs.x = 2
        self.assertEqual(sp_attrs.read(), 2)
        del sp_attrs.x
        self.assertFalse(sp_attrs.has())
        self.assertFalse(hasattr(sp_attrs, "x"))
        with self.assertRaises(NameError):
            sp_attrs.read()
        with self.assertRaises(AttributeError):
            del sp_attrs.x
        # the same after a reload
        self.write("sp_attrs.py", "def read():\n    return x * 10\ndef has():\n    return 'x' in globals()\n")
        vi.reload("sp_attrs")
        sp_attrs.x = 3
        self.assertEqual(sp_attrs.read(), 30)
        del sp_attrs.x
        self.assertFalse(sp_attrs.has())

    def test_module_getattr_and_dir_hooks(self):
        source = """\
            def __getattr__(name):
                if name == "lazy":
                    return {value}
                raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}")
            def __dir__():
                return ["lazy", "listed_{value}"]
        """
        self.write("sp_hook.py", source.format(value=1))
        self.install()
        import sp_hook

        self.assertEqual(sp_hook.lazy, 1)
        self.assertEqual(dir(sp_hook), ["lazy", "listed_1"])
        with self.assertRaises(AttributeError):
            sp_hook.missing  # noqa: B018  (the read is the test)
        self.write("sp_hook.py", source.format(value=2))
        vi.reload("sp_hook")
        self.assertEqual(sp_hook.lazy, 2)
        self.assertEqual(dir(sp_hook), ["lazy", "listed_2"])
        self.write("sp_hook.py", "X = 1\n")
        vi.reload("sp_hook")
        with self.assertRaises(AttributeError):
            sp_hook.lazy  # noqa: B018  (the read is the test)
        self.assertIn("X", dir(sp_hook))

    def test_global_writes_inside_the_module_are_visible_through_the_proxy(self):
        source = """\
            counter = 0
            def bump():
                global counter
                counter += {step}
                return counter
            def read():
                return counter
        """
        self.write("sp_glob.py", source.format(step=1))
        self.install()
        import sp_glob

        held_bump = sp_glob.bump
        sp_glob.bump()
        sp_glob.bump()
        self.assertEqual(sp_glob.counter, 2)
        sp_glob.counter = 10
        self.assertEqual(sp_glob.read(), 10)
        self.write("sp_glob.py", source.format(step=100))
        vi.reload("sp_glob")
        self.assertEqual(sp_glob.counter, 0)  # a fresh generation
        sp_glob.bump()
        self.assertEqual(sp_glob.counter, 100)
        held_bump()  # a function taken before the reload writes the newest globals
        self.assertEqual(sp_glob.counter, 200)
        self.assertEqual(sp_glob.read(), 200)
        sp_glob.counter = 5
        self.assertEqual(sp_glob.read(), 5)

    def test_module_attributes(self):
        self.make_package()
        self.write("sp_top.py", "X = 1\n")
        self.install()
        import sp_pkg.sib
        import sp_top

        init = os.path.join(self.root, "sp_pkg", "__init__.py")
        sib = os.path.join(self.root, "sp_pkg", "sib.py")
        for _ in range(2):
            package = sys.modules["sp_pkg"]
            self.assertEqual(package.__name__, "sp_pkg")
            self.assertEqual(package.__file__, init)
            self.assertEqual(package.__spec__.name, "sp_pkg")
            self.assertEqual(package.__spec__.origin, init)
            self.assertEqual(list(package.__path__), [os.path.join(self.root, "sp_pkg")])
            self.assertEqual(package.__package__, "sp_pkg")
            self.assertEqual(sp_pkg.sib.__name__, "sp_pkg.sib")
            self.assertEqual(sp_pkg.sib.__file__, sib)
            self.assertEqual(sp_pkg.sib.__spec__.name, "sp_pkg.sib")
            self.assertEqual(sp_pkg.sib.__spec__.parent, "sp_pkg")
            self.assertEqual(sp_pkg.sib.__package__, "sp_pkg")
            self.assertFalse(hasattr(sp_pkg.sib, "__path__"))
            self.assertEqual(sp_top.__name__, "sp_top")
            self.assertEqual(sp_top.__package__, "")
            self.assertEqual(sp_top.__file__, os.path.join(self.root, "sp_top.py"))
            self.assertIs(sp_top.__spec__.loader, sp_top.__loader__)
            vi.reload("sp_pkg.sib", "sp_pkg", "sp_top")

    def test_inspect_getsource_shows_the_current_source(self):
        first = "def f():\n    return 1\n"
        self.write("sp_src.py", first)
        self.install()
        import sp_src

        held = sp_src.f
        self.assertEqual(inspect.getsource(sp_src), first)
        self.assertEqual(inspect.getsource(sp_src.f), first)
        self.assertIs(inspect.getmodule(sp_src.f), sp_src)
        self.assertTrue(inspect.ismodule(sp_src))
        self.assertEqual(inspect.getsourcefile(sp_src), os.path.join(self.root, "sp_src.py"))
        second = "# moved down\n\ndef f():\n    return 2\n\ndef g():\n    return 3\n"
        self.write("sp_src.py", second)
        vi.reload("sp_src")
        self.assertEqual(inspect.getsource(sp_src), second)
        self.assertEqual(inspect.getsource(sp_src.f), "def f():\n    return 2\n")
        self.assertEqual(inspect.getsource(sp_src.g), "def g():\n    return 3\n")
        self.assertIs(inspect.getmodule(sp_src.g), sp_src)
        self.assertIs(inspect.getmodule(held), sp_src)
        self.assertEqual(held(), 2)

    def test_importlib_resources_reads_package_data(self):
        self.write("sp_res/__init__.py", "")
        self.write("sp_res/data.txt", "payload\n")
        self.write("sp_res/inner/__init__.py", "")
        self.write("sp_res/inner/more.txt", "deeper\n")
        self.install()
        import sp_res
        import sp_res.inner

        self.assertEqual(vi.generation(sp_res), 1)
        self.assertEqual(importlib.resources.files("sp_res").joinpath("data.txt").read_text(), "payload\n")
        self.assertEqual(importlib.resources.files(sp_res).joinpath("data.txt").read_text(), "payload\n")
        self.assertEqual(importlib.resources.files(sp_res.inner).joinpath("more.txt").read_text(), "deeper\n")
        vi.reload("sp_res")
        self.assertEqual(importlib.resources.files("sp_res").joinpath("data.txt").read_text(), "payload\n")
        names = sorted(p.name for p in importlib.resources.files("sp_res").iterdir())
        self.assertIn("data.txt", names)

    def test_importlib_reload_routes_to_a_versioned_reload(self):
        self.write("sp_ilr.py", "VALUE = 1\nTABLE = []\n")
        self.write("sp_ilr_user.py", "import sp_ilr\ndef read():\n    return sp_ilr.VALUE\nSEEN = sp_ilr.VALUE\n")
        self.install()
        import sp_ilr
        import sp_ilr_user

        proxy = sp_ilr
        table = sp_ilr.TABLE
        reports = []
        unsubscribe = vi.on_reload(reports.append)
        self.addCleanup(unsubscribe)
        self.write("sp_ilr.py", "VALUE = 2\nTABLE = []\n")
        returned = importlib.reload(proxy)
        self.assertIs(returned, proxy)
        self.assertIs(sys.modules["sp_ilr"], proxy)
        self.assertEqual(vi.generation("sp_ilr"), 2)
        self.assertEqual(proxy.VALUE, 2)
        self.assertIsNot(proxy.TABLE, table)  # a fresh namespace, not exec over the old one
        self.assertEqual(sp_ilr_user.read(), 2)
        self.assertEqual(sp_ilr_user.SEEN, 2)  # dependents were re-executed, as vi.reload does
        self.assertEqual(vi.generation("sp_ilr_user"), 2)
        self.assertEqual([r.reloaded for r in reports], [("sp_ilr", "sp_ilr_user")])
        # and a refused importlib.reload is all-or-nothing as well
        self.write("sp_ilr.py", "VALUE = 3\nraise RuntimeError('no')\n")
        with self.assertRaises(vi.ReloadError):
            importlib.reload(proxy)
        self.assertEqual(proxy.VALUE, 2)
        self.assertEqual(vi.generation("sp_ilr"), 2)

    def test_pickle_round_trips_module_level_functions_classes_and_instances(self):
        source = """\
            import dataclasses
            def double(x):
                return x * {factor}
            class Point:
                def __init__(self, x, y):
                    self.x, self.y = x, y
                def norm(self):
                    return abs(self.x) + abs(self.y) * {factor}
            @dataclasses.dataclass
            class Record:
                name: str
                size: int = 0
        """
        self.write("sp_pick.py", source.format(factor=2))
        self.install()
        import sp_pick

        for factor in (2, 3):
            for protocol in (0, pickle.HIGHEST_PROTOCOL):
                self.assertIs(pickle.loads(pickle.dumps(sp_pick.double, protocol)), sp_pick.double)
                self.assertIs(pickle.loads(pickle.dumps(sp_pick.Point, protocol)), sp_pick.Point)
                point = pickle.loads(pickle.dumps(sp_pick.Point(1, -2), protocol))
                self.assertIs(type(point), sp_pick.Point)
                self.assertEqual((point.x, point.y), (1, -2))
                self.assertEqual(point.norm(), 1 + 2 * factor)
                record = pickle.loads(pickle.dumps(sp_pick.Record("a", 3), protocol))
                self.assertEqual(record, sp_pick.Record("a", 3))
            self.write("sp_pick.py", source.format(factor=3))
            vi.reload("sp_pick")
        # pickled before a reload, loaded after it
        data = pickle.dumps((sp_pick.double, sp_pick.Point(2, 2)))
        self.write("sp_pick.py", source.format(factor=4))
        vi.reload("sp_pick")
        double, point = pickle.loads(data)
        self.assertEqual(double(1), 4)
        self.assertEqual(point.norm(), 2 + 2 * 4)
        self.assertIs(type(point), sp_pick.Point)

    def test_mock_patch_object_on_a_proxy_attribute(self):
        self.write("sp_mock.py", """\
            def target():
                return "real"
            def caller():
                return target()
            LIMIT = 5
        """)
        self.install()
        import sp_mock

        original = sp_mock.target
        with mock.patch.object(sp_mock, "target", return_value="fake") as fake:
            self.assertEqual(sp_mock.caller(), "fake")
            self.assertIs(sp_mock.target, fake)
        fake.assert_called_once_with()
        self.assertIs(sp_mock.target, original)
        self.assertEqual(sp_mock.caller(), "real")
        with mock.patch.object(sp_mock, "LIMIT", 99):
            self.assertEqual(sp_mock.LIMIT, 99)
        self.assertEqual(sp_mock.LIMIT, 5)
        with mock.patch.object(sp_mock, "absent", create=True, new=1):
            self.assertEqual(sp_mock.absent, 1)
        self.assertFalse(hasattr(sp_mock, "absent"))
        # mock.patch by dotted name resolves through sys.modules to the same proxy
        with mock.patch("sp_mock.target", return_value="named"):
            self.assertEqual(sp_mock.caller(), "named")
        self.assertEqual(sp_mock.caller(), "real")


if __name__ == "__main__":
    unittest.main()
