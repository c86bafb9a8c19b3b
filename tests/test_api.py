"""The public surface: exactly DESIGN.md's API table, typed, documented, owned by the package."""

import inspect
import os
import subprocess
import sys
import unittest

import versioned_import as vi
from tests.support import Sandbox

API = {
    "install", "uninstall", "reload", "reload_changed", "changed", "generation", "rollback", "unload",
    "pinned", "on_reload", "watch", "stop_watching", "wsgi_app", "asgi_app", "ReloadReport", "Replaced", "ReloadError",
    "NotVersionedError",
    "hot", "Hot",  # the module-facing side-effects API (G17)
}


class PublicSurfaceTest(unittest.TestCase):
    def test_all_is_the_api_table(self):
        self.assertEqual(set(vi.__all__), API)

    def test_public_objects_belong_to_the_package(self):
        for name in vi.__all__:
            with self.subTest(name=name):
                self.assertEqual(getattr(vi, name).__module__, "versioned_import")

    def test_public_callables_are_documented_and_typed(self):
        for name in vi.__all__:
            obj = getattr(vi, name)
            with self.subTest(name=name):
                self.assertTrue(inspect.getdoc(obj), f"{name} has no docstring")
                if inspect.isfunction(obj):
                    signature = inspect.signature(obj)
                    self.assertIsNot(signature.return_annotation, inspect.Signature.empty, name)
                    for parameter in signature.parameters.values():
                        self.assertIsNot(parameter.annotation, inspect.Parameter.empty, f"{name}({parameter.name})")

    def test_py_typed_ships(self):
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(vi.__file__), "py.typed")))

    def test_errors_subclass_what_users_catch(self):
        self.assertTrue(issubclass(vi.ReloadError, ImportError))
        self.assertTrue(issubclass(vi.NotVersionedError, vi.ReloadError))

    def test_implementation_modules_are_private(self):
        package = os.path.dirname(vi.__file__)
        for entry in os.listdir(package):
            if entry.endswith(".py") and entry not in ("__init__.py", "__main__.py"):
                self.assertTrue(entry.startswith("_"), entry)


class ImportDoesNothingTest(Sandbox):
    def test_importing_the_package_installs_nothing(self):
        result = self.run_python("-c", "import sys; before = list(sys.meta_path); import versioned_import; "
                                 "assert sys.meta_path == before, sys.meta_path; print('ok')")
        self.assertProcessOK(result)

    def test_importing_the_package_imports_no_framework(self):
        # Stand-in packages that would announce an import: versioned_import must import none of them.
        frameworks = ("django", "flask", "werkzeug", "fastapi", "starlette", "pydantic", "uvicorn", "gunicorn")
        for name in frameworks:
            self.write(f"{name}/__init__.py", "raise SystemExit('imported ' + __name__)\n")
        result = self.run_python("-c", "import sys; import versioned_import as vi; vi.install(); "
                                 f"vi.reload_changed(); print(sorted(set(sys.modules) & set({frameworks!r})))",
                                 env={"PYTHONPATH": os.pathsep.join([self.root, os.path.dirname(os.path.dirname(
                                     os.path.abspath(vi.__file__)))])})
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.strip(), "[]")

    def test_install_twice_and_uninstall_twice_are_harmless(self):
        before = list(sys.meta_path)
        self.install()
        self.install()
        self.assertEqual(sum(type(f).__name__ == "VersionedFinder" for f in sys.meta_path), 1)
        self.assertEqual(type(sys.meta_path[0]).__name__, "VersionedFinder")
        vi.uninstall()
        vi.uninstall()
        self.assertEqual(sys.meta_path, before)


if __name__ == "__main__":
    unittest.main()


OLD_PYTHON = os.path.join(os.path.expanduser(os.environ.get("PYENV_ROOT", "~/.pyenv")), "versions", "3.10.13",
                          "bin", "python")


class UnsupportedPythonTest(Sandbox):
    """Before 3.11 the package says so in one line, instead of failing somewhere inside."""

    MESSAGE = "versioned_import needs Python 3.11 or newer; this is Python 3.10.9"

    def test_the_import_names_the_version_needed(self):
        result = self.run_python("-c", "import sys; sys.version_info = (3, 10, 9, 'final', 0)\n"
                                       "try:\n    import versioned_import\n"
                                       "except ImportError as e:\n    print(e, e.name)\n")
        self.assertProcessOK(result)
        self.assertEqual(result.stdout, f"{self.MESSAGE} versioned_import\n")

    @unittest.skipUnless(os.path.exists(OLD_PYTHON), "no Python 3.10 at " + OLD_PYTHON)
    def test_a_real_python_3_10(self):
        environment = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
        for args in (["-c", "import versioned_import"], ["-m", "versioned_import", "--version"]):
            with self.subTest(args=args):
                result = subprocess.run([OLD_PYTHON, *args], capture_output=True, text=True, env=environment,
                                        cwd=self.root, timeout=60, stdin=subprocess.DEVNULL)
                self.assertEqual(result.returncode, 1)
                self.assertIn("versioned_import needs Python 3.11 or newer; this is Python 3.10", result.stderr)
                self.assertNotIn("co_qualname", result.stderr)
