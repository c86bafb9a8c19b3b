"""G1 under reloads: a reload only ever executes files of versioned modules under the configured roots.

The root is ``inside/``. ``outside/`` is on ``sys.path`` but is not a root;
``elsewhere/`` is not on ``sys.path`` and holds the targets of symlinks.
Every module appends its name to ``ss_log.RUNS`` when it executes; ``ss_log``
lives in ``outside/`` (not versioned), so the list counts every execution
across reloads. Foreign code is never "pulled into" a reload: a symlink inside
the root that points outside, a ``sys.path`` entry outside the roots, a
package submodule symlinked from outside, a module named like a standard
library module, a module listed in ``exclude=``, and a module outside the
roots that imports a versioned one.

What happens to a file under the root that shadows a standard library name
(documented here, and checked): the import system decides which file a name
means, exactly as without versioned_import. A built-in or frozen module, or a
standard library module already imported, wins: the shadowing file is never
executed and the name is not versioned. A pure-Python standard library module
not yet imported loses to the file earlier on ``sys.path``: that file is a
user module under the root like any other, so it is versioned and a reload
re-executes it (and never the standard library file).
"""

from __future__ import annotations

import importlib
import os
import sys
import unittest

import versioned_import as vi
from tests.support import Sandbox

LOG = "ss_log"


def logged(name_hint: str, body: str = "") -> str:
    """Source of a module that records each of its executions in ``ss_log.RUNS``."""
    return f"import {LOG}\n{LOG}.RUNS.append(__name__)\nWHERE = {name_hint!r}\n{body}"


class ScopeSafetyCase(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.inside = os.path.join(self.root, "inside")
        self.outside = os.path.join(self.root, "outside")
        self.elsewhere = os.path.join(self.root, "elsewhere")
        for directory in (self.inside, self.outside, self.elsewhere):
            os.makedirs(directory, exist_ok=True)
        sys.path[:0] = [self.inside, self.outside]
        self.write(f"outside/{LOG}.py", "RUNS = []\n")
        self.log = importlib.import_module(LOG)

    def install(self, **options) -> None:
        options.setdefault("roots", [self.inside])
        vi.install(**options)

    def symlink(self, target: str, link: str) -> None:
        os.symlink(os.path.join(self.root, target), os.path.join(self.root, link))
        importlib.invalidate_caches()

    def runs(self, name: str) -> int:
        return self.log.RUNS.count(name)

    def assertNotVersioned(self, name: str) -> None:
        with self.assertRaises(vi.NotVersionedError):
            vi.generation(name)
        with self.assertRaises(vi.NotVersionedError):
            vi.reload(name)

    def edit_everything(self, *relative_paths: str) -> None:
        """Rewrite files (through their symlinks too) so that every one of them has changed content."""
        for relative in relative_paths:
            path = os.path.join(self.root, relative)
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text + "EDITED = True\n")
        importlib.invalidate_caches()


