"""The IPython extension: ``%load_ext versioned_import``.

The extension's logic is tested against a minimal stand-in shell (the three
things it uses of IPython's); the real thing is tested in a subprocess running
IPython's ``InteractiveShell`` when IPython is installed (CI's dev venv has it).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import io
import logging
import os
import re
import sys
import textwrap
import threading
import unittest
from collections.abc import Callable
from typing import Any

import versioned_import as vi
from tests.support import Sandbox
from tests.test_fork import ForkCase
from versioned_import._core.state import state
from versioned_import._integrations import ipython as _ipython


class _Events:
    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callable[..., Any]]] = {}

    def register(self, event: str, callback: Callable[..., Any]) -> None:
        self.callbacks.setdefault(event, []).append(callback)

    def unregister(self, event: str, callback: Callable[..., Any]) -> None:
        self.callbacks[event].remove(callback)


class _MagicsManager:
    def __init__(self) -> None:
        self.magics: dict[str, dict[str, Callable[[str], object]]] = {"line": {}, "cell": {}}


class StandInShell:
    """What the extension uses of IPython's InteractiveShell, and a run_cell that fires pre_run_cell."""

    def __init__(self) -> None:
        self.events = _Events()
        self.magics_manager = _MagicsManager()

    def register_magic_function(self, function: Callable[[str], object], magic_kind: str, magic_name: str) -> None:
        self.magics_manager.magics[magic_kind][magic_name] = function

    def run_cell(self, cell: Callable[[], object]) -> object:
        for callback in self.events.callbacks.get("pre_run_cell", []):
            callback(None)
        return cell()

    def magic(self, name: str, line: str = "") -> object:
        return self.run_cell(lambda: self.magics_manager.magics["line"][name](line))


