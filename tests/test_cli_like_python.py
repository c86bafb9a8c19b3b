"""``python -m versioned_import run`` behaves like ``python`` for the program it runs.

Each test runs the same program both ways, in subprocesses, and compares what
``python`` itself does with what ``run`` does: output, tracebacks, messages,
exit codes and death by SIGINT.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

import versioned_import as vi
from tests.support import REPO, WAIT, Sandbox
from versioned_import._cli.main import UsageError, parse_run
from versioned_import._cli.run import Program

SHOW = """\
import json, os, sys
print(json.dumps({"file": globals().get("__file__"), "argv": sys.argv, "path0": sys.path[0],
                  "name": __name__, "spec": type(__spec__).__name__, "spec_name": getattr(__spec__, "name", None),
                  "loader": type(__loader__).__name__ if not isinstance(__loader__, type) else __loader__.__name__,
                  "main_is_me": sys.modules["__main__"].__dict__ is globals(), "names": sorted(globals())}))
"""


class LikePythonCase(Sandbox):
    def environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([REPO, environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return environment

    def both(self, *args: str, stdin: str | None = None) -> tuple[subprocess.CompletedProcess[str], ...]:
        """Run ``python ARGS`` and ``python -m versioned_import run ARGS`` in the sandbox; return both results."""
        results = []
        for prefix in ([], ["-m", "versioned_import", "run"]):
            results.append(subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True,
                                          timeout=WAIT, env=self.environment(), cwd=self.root, input=stdin,
                                          stdin=None if stdin is not None else subprocess.DEVNULL))
        return tuple(results)

    def assertSameAsPython(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        plain, ours = self.both(*args, stdin=stdin)
        self.assertEqual((ours.returncode, ours.stdout, ours.stderr), (plain.returncode, plain.stdout, plain.stderr),
                         f"run {' '.join(args)} differs from python")
        return ours


class LikePythonTest(LikePythonCase):
    def test_a_failing_script_shows_pythons_traceback(self):
        self.write("lp_fail.py", "def f():\n    raise RuntimeError('bad')\n\nf()\n")
        result = self.assertSameAsPython("lp_fail.py")
        self.assertEqual(result.returncode, 1)
        self.assertNotIn("versioned_import", result.stderr)
        self.assertNotIn("runpy", result.stderr)

    def test_a_versioned_module_failing_at_import_shows_pythons_traceback(self):
        self.write("lp_helper.py", "x = 1\nraise ValueError('at import')\n")
        self.write("lp_boom.py", "import lp_helper\n")
        result = self.assertSameAsPython("lp_boom.py")
        self.assertIn("lp_helper.py\", line 2", result.stderr)
        # ... while the module really was versioned (an import that succeeds is a proxy).
        self.write("lp_ok.py", "VALUE = 1\n")
        self.write("lp_check.py", "import lp_ok, versioned_import as vi\nprint(vi.generation('lp_ok'))\n")
        _, ours = self.both("lp_check.py")
        self.assertEqual(ours.stdout, "1\n", ours.stderr)

    def test_a_chained_exception_shows_pythons_traceback(self):
        self.write("lp_chain.py", "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    raise KeyError('k') from e\n")
        self.assertSameAsPython("lp_chain.py")

    def test_the_script_sees_what_python_gives_it(self):
        self.write("lp_show.py", SHOW)
        result = self.assertSameAsPython("lp_show.py", "a", "--flag", "-m", "x")
        self.assertIn(os.path.join(self.root, "lp_show.py"), result.stdout)  # __file__ is absolute
        os.makedirs(os.path.join(self.root, "sub"))
        self.write("sub/lp_show2.py", SHOW)
        self.assertSameAsPython(os.path.join("sub", "lp_show2.py"))

    def test_the_loader_is_pythons(self):
        loader = "print(__loader__ if isinstance(__loader__, type) else type(__loader__), __spec__)\n"
        self.write("lp_loader.py", loader)
        self.assertSameAsPython("lp_loader.py")
        self.assertSameAsPython("-c", loader)
        self.assertSameAsPython("-", stdin=loader)

    def test_dash_c(self):
        self.assertSameAsPython("-c", SHOW, "x", "--y")
        self.assertSameAsPython("-c", "import sys\nprint(sys.argv)\n1/0\n", "arg")

    def test_stdin(self):
        self.assertSameAsPython("-", "x", stdin=SHOW)

    def test_dash_m(self):
        self.write("lp_pkg/__init__.py", "")
        self.write("lp_pkg/main.py", SHOW)
        self.write("lp_pkg/bad.py", "def f():\n    raise RuntimeError('bad')\n\nf()\n")
        self.assertSameAsPython("-m", "lp_pkg.main", "x", "--preload", "-w", "2", "app:app")
        self.assertSameAsPython("-m", "lp_pkg.bad")
        self.write("lp_pkg/__main__.py", SHOW)  # a package: its __main__ runs, the package is versioned
        self.assertSameAsPython("-m", "lp_pkg")
        self.write("lp_pkg/check.py", "import sys, lp_pkg, versioned_import as vi\n"
                                      "print(vi.generation(lp_pkg), type(sys.modules['__main__'].__loader__).__name__)\n")
        _, ours = self.both("-m", "lp_pkg.check")
        self.assertEqual(ours.stdout, "1 SourceFileLoader\n", ours.stderr)

    def test_missing_module_and_missing_script_are_pythons_one_line_messages(self):
        for args in (["-m", "lp_nosuchmod"], ["lp_nosuch.py"], ["-m", "lp_nosuchpkg.sub"], ["lp_nodir/x.py"]):
            with self.subTest(args=args):
                result = self.assertSameAsPython(*args)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
                self.assertNotEqual(result.returncode, 0)

    def test_a_missing_script_names_the_interpreter_as_it_was_invoked(self):
        # Python says "python: can't open file ..." when run as `python`, not the full path of the executable.
        results = []
        for prefix in ([], ["-m", "versioned_import", "run"]):
            results.append(subprocess.run(["python", *prefix, "lp_missing.py"], executable=sys.executable,
                                          capture_output=True, text=True, timeout=WAIT, env=self.environment(),
                                          cwd=self.root, stdin=subprocess.DEVNULL))
        plain, ours = results
        self.assertTrue(plain.stderr.startswith("python: can't open file"), plain.stderr)
        self.assertEqual((ours.returncode, ours.stderr), (plain.returncode, plain.stderr))

    def test_exit_codes_and_exit_messages(self):
        self.write("lp_exit.py", "import sys\nsys.exit(int(sys.argv[1]) if sys.argv[1].isdigit() else sys.argv[1])\n")
        for code in ("0", "3", "a message"):
            with self.subTest(code=code):
                self.assertSameAsPython("lp_exit.py", code)

    def test_pickling_a_class_of_main(self):
        self.write("lp_pickle.py", "import pickle\nclass C: pass\nprint(type(pickle.loads(pickle.dumps(C()))).__name__)\n")
        self.assertEqual(self.assertSameAsPython("lp_pickle.py").stdout, "C\n")

    @unittest.skipIf(sys.platform == "win32", "SIGINT is POSIX")
    def test_ctrl_c_prints_keyboard_interrupt_and_dies_by_the_signal(self):
        self.write("lp_loop.py", """\
            import atexit, sys, time
            atexit.register(lambda: print("atexit ran", flush=True))
            print("buffered output is not lost", end="")
            # Binary: a text-mode open runs Python code (<frozen codecs>) after the file exists, and a
            # signal landing there would add that frame to one run's traceback and not the other's.
            open(sys.argv[1], "wb").close()
            while True:
                time.sleep(0.01)
        """)
        outcomes = []
        for prefix in ([], ["-m", "versioned_import", "run"]):
            ready = os.path.join(self.root, f"lp_ready{len(outcomes)}")
            process = subprocess.Popen(
                [sys.executable, *prefix, "lp_loop.py", ready], cwd=self.root, env=self.environment(),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                # As from a terminal: a shell running us in the background may have ignored SIGINT.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            self.addCleanup(process.kill)
            deadline = time.monotonic() + WAIT
            while not os.path.exists(ready):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    out, err = process.communicate()
                    self.fail(f"the script never started (exit {process.returncode})\n{out}\n{err}")
                threading.Event().wait(0.01)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=WAIT)
            outcomes.append((process.returncode, out, err))
        plain, ours = outcomes
        self.assertEqual(plain[0], -signal.SIGINT)
        self.assertIn("KeyboardInterrupt", plain[2])

        def where_it_landed(outcome):
            # The signal lands on whichever line of the loop is running (the ready file's, or the
            # sleep): the traceback's frame of the script (with 3.13's carets under its line) may differ
            # between the two runs; the rest may not.
            code, out, err = outcome
            return code, out, re.sub(r'  File ".*lp_loop\.py", line \d+, in <module>\n    .*\n(?:    [~^ ]+\n)?',
                                     "<script frame>\n", err)

        self.assertEqual(where_it_landed(ours), where_it_landed(plain))

    def test_version(self):
        result = self.run_python("-m", "versioned_import", "--version")
        self.assertEqual((result.returncode, result.stdout), (0, f"versioned_import {vi.__version__}\n"))


class RootTest(LikePythonCase):
    """``run --root DIR`` versions DIR and makes it importable, as ``PYTHONPATH=DIR`` would."""

    def setUp(self) -> None:
        super().setUp()
        self.write("src/lp_app/__init__.py", "")
        self.write("src/lp_app/util.py", "VALUE = 'util'\n")
        self.write("src/lp_app/main.py", """\
            import json, os, sys
            import versioned_import as vi
            from lp_app import util
            print(json.dumps({"generation": vi.generation("lp_app.util"), "value": util.VALUE,
                              "path": [os.path.relpath(p) for p in sys.path[:2]], "argv0": os.path.basename(sys.argv[0])}))
        """)

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "versioned_import", "run", *args], capture_output=True, text=True,
                              timeout=WAIT, env=self.environment(), cwd=self.root, stdin=subprocess.DEVNULL)

    def test_a_src_layout_runs_with_root_src(self):
        result = self.run_cli("--root", "src", "-m", "lp_app.main")
        self.assertEqual(result.returncode, 0, result.stderr)
        data = json.loads(result.stdout)
        self.assertEqual((data["generation"], data["value"], data["argv0"]), (1, "util", "main.py"))
        self.assertEqual(data["path"], [".", "src"])  # the program's own entry first, then the root

    def test_a_root_already_on_the_path_is_not_added_again(self):
        result = self.run_cli("--root", "src", "src/lp_app/main.py")  # the script's directory is not the root
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["path"], [os.path.join("src", "lp_app"), "src"])
        result = self.run_cli("--root", ".", "-m", "src.lp_app.util")  # "." is already the program's entry
        self.assertEqual(result.returncode, 0, result.stderr)
        shown = self.run_cli("--root", ".", "-c", "import sys, os; print(sum(os.path.realpath(p or '.') == "
                                                   "os.path.realpath('.') for p in sys.path))")
        self.assertEqual(shown.stdout, "1\n", shown.stderr)

    def test_help_says_a_root_is_made_importable(self):
        result = self.run_cli("--help")
        self.assertIn("made importable", result.stdout)
        self.assertIn("--root src -m app.main", result.stdout)


class ParseRunTest(unittest.TestCase):
    """Everything from the script, ``-m module`` or ``-c command`` on belongs to the program."""

    def test_programs(self):
        cases = {
            ("app.py", "--root", "x"): ([], Program("script", "app.py", ("--root", "x"))),
            ("--root", "a", "--root=b", "-m", "gunicorn", "--preload", "-w", "2", "app:app"):
                (["a", "b"], Program("module", "gunicorn", ("--preload", "-w", "2", "app:app"))),
            ("-mpkg.main", "-m", "x"): ([], Program("module", "pkg.main", ("-m", "x"))),
            ("-c", "print(1)", "-c"): ([], Program("command", "print(1)", ("-c",))),
            ("--interval=2", "-", "a"): ([], Program("stdin", "-", ("a",))),
            ("--", "-odd.py", "b"): ([], Program("script", "-odd.py", ("b",))),
        }
        for arguments, (roots, program) in cases.items():
            with self.subTest(arguments=arguments):
                options = parse_run(arguments)
                assert options is not None
                self.assertEqual((options.roots, options.program), (roots, program))
        self.assertEqual(parse_run(["--interval", "2", "x.py"]).interval, 2.0)  # type: ignore[union-attr]
        self.assertIsNone(parse_run(["--help", "x.py"]))

    def test_errors(self):
        for arguments in ([], ["--root"], ["--interval", "0", "x.py"], ["--interval", "soon", "x.py"], ["-m"],
                          ["--bogus", "x.py"], ["--"]):
            with self.subTest(arguments=arguments), self.assertRaises(UsageError):
                parse_run(arguments)


if __name__ == "__main__":
    unittest.main()