class SymlinkTest(ScopeSafetyCase):
    def test_a_symlink_to_a_file_outside_is_not_executed_again_by_its_importers_reload(self):
        self.write("elsewhere/ss_real.py", logged("elsewhere", "VALUE = 1\n"))
        self.symlink("elsewhere/ss_real.py", "inside/ss_link.py")
        self.write("inside/ss_user.py", logged("inside", "import ss_link\nfrom ss_link import VALUE\n"))
        self.install()
        import ss_user

        foreign = sys.modules["ss_link"]
        self.assertEqual((self.runs("ss_link"), self.runs("ss_user")), (1, 1))
        self.assertNotVersioned("ss_link")
        self.assertEqual(vi.generation("ss_user"), 1)

        self.edit_everything("elsewhere/ss_real.py", "inside/ss_user.py")
        self.assertEqual(vi.changed(), ["ss_user"])  # the foreign file is not watched either
        for _ in range(3):
            vi.reload("ss_user")
        vi.reload_changed()
        self.assertEqual(self.runs("ss_link"), 1, "the file outside the root was executed by a reload")
        self.assertEqual(self.runs("ss_user"), 4)
        self.assertIs(sys.modules["ss_link"], foreign)
        self.assertIs(ss_user.ss_link, foreign)
        self.assertFalse(hasattr(foreign, "EDITED"))
        self.assertTrue(ss_user.EDITED)

    def test_a_symlinked_directory_pointing_outside(self):
        self.write("elsewhere/pkgsrc/__init__.py", logged("elsewhere"))
        self.write("elsewhere/pkgsrc/mod.py", logged("elsewhere", "X = 1\n"))
        self.symlink("elsewhere/pkgsrc", "inside/ss_dirlink")
        self.write("inside/ss_dirlink_user.py", logged("inside", "from ss_dirlink import mod\n"))
        self.install()
        import ss_dirlink_user

        for name in ("ss_dirlink", "ss_dirlink.mod"):
            self.assertNotVersioned(name)
        self.edit_everything("elsewhere/pkgsrc/mod.py")
        vi.reload("ss_dirlink_user")
        self.assertEqual(vi.reload_changed().reloaded, ())
        self.assertEqual((self.runs("ss_dirlink"), self.runs("ss_dirlink.mod"), self.runs("ss_dirlink_user")),
                         (1, 1, 2))
        self.assertIs(ss_dirlink_user.mod, sys.modules["ss_dirlink.mod"])

    def test_a_symlink_retargeted_outside_after_the_first_import_is_not_followed_by_a_reload(self):
        # Scope is decided by real paths. A module versioned because its symlink pointed into the root must
        # not execute the file the symlink points to *now* if that lies outside the roots: the reload is
        # refused (ReloadError naming the module and path), and generation 1 stays live.
        self.write("inside/impl/v1.py", logged("inside", "X = 'inside'\n"))
        self.write("elsewhere/foreign.py", logged("elsewhere", "X = 'foreign'\n"))
        self.symlink("inside/impl/v1.py", "inside/ss_swap.py")
        self.install()
        import ss_swap

        self.assertEqual((vi.generation("ss_swap"), ss_swap.X), (1, "inside"))
        os.remove(os.path.join(self.inside, "ss_swap.py"))
        self.symlink("elsewhere/foreign.py", "inside/ss_swap.py")
        for reload in (lambda: vi.reload("ss_swap"), vi.reload_changed):
            with self.assertRaises(vi.ReloadError) as caught:
                reload()
            self.assertEqual(self.runs("ss_swap"), 1, "a reload executed a file outside the roots")
            self.assertEqual(caught.exception.module, "ss_swap")
            self.assertIn("ss_swap.py", str(caught.exception))
            self.assertEqual((vi.generation("ss_swap"), ss_swap.X), (1, "inside"))
        # Pointing the link back into the root makes the module reloadable again.
        os.remove(os.path.join(self.inside, "ss_swap.py"))
        self.write("inside/impl/v2.py", logged("inside", "X = 'inside again'\n"))
        self.symlink("inside/impl/v2.py", "inside/ss_swap.py")
        vi.reload("ss_swap")
        self.assertEqual((vi.generation("ss_swap"), ss_swap.X, self.runs("ss_swap")), (2, "inside again", 2))


class SysPathTest(ScopeSafetyCase):
    def test_a_module_from_a_sys_path_entry_outside_the_roots_is_not_executed_again(self):
        self.write("outside/ss_foreign.py", logged("outside", "VALUE = 'foreign'\n"))
        self.write("inside/ss_host.py", logged("inside", "import ss_foreign\nfrom ss_foreign import VALUE\n"))
        self.install()
        import ss_host

        foreign = sys.modules["ss_foreign"]
        self.assertNotVersioned("ss_foreign")
        self.edit_everything("outside/ss_foreign.py", "inside/ss_host.py")
        self.assertEqual(vi.changed(), ["ss_host"])
        report = vi.reload("ss_host")
        self.assertEqual(report.reloaded, ("ss_host",))
        self.assertEqual(vi.reload_changed().reloaded, ())
        self.assertEqual((self.runs("ss_foreign"), self.runs("ss_host")), (1, 2))
        self.assertIs(sys.modules["ss_foreign"], foreign)
        self.assertIs(ss_host.ss_foreign, foreign)
        self.assertFalse(hasattr(foreign, "EDITED"))

    def test_a_foreign_module_importing_a_versioned_one_is_not_its_dependent(self):
        # Dependents are versioned modules only: reloading ss_core must not re-execute ss_plugin (outside the
        # roots), yet what ss_plugin took from ss_core follows the new generation (continuity).
        self.write("inside/ss_core.py", logged("inside", "def answer():\n    return 1\n"))
        self.write("outside/ss_plugin.py", logged("outside", "import ss_core\nfrom ss_core import answer\n"))
        self.install()
        import ss_plugin

        self.write("inside/ss_core.py", logged("inside", "def answer():\n    return 2\n"))
        report = vi.reload("ss_core")
        self.assertEqual(report.reloaded, ("ss_core",))
        self.assertEqual((self.runs("ss_core"), self.runs("ss_plugin")), (2, 1))
        self.assertEqual((ss_plugin.answer(), ss_plugin.ss_core.answer()), (2, 2))

    def test_a_sys_path_entry_that_is_a_symlink_to_a_directory_outside(self):
        self.write("elsewhere/ss_viadir.py", logged("elsewhere"))
        self.symlink("elsewhere", "inside/linked_entry")
        sys.path.insert(0, os.path.join(self.inside, "linked_entry"))  # textually under the root, really not
        self.write("inside/ss_viadir_user.py", logged("inside", "import ss_viadir\n"))
        self.install()
        import ss_viadir_user  # noqa: F401

        self.assertNotVersioned("ss_viadir")
        vi.reload("ss_viadir_user")
        self.assertEqual((self.runs("ss_viadir"), self.runs("ss_viadir_user")), (1, 2))