class ExtensionTest(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        cwd = os.getcwd()
        os.chdir(self.root)
        self.addCleanup(os.chdir, cwd)
        self.shell = StandInShell()
        self.out, self.err = io.StringIO(), io.StringIO()
        self.extension = _ipython.Extension(self.shell, self.out, self.err)
        self.addCleanup(self.extension.unload)

    def lines(self) -> tuple[list[str], list[str]]:
        out, err = self.out.getvalue().splitlines(), self.err.getvalue().splitlines()
        self.out.seek(0), self.out.truncate(), self.err.seek(0), self.err.truncate()
        return out, err

    def test_load_installs_the_finder_for_the_working_directory(self):
        self.write("ipx_a.py", "VALUE = 1\n")
        self.extension.load()
        self.assertIs(sys.meta_path[0], state.finder)
        self.assertEqual(state.finder.scope.roots, (self.root,))
        module = importlib.import_module("ipx_a")
        self.assertEqual(vi.generation(module), 1)
        self.assertEqual(set(self.shell.magics_manager.magics["line"]), {"vi_reload", "vi_rollback", "vi_generations"})

    def test_load_keeps_a_scope_configured_before(self):
        os.makedirs(os.path.join(self.root, "src"))
        vi.install(roots=[os.path.join(self.root, "src")])
        self.extension.load()
        self.assertEqual(state.finder.scope.roots, (os.path.join(self.root, "src"),))
        self.extension.unload()
        self.assertIsNotNone(state.finder, "unload removed a finder it did not install")

    def test_modules_imported_before_load_are_versioned_and_follow_edits(self):
        self.write("ipx_early.py", "VALUE = 1\n\ndef get():\n    return VALUE\n")
        self.write("ipx_early_user.py", "import ipx_early\n\ndef twice():\n    return ipx_early.get() * 2\n")
        early = importlib.import_module("ipx_early")  # before %load_ext: a plain module
        user = importlib.import_module("ipx_early_user")
        held = early.get
        self.extension.load()
        self.assertEqual(self.lines(), (["[versioned_import] versioning 2 modules imported before %load_ext: "
                                         "ipx_early, ipx_early_user"], []))
        self.assertEqual((vi.generation(early), vi.generation(user)), (1, 1))
        self.write("ipx_early.py", "VALUE = 2\n\ndef get():\n    return VALUE * 10\n")
        seen = self.shell.run_cell(lambda: (early.VALUE, held(), user.twice()))
        self.assertEqual(seen, (2, 20, 40))
        self.assertIs(sys.modules["ipx_early"], early)
        out, err = self.lines()
        self.assertEqual(err, [])
        # The user's import-time code used nothing that changed: it keeps its generation (G6).
        self.assertRegex(out[0], r"reloaded ipx_early \(gen 2\) in")
        self.assertEqual(vi.generation(user), 1)

    def test_a_module_imported_before_load_that_cannot_be_versioned_is_named(self):
        path = self.write("ipx_hooked.py", "VALUE = 1\n")

        class OtherLoader(importlib.machinery.SourceFileLoader):
            """An import hook's loader: its output is not the source file's."""

        spec = importlib.util.spec_from_file_location("ipx_hooked", path, loader=OtherLoader("ipx_hooked", path))
        module = importlib.util.module_from_spec(spec)
        sys.modules["ipx_hooked"] = module
        spec.loader.exec_module(module)
        self.extension.load()
        out, err = self.lines()
        self.assertEqual(out, [])
        self.assertEqual(len(err), 1, err)
        self.assertIn("ipx_hooked was imported before %load_ext and cannot be versioned", err[0])
        self.assertIn("OtherLoader", err[0])
        self.assertRaises(vi.NotVersionedError, vi.generation, "ipx_hooked")

    def test_a_changed_module_is_reloaded_before_the_cell_with_one_line(self):
        self.write("ipx_b.py", "VALUE = 1\n")
        self.extension.load()
        module = importlib.import_module("ipx_b")
        self.assertEqual(self.shell.run_cell(lambda: module.VALUE), 1)
        self.assertEqual(self.lines(), ([], []))
        self.write("ipx_b.py", "VALUE = 2\n")
        seen = self.shell.run_cell(lambda: (module.VALUE, self.out.getvalue()))
        self.assertEqual(seen[0], 2)
        self.assertRegex(seen[1], r"^\[versioned_import\] reloaded ipx_b \(gen 2\) in [\d.]+ ms\n$")  # before the cell
        self.assertEqual(len(self.lines()[0]), 1)

    def test_a_refusal_is_one_line_once_and_nothing_changes(self):
        self.write("ipx_c.py", "VALUE = 1\n")
        self.extension.load()
        module = importlib.import_module("ipx_c")
        self.write("ipx_c.py", "VALUE = (\n")
        self.assertEqual(self.shell.run_cell(lambda: module.VALUE), 1)
        out, err = self.lines()
        self.assertEqual(out, [])
        self.assertEqual(len(err), 1, err)
        self.assertIn("ipx_c.py:1: SyntaxError", err[0])
        self.shell.run_cell(lambda: None)
        self.assertEqual(self.lines(), ([], []), "the same refusal was printed twice")
        self.write("ipx_c.py", "VALUE = 3\n")
        self.assertEqual(self.shell.run_cell(lambda: module.VALUE), 3)

    def test_a_dependent_failing_refuses_the_whole_reload(self):
        self.write("ipx_d.py", "VALUE = 1\n")
        self.write("ipx_e.py", "from ipx_d import VALUE\nassert VALUE < 2, 'too big'\n")
        self.extension.load()
        d, e = importlib.import_module("ipx_d"), importlib.import_module("ipx_e")
        self.write("ipx_d.py", "VALUE = 2\n")
        self.assertEqual(self.shell.run_cell(lambda: (d.VALUE, e.VALUE, vi.generation(d))), (1, 1, 1))
        self.assertIn("too big", self.lines()[1][0])

    def test_rollback_then_the_next_cell_keeps_the_rolled_back_code(self):
        self.write("ipx_f.py", "VALUE = 1\n")
        self.extension.load()
        module = importlib.import_module("ipx_f")
        self.write("ipx_f.py", "VALUE = 2\n")
        self.shell.run_cell(lambda: None)
        self.shell.magic("vi_rollback", "ipx_f")
        self.assertEqual(self.shell.run_cell(lambda: module.VALUE), 1)
        out, _ = self.lines()
        self.assertEqual([line.split(" ipx_f")[0] for line in out],
                         ["[versioned_import] reloaded", "[versioned_import] rolled back"])
        self.shell.magic("vi_reload", "")  # what changed: nothing, the file is held back by the rollback
        self.assertEqual(module.VALUE, 1)
        self.assertEqual(self.lines()[0][-1], "[versioned_import] nothing changed (held back by a rollback: ipx_f; "
                                              "%vi_reload ipx_f takes the file)")
        self.shell.magic("vi_reload", "ipx_f")  # asked for by name: the file's code comes back
        self.assertEqual(module.VALUE, 2)
        self.write("ipx_f.py", "VALUE = 3\n")  # and a new save is taken before the next cell as usual
        self.assertEqual(self.shell.run_cell(lambda: module.VALUE), 3)

    def test_generations_and_reload_magics(self):
        self.write("ipx_g.py", "VALUE = 1\n")
        self.extension.load()
        importlib.import_module("ipx_g")
        self.shell.magic("vi_generations")
        out, _ = self.lines()
        self.assertEqual(out, [f"ipx_g  gen 1    {os.path.join(self.root, 'ipx_g.py')}"])
        self.shell.magic("vi_reload", "ipx_g")
        self.assertIn("reloaded ipx_g (gen 2)", self.lines()[0][0])
        self.shell.magic("vi_reload", "ipx_nosuch")
        out, err = self.lines()
        self.assertEqual(len(err), 1)
        self.assertIn("'ipx_nosuch'", err[0])

    def test_reports_from_other_threads_wait_for_the_next_cell(self):
        self.write("ipx_h.py", "VALUE = 1\n")
        self.extension.load()
        importlib.import_module("ipx_h")
        self.write("ipx_h.py", "VALUE = 2\n")
        thread = threading.Thread(target=vi.reload, args=("ipx_h",))
        thread.start()
        thread.join()
        self.assertEqual(self.lines(), ([], []), "a report from another thread printed at once (into the prompt)")
        self.shell.run_cell(lambda: None)
        self.assertEqual(len(self.lines()[0]), 1)

    def test_library_log_records_wait_for_the_next_cell_too(self):
        self.extension.load()
        thread = threading.Thread(target=logging.getLogger("versioned_import").error, args=("watcher trouble",))
        thread.start()
        thread.join()
        refusal = threading.Thread(target=logging.getLogger("versioned_import").error, args=("refused",),
                                   kwargs={"extra": {"refusal": True}})
        refusal.start()
        refusal.join()
        self.assertEqual(self.lines(), ([], []))
        self.shell.run_cell(lambda: None)
        self.assertEqual(self.lines(), ([], ["[versioned_import] watcher trouble"]))
        self.extension.unload()
        self.assertNotIn(self.extension._log_handler, logging.getLogger("versioned_import").handlers)

    def test_unload_removes_what_load_added(self):
        self.extension.load()
        self.extension.unload()
        self.assertEqual(self.shell.events.callbacks["pre_run_cell"], [])
        self.assertEqual(self.shell.magics_manager.magics["line"], {})
        self.assertIsNone(state.finder)
        self.assertEqual(state.subscribers, [])

    def test_the_package_is_the_extension(self):
        self.assertIs(vi.load_ipython_extension, _ipython.load_ipython_extension)
        self.assertIs(vi.unload_ipython_extension, _ipython.unload_ipython_extension)
        shell = StandInShell()
        vi.load_ipython_extension(shell)
        vi.load_ipython_extension(shell)  # loading twice adds nothing
        self.assertEqual(len(shell.events.callbacks["pre_run_cell"]), 1)
        vi.unload_ipython_extension(shell)
        self.assertEqual(shell.events.callbacks["pre_run_cell"], [])

    def test_importing_the_package_does_not_import_ipython(self):
        result = self.run_python("-c", "import sys, versioned_import\n"
                                       "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                                       "('IPython', 'traitlets', 'prompt_toolkit')))")
        self.assertProcessOK(result)
        self.assertEqual(result.stdout, "[]\n")


DRIVE = """\
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = ["%load_ext versioned_import", "import ipx_real", "ipx_real.VALUE",
         "open('ipx_real.py', 'w').write('VALUE = 2\\\\n')", "print('cell output', ipx_real.VALUE)",
         "open('ipx_real.py', 'w').write('VALUE = (\\\\n')", "print('after broken', ipx_real.VALUE)",
         "print('again', ipx_real.VALUE)", "%vi_generations", "%vi_rollback ipx_real", "print(ipx_real.VALUE)",
         "%unload_ext versioned_import", "import sys; print(type(sys.meta_path[0]).__name__ == 'VersionedFinder')"]
for cell in cells:
    print(">>>", cell, flush=True)
    shell.run_cell(cell, store_history=True)
"""


DRIVE_EARLY = """\
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = ["import ipx_first", "%load_ext versioned_import", "open('ipx_first.py', 'w').write('VALUE = 2\\\\n')",
         "print('cell output', ipx_first.VALUE)"]
for cell in cells:
    print(">>>", cell, flush=True)
    shell.run_cell(cell, store_history=True)
"""


class KernelWithWorkersTest(ForkCase):
    """A kernel with the control channel on that forked workers decides for all of them (G14), like the watcher."""

    def test_cells_and_magics_reload_and_roll_back_the_kernel_and_its_workers_together(self):
        self.write("ipw_mod.py", "import os\nVALUE = 1\n")
        outcome = self.scenario("""
            import io
            from tests.test_ipython import StandInShell
            from versioned_import._integrations import ipython as _ipython
            from versioned_import._runtime import coordinate as _coordinate
            vi.install(roots=[ROOT], control=True)
            import ipw_mod
            shell, err = StandInShell(), io.StringIO()
            _ipython.Extension(shell, io.StringIO(), err).load()
            children = []
            for _ in range(2):
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(w)
                    os.read(r, 1)  # a worker: its channel answers until the kernel lets it go
                    os._exit(0)
                os.close(r)
                children.append((pid, w))
            wait_for(lambda: len(_coordinate.status(os.getpid())["processes"]) == 3)

            def generations():
                return sorted(p["modules"]["ipw_mod"]["generation"] for p in _coordinate.status(os.getpid())["processes"])

            write("ipw_mod.py", "import os\\nVALUE = 2\\n")
            shell.run_cell(lambda: None)
            edited = generations()
            write(f"refuse-{children[0][0]}", "")  # only this worker refuses the next edit
            write("ipw_mod.py", "import os\\nVALUE = 3\\nif os.path.exists(f'refuse-{os.getpid()}'):\\n"
                                "    raise RuntimeError('this worker says no')\\n")
            shell.run_cell(lambda: None)
            refused = generations(), ipw_mod.VALUE, "this worker says no" in err.getvalue()
            shell.magic("vi_rollback", "ipw_mod")
            rolled_back = generations(), ipw_mod.VALUE
            for pid, w in children:
                os.write(w, b"x")
                reap(pid)
            print(json.dumps({"edited": edited, "refused": refused, "rolled back": rolled_back}))
            """)
        self.assertEqual(outcome, {"edited": [2, 2, 2], "refused": [[2, 2, 2], 2, True],
                                   "rolled back": [[3, 3, 3], 1]})