class PackageTest(ScopeSafetyCase):
    def test_a_package_with_a_submodule_symlinked_from_outside(self):
        self.write("inside/ss_pkg/__init__.py", logged("inside", "from . import linked, local\n"))
        self.write("inside/ss_pkg/local.py", logged("inside", "from .linked import VALUE\n"))
        self.write("elsewhere/linked_impl.py", logged("elsewhere", "VALUE = 'foreign'\n"))
        self.symlink("elsewhere/linked_impl.py", "inside/ss_pkg/linked.py")
        self.install()
        import ss_pkg

        linked = sys.modules["ss_pkg.linked"]
        self.assertEqual(vi.generation("ss_pkg"), 1)
        self.assertEqual(vi.generation("ss_pkg.local"), 1)
        self.assertNotVersioned("ss_pkg.linked")
        self.edit_everything("elsewhere/linked_impl.py")
        self.assertEqual(vi.changed(), [])

        report = vi.reload("ss_pkg")
        self.assertEqual(set(report.reloaded), {"ss_pkg"})
        report = vi.reload("ss_pkg.local")
        self.assertEqual(set(report.reloaded), {"ss_pkg.local", "ss_pkg"})
        self.assertEqual(self.runs("ss_pkg.linked"), 1, "the submodule symlinked from outside was executed again")
        self.assertEqual((self.runs("ss_pkg"), self.runs("ss_pkg.local")), (3, 2))
        self.assertIs(sys.modules["ss_pkg.linked"], linked)
        self.assertIs(ss_pkg.linked, linked)
        self.assertFalse(hasattr(linked, "EDITED"))

    def test_unloading_the_package_never_executes_the_foreign_submodule(self):
        # What unload does with a submodule it does not version: it only forgets versioned modules, so the
        # foreign submodule stays in sys.modules and a fresh import of the package reuses it as any
        # import would; its file runs only once.
        self.write("inside/ss_upkg/__init__.py", logged("inside", "from . import linked\n"))
        self.write("elsewhere/ulinked_impl.py", logged("elsewhere"))
        self.symlink("elsewhere/ulinked_impl.py", "inside/ss_upkg/linked.py")
        self.install()
        import ss_upkg  # noqa: F401

        vi.unload("ss_upkg")
        self.assertNotIn("ss_upkg", sys.modules)
        again = importlib.import_module("ss_upkg")
        self.assertEqual(vi.generation("ss_upkg"), 1)
        self.assertEqual((self.runs("ss_upkg"), self.runs("ss_upkg.linked")), (2, 1))
        self.assertIs(again.linked, sys.modules["ss_upkg.linked"])