@unittest.skipIf(importlib.util.find_spec("IPython") is None,
                 "IPython is not installed: `pip install ipython` to test the extension against it")
class RealIPythonTest(Sandbox):
    def test_modules_imported_before_load_ext_are_reloaded(self):
        self.write("ipx_first.py", "VALUE = 1\n")
        self.write("drive_early.py", DRIVE_EARLY)
        result = self.run_python("drive_early.py")
        self.assertProcessOK(result)
        transcript = textwrap.dedent("""\
            >>> import ipx_first
            >>> %load_ext versioned_import
            [versioned_import] versioning 1 module imported before %load_ext: ipx_first
            >>> open('ipx_first.py', 'w').write('VALUE = 2\\n')
            Out[3]: 10
            >>> print('cell output', ipx_first.VALUE)
            [versioned_import] reloaded ipx_first (gen 2) in MS
            cell output 2
            """)
        self.assertEqual(re.sub(r"in [\d.]+ ms", "in MS", result.stdout), transcript)
        self.assertEqual(result.stderr, "")

    def test_in_a_real_shell(self):
        self.write("ipx_real.py", "VALUE = 1\n")
        self.write("drive.py", DRIVE)
        result = self.run_python("drive.py")
        self.assertProcessOK(result)
        transcript = textwrap.dedent(f"""\
            >>> %load_ext versioned_import
            >>> import ipx_real
            >>> ipx_real.VALUE
            Out[3]: 1
            >>> open('ipx_real.py', 'w').write('VALUE = 2\\n')
            Out[4]: 10
            >>> print('cell output', ipx_real.VALUE)
            [versioned_import] reloaded ipx_real (gen 2) in MS
            cell output 2
            >>> open('ipx_real.py', 'w').write('VALUE = (\\n')
            Out[6]: 10
            >>> print('after broken', ipx_real.VALUE)
            after broken 2
            >>> print('again', ipx_real.VALUE)
            again 2
            >>> %vi_generations
            ipx_real  gen 2    {os.path.join(self.root, 'ipx_real.py')}
            >>> %vi_rollback ipx_real
            [versioned_import] rolled back ipx_real (gen 3) in MS
            >>> print(ipx_real.VALUE)
            1
            >>> %unload_ext versioned_import
            >>> import sys; print(type(sys.meta_path[0]).__name__ == 'VersionedFinder')
            False
            """)
        self.assertEqual(re.sub(r"in [\d.]+ ms", "in MS", result.stdout), transcript)
        self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
        self.assertRegex(result.stderr, r"^\[versioned_import\] refused: .*ipx_real\.py:1: SyntaxError")


if __name__ == "__main__":
    unittest.main()