class StandardLibraryNameTest(ScopeSafetyCase):
    def test_a_shadow_of_an_imported_standard_module_is_never_executed(self):
        import json

        self.write("inside/json.py", logged("inside shadow"))
        self.write("inside/ss_uses_json.py", logged("inside", "import json\nDUMPED = json.dumps([1])\n"))
        self.install()
        import ss_uses_json

        self.assertIs(sys.modules["json"], json)
        self.assertNotVersioned("json")
        vi.reload("ss_uses_json")
        self.assertEqual((self.runs("json"), self.runs("ss_uses_json")), (0, 2))
        self.assertEqual(ss_uses_json.DUMPED, "[1]")

    def test_a_shadow_of_a_built_in_module_is_never_executed(self):
        name = next((n for n in ("_symtable", "pwd", "_tracemalloc") if n in sys.builtin_module_names), None)
        if name is None:
            self.skipTest("no suitable built-in module in this interpreter")
        self.write(f"inside/{name}.py", logged("inside shadow"))
        self.write("inside/ss_uses_builtin.py", logged("inside", f"import {name}\n"))
        self.install()
        import ss_uses_builtin

        self.assertEqual(sys.modules[name].__spec__.origin, "built-in")
        self.assertNotVersioned(name)
        vi.reload("ss_uses_builtin")
        self.assertEqual((self.runs(name), self.runs("ss_uses_builtin")), (0, 2))
        self.assertIs(ss_uses_builtin.__dict__[name], sys.modules[name])

    def test_a_shadow_found_first_on_sys_path_is_a_versioned_user_module(self):
        name = "colorsys"  # pure Python, imported by nothing here; the sandbox restores sys.modules
        sys.modules.pop(name, None)
        path = self.write(f"inside/{name}.py", logged("inside shadow", "VERSION = 1\n"))
        self.write("inside/ss_uses_colorsys.py", logged("inside", f"import {name}\n"))
        self.install()
        import ss_uses_colorsys

        module = sys.modules[name]
        self.assertEqual(module.__file__, path)
        self.assertFalse(hasattr(module, "rgb_to_hsv"), "the standard library file ran")
        self.assertEqual(vi.generation(name), 1)
        self.write(f"inside/{name}.py", logged("inside shadow", "VERSION = 2\n"))
        report = vi.reload(name, dependents="all")
        self.assertEqual(report.reloaded, (name, "ss_uses_colorsys"))
        self.assertEqual((module.VERSION, self.runs(name), self.runs("ss_uses_colorsys")), (2, 2, 2))
        self.assertIs(ss_uses_colorsys.colorsys, module)
        self.assertFalse(hasattr(module, "rgb_to_hsv"))


class ExcludeTest(ScopeSafetyCase):
    def test_excluded_modules_are_never_executed_again_by_their_dependents_reloads(self):
        self.write("inside/ss_excl.py", logged("inside, excluded", "VALUE = 1\n"))
        self.write("inside/ss_excl_pkg/__init__.py", logged("inside, excluded"))
        self.write("inside/ss_excl_pkg/sub.py", logged("inside, excluded"))
        self.write("inside/ss_dep.py", logged("inside", "import ss_excl\nimport ss_excl_pkg.sub\n"
                                                          "from ss_excl import VALUE\n"))
        self.write("inside/ss_top.py", logged("inside", "import ss_dep\n"))
        self.install(exclude=["ss_excl", "ss_excl_pkg"])
        import ss_top

        excluded = {name: sys.modules[name] for name in ("ss_excl", "ss_excl_pkg", "ss_excl_pkg.sub")}
        for name in excluded:
            self.assertNotVersioned(name)
        self.edit_everything("inside/ss_excl.py", "inside/ss_excl_pkg/sub.py", "inside/ss_dep.py")
        self.assertEqual(vi.changed(), ["ss_dep"])
        self.assertEqual(vi.reload_changed(dependents="all").reloaded, ("ss_dep", "ss_top"))
        for _ in range(3):
            vi.reload("ss_dep", dependents="all")
        vi.reload("ss_top")
        for name, module in excluded.items():
            with self.subTest(name=name):
                self.assertEqual(self.runs(name), 1, f"{name} (excluded) was executed again")
                self.assertIs(sys.modules[name], module)
                self.assertFalse(hasattr(module, "EDITED"))
        self.assertEqual((self.runs("ss_dep"), self.runs("ss_top")), (5, 6))
        self.assertIs(ss_top.ss_dep.ss_excl, excluded["ss_excl"])

    def test_an_excluded_module_is_not_a_dependent_of_what_it_imports(self):
        self.write("inside/ss_inner.py", logged("inside", "def answer():\n    return 1\n"))
        self.write("inside/ss_excl_user.py", logged("inside, excluded", "import ss_inner\n"
                                                                        "from ss_inner import answer\n"))
        self.install(exclude=["ss_excl_user"])
        import ss_excl_user

        self.write("inside/ss_inner.py", logged("inside", "def answer():\n    return 2\n"))
        self.assertEqual(vi.reload("ss_inner").reloaded, ("ss_inner",))
        self.assertEqual((self.runs("ss_inner"), self.runs("ss_excl_user")), (2, 1))
        self.assertEqual((ss_excl_user.answer(), ss_excl_user.ss_inner.answer()), (2, 2))


if __name__ == "__main__":
    unittest.main()
