"""Running a real program: on_reload subscribers, pinned generations (G5, G12), the command line, the demo."""

import asyncio
import importlib
import json
import logging
import os
import sys
import tempfile
import textwrap
import threading
import types
import unittest

import versioned_import as vi
from tests.support import REPO, Sandbox
from versioned_import._core import proxy as _proxy

WAIT = 10.0  # the most a test waits for another thread or process (seconds): a bound, never a timing

PIN_V1 = """\
X = 1


def f():
    return ("v1", X)
"""

PIN_V2 = """\
X = 2


def f():
    return ("v2", X)
"""


# -- subscribers ----------------------------------------------------------------------

class SubscriberTest(Sandbox):
    def test_callbacks_get_every_publish_refusal_and_rollback(self):
        self.write("rt_sub.py", "VALUE = 1\n")
        self.install()
        import rt_sub

        seen = []

        def callback(report):
            # Called after the publish: the module is already the new generation.
            seen.append((report, vi.generation("rt_sub"), rt_sub.VALUE))

        unsubscribe = vi.on_reload(callback)
        self.assertTrue(callable(unsubscribe))

        self.write("rt_sub.py", "VALUE = 2\n")
        report = vi.reload("rt_sub")
        self.assertEqual(len(seen), 1)
        self.assertIs(seen[0][0], report)
        self.assertTrue(report.ok)
        self.assertIsNone(report.error)
        self.assertEqual(report.reloaded, ("rt_sub",))
        self.assertEqual(report.generations, {"rt_sub": 2})
        self.assertEqual(seen[0][1:], (2, 2))

        path = self.write("rt_sub.py", "VALUE = 3\nraise KeyError('nope')\n")
        with self.assertRaises(vi.ReloadError) as refused:
            vi.reload("rt_sub")
        self.assertEqual(len(seen), 2)
        failed = seen[1][0]
        self.assertFalse(failed.ok)
        self.assertIs(failed.error, refused.exception)
        self.assertEqual(failed.error.module, "rt_sub")
        self.assertEqual(failed.error.path, path)
        self.assertIsInstance(failed.error.__cause__, KeyError)
        self.assertEqual(failed.reloaded, ())
        self.assertEqual(seen[1][1:], (2, 2))

        number = vi.rollback("rt_sub")
        self.assertEqual(len(seen), 3)
        rolled = seen[2][0]
        self.assertTrue(rolled.ok)
        self.assertEqual(rolled.reloaded, ("rt_sub",))
        self.assertEqual(rolled.generations, {"rt_sub": number})
        self.assertEqual(seen[2][1:], (number, 1))

        self.write("rt_sub.py", "VALUE = 4\n")
        vi.reload_changed()
        self.assertEqual(len(seen), 4)
        self.assertEqual(seen[3][2], 4)
        importlib.reload(rt_sub)  # routes to vi.reload: a publish like any other
        self.assertEqual(len(seen), 5)
        self.assertTrue(seen[4][0].ok)

        unsubscribe()
        unsubscribe()  # twice is harmless
        self.write("rt_sub.py", "VALUE = 5\n")
        vi.reload("rt_sub")
        self.assertEqual(rt_sub.VALUE, 5)
        self.assertEqual(len(seen), 5)

    def test_one_report_per_publish_of_a_module_and_its_dependents(self):
        self.write("rt_sub_base.py", "N = 1\n")
        self.write("rt_sub_user.py", "from rt_sub_base import N\nM = N * 10\n")
        self.install()
        import rt_sub_user

        reports = []
        self.addCleanup(vi.on_reload(reports.append))
        self.write("rt_sub_base.py", "N = 2\n")
        vi.reload("rt_sub_base")
        self.assertEqual(len(reports), 1)
        self.assertEqual(reports[0].reloaded, ("rt_sub_base", "rt_sub_user"))
        self.assertEqual(reports[0].generations, {"rt_sub_base": 2, "rt_sub_user": 2})
        self.assertEqual(rt_sub_user.M, 20)

    def test_a_raising_callback_is_logged_and_breaks_nothing(self):
        self.write("rt_sub_raise.py", "VALUE = 1\n")
        self.install()
        import rt_sub_raise

        calls = []

        def bad(report):
            raise RuntimeError("callback bug")

        self.addCleanup(vi.on_reload(lambda report: calls.append(("first", report.ok))))
        self.addCleanup(vi.on_reload(bad))
        self.addCleanup(vi.on_reload(lambda report: calls.append(("last", report.ok))))

        self.write("rt_sub_raise.py", "VALUE = 2\n")
        with self.assertLogs("versioned_import", logging.ERROR) as logs:
            report = vi.reload("rt_sub_raise")
        self.assertTrue(report.ok)
        self.assertEqual(vi.generation("rt_sub_raise"), 2)
        self.assertEqual(rt_sub_raise.VALUE, 2)
        self.assertEqual(calls, [("first", True), ("last", True)])
        self.assertEqual(len(logs.records), 1)
        self.assertIsInstance(logs.records[0].exc_info[1], RuntimeError)

        # A refusal still raises ReloadError (not the callback's error) and reaches everyone.
        self.write("rt_sub_raise.py", "VALUE = (\n")
        with self.assertLogs("versioned_import", logging.ERROR), self.assertRaises(vi.ReloadError):
            vi.reload("rt_sub_raise")
        self.assertEqual(calls[2:], [("first", False), ("last", False)])
        self.assertEqual(rt_sub_raise.VALUE, 2)

    def test_on_reload_refuses_a_non_callable(self):
        with self.assertRaises(TypeError):
            vi.on_reload("not callable")


# -- pinned generations -----------------------------------------------------------------

def reload_from_another_thread(*names):
    """Publish from a helper thread (not the pinned one) and wait for it."""
    outcome = {}

    def target():
        try:
            outcome["report"] = vi.reload(*names)
        except BaseException as exc:  # handed back to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(WAIT)
    if thread.is_alive():
        raise AssertionError("the reload did not finish")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["report"]


class PinnedCase(Sandbox):
    def setUp(self):
        super().setUp()
        self.write("rt_pin_a.py", PIN_V1)
        self.write("rt_pin_b.py", "from rt_pin_a import X\n\nY = X * 100\n")
        self.install()
        import rt_pin_a
        import rt_pin_b

        self.a, self.b = rt_pin_a, rt_pin_b

    def edit(self):
        self.write("rt_pin_a.py", PIN_V2)

    def assert_fast_again(self):
        if not _proxy.FAST_SWAP:
            return  # the portable proxy mode has no fast exact type to return to
        for name in ("rt_pin_a", "rt_pin_b"):
            self.assertIs(type(sys.modules[name]), types.ModuleType, name)


class PinnedTest(PinnedCase):
    def test_a_pinned_request_sees_the_generation_current_at_entry(self):
        a, b = self.a, self.b
        f_before = a.f
        entered, published = threading.Event(), threading.Event()
        seen, errors = {}, []

        def request():
            try:
                with vi.pinned():
                    seen["entry"] = (a.X, a.f(), b.Y, f_before())
                    entered.set()
                    if not published.wait(WAIT):
                        raise AssertionError("never told about the publish")
                    seen["mid"] = (a.X, a.f(), b.Y, f_before(), vi.generation("rt_pin_a"))
                seen["after"] = (a.X, a.f(), b.Y, f_before())
            except BaseException as exc:
                errors.append(exc)
                entered.set()

        thread = threading.Thread(target=request)
        thread.start()
        self.assertTrue(entered.wait(WAIT))
        self.edit()
        report = reload_from_another_thread("rt_pin_a")
        self.assertEqual(report.reloaded, ("rt_pin_a", "rt_pin_b"))
        # Outside the pin (this thread) the newest is seen while the other thread is still pinned.
        self.assertEqual((a.X, a.f(), b.Y, f_before()), (2, ("v2", 2), 200, ("v2", 2)))
        published.set()
        thread.join(WAIT)
        self.assertFalse(thread.is_alive())
        if errors:
            raise errors[0]
        old, new = (1, ("v1", 1), 100, ("v1", 1)), (2, ("v2", 2), 200, ("v2", 2))
        self.assertEqual(seen["entry"], old)
        # The two modules published together stay old together, and the function taken
        # before the reload runs the pinned generation's code; the generation number is
        # the registry's fact, not a proxy read.
        self.assertEqual(seen["mid"], old + (2,))
        self.assertEqual(seen["after"], new)
        self.assert_fast_again()

    def test_nesting_keeps_the_outer_pin(self):
        a = self.a
        with vi.pinned():
            self.edit()
            reload_from_another_thread("rt_pin_a")
            self.assertEqual(a.X, 1)
            with vi.pinned():  # entered after the publish: still the outer pin's world
                self.assertEqual((a.X, a.f(), self.b.Y), (1, ("v1", 1), 100))
            self.assertEqual((a.X, a.f()), (1, ("v1", 1)))
        self.assertEqual((a.X, a.f(), self.b.Y), (2, ("v2", 2), 200))
        self.assert_fast_again()

    def test_a_pin_without_a_reload_changes_nothing(self):
        with vi.pinned():
            self.assertEqual(self.a.X, 1)
            self.a.X = 5  # attribute writes reach the published namespace as on a plain module
        self.assertEqual(self.a.X, 5)
        self.assert_fast_again()

    def test_per_thread_one_pinned_one_not(self):
        a = self.a
        barrier = threading.Barrier(3, timeout=WAIT)
        seen, errors = {}, []

        def pinned_reader():
            try:
                with vi.pinned():
                    barrier.wait()  # 1: pinned before the reload
                    barrier.wait()  # 2: the reload has published
                    seen["pinned"] = (a.X, a.f(), self.b.Y)
                    barrier.wait()  # 3: both have read; the pin is held until now
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()

        def plain_reader():
            try:
                barrier.wait()
                barrier.wait()
                seen["plain"] = (a.X, a.f(), self.b.Y)
                barrier.wait()
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=pinned_reader), threading.Thread(target=plain_reader)]
        for thread in threads:
            thread.start()
        barrier.wait()
        self.edit()
        vi.reload("rt_pin_a")
        barrier.wait()
        barrier.wait()
        for thread in threads:
            thread.join(WAIT)
            self.assertFalse(thread.is_alive())
        if errors:
            raise errors[0]
        self.assertEqual(seen["pinned"], (1, ("v1", 1), 100))
        self.assertEqual(seen["plain"], (2, ("v2", 2), 200))
        self.assert_fast_again()

    def test_per_asyncio_task_pinned_across_an_await(self):
        a = self.a

        async def pinned_task(entered, published, plain_done):
            with vi.pinned():
                before = (a.X, a.f())
                entered.set()
                await published.wait()  # the reload publishes while this task is suspended
                during = (a.X, a.f(), self.b.Y)
                await plain_done.wait()  # still pinned while the other task reads
            return before, during, (a.X, a.f())

        async def plain_task(published, plain_done):
            await published.wait()
            try:
                return a.X, a.f(), self.b.Y
            finally:
                plain_done.set()

        async def main():
            entered, published, plain_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
            pinned = asyncio.create_task(pinned_task(entered, published, plain_done))
            plain = asyncio.create_task(plain_task(published, plain_done))
            await asyncio.wait_for(entered.wait(), WAIT)
            self.edit()
            vi.reload("rt_pin_a")
            published.set()
            return await asyncio.wait_for(asyncio.gather(pinned, plain), WAIT)

        (before, during, after), plain = asyncio.run(main())
        self.assertEqual(before, (1, ("v1", 1)))
        self.assertEqual(during, (1, ("v1", 1), 100))
        self.assertEqual(after, (2, ("v2", 2)))
        self.assertEqual(plain, (2, ("v2", 2), 200))
        self.assert_fast_again()


# -- the command line -------------------------------------------------------------------

class CommandLineCase(Sandbox):
    def cli(self, *args: str, timeout: float = 60):
        return self.run_python("-m", "versioned_import", *args, timeout=timeout)

    def environment(self) -> dict:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([REPO, environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return environment


class CommandLineTest(CommandLineCase):
    def test_run_script_gets_argv_main_and_a_versioned_sibling(self):
        self.write("rt_cli_sib.py", "VALUE = 'sibling'\n")
        self.write("rt_cli_argv.py", """\
            import json, sys
            import versioned_import as vi
            import rt_cli_sib
            print(json.dumps({"argv": sys.argv, "name": __name__, "generation": vi.generation("rt_cli_sib"),
                              "value": rt_cli_sib.VALUE}))
        """)
        result = self.cli("run", "--interval", "5", "rt_cli_argv.py", "a", "b", "--flag", "-m", "x")
        self.assertProcessOK(result)
        data = json.loads(result.stdout)
        self.assertEqual(data["argv"], ["rt_cli_argv.py", "a", "b", "--flag", "-m", "x"])
        self.assertEqual(data["name"], "__main__")
        self.assertEqual((data["generation"], data["value"]), (1, "sibling"))

    def test_run_propagates_the_exit_code(self):
        self.write("rt_cli_exit.py", "import sys\nsys.exit(3)\n")
        self.assertEqual(self.cli("run", "rt_cli_exit.py").returncode, 3)
        self.write("rt_cli_raise.py", "raise ValueError('from the script')\n")
        result = self.cli("run", "rt_cli_raise.py")
        self.assertEqual(result.returncode, 1)
        self.assertIn("ValueError: from the script", result.stderr)

    def test_run_dash_m_runs_a_module_as_main(self):
        self.write("rt_clipkg/__init__.py", "")
        self.write("rt_clipkg/helper.py", "VALUE = 'helper'\n")
        self.write("rt_clipkg/main.py", """\
            import json, sys
            import versioned_import as vi
            from . import helper
            print(json.dumps({"argv": sys.argv, "name": __name__, "generation": vi.generation("rt_clipkg.helper"),
                              "value": helper.VALUE}))
        """)
        result = self.cli("run", "-m", "rt_clipkg.main", "x", "--flag")
        self.assertProcessOK(result)
        data = json.loads(result.stdout)
        self.assertEqual(data["argv"][1:], ["x", "--flag"])
        self.assertEqual(os.path.basename(data["argv"][0]), "main.py")  # as `python -m` does
        self.assertEqual(data["name"], "__main__")
        self.assertEqual((data["generation"], data["value"]), (1, "helper"))

    def test_help(self):
        result = self.cli("run", "--help")
        self.assertProcessOK(result)
        self.assertIn("__main__", result.stdout)
        self.assertIn("not reloadable", result.stdout)
        self.assertIn("--root", result.stdout)
        self.assertIn("--interval", result.stdout)
        top = self.cli("--help")
        self.assertProcessOK(top)
        self.assertIn("run", top.stdout)
        self.assertIn("demo", top.stdout)

    def test_one_stderr_line_per_publish_and_per_refusal(self):
        self.write("rt_cli_mod.py", "VALUE = 1\n")
        self.write("rt_cli_watch.py", """\
            import os, sys, threading, time
            import versioned_import as vi
            from versioned_import._core import state as _registry
            import rt_cli_mod

            PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rt_cli_mod.py")
            reports = []
            vi.on_reload(reports.append)


            def write(text):
                with open(PATH, "w", encoding="utf-8") as stream:
                    stream.write(text)


            def wait(predicate, what):
                deadline = time.monotonic() + 10
                while not predicate():
                    if time.monotonic() > deadline:
                        sys.exit(f"timed out waiting for {what}")
                    threading.Event().wait(0.01)


            write("VALUE = 2\\n")
            wait(lambda: vi.generation("rt_cli_mod") == 2, "the reload")
            print("value", rt_cli_mod.VALUE, flush=True)
            write("VALUE = 3\\n\\nraise ValueError('broken on purpose')\\n")
            wait(lambda: any(not r.ok for r in reports), "the refusal")
            watcher = _registry.state.watcher
            ticks = watcher.ticks
            wait(lambda: watcher.ticks >= ticks + 5, "more ticks")
            print("value", rt_cli_mod.VALUE, "reports", len(reports), flush=True)
        """)
        result = self.cli("run", "--interval", "0.05", "rt_cli_watch.py")
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.split("\n")[:2], ["value 2", "value 2 reports 2"])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 2, result.stderr)
        published, refused = lines
        for part in ("rt_cli_mod", "gen", "2", "ms"):
            self.assertIn(part, published)
        self.assertIn(f"{os.path.join(self.root, 'rt_cli_mod.py')}:3", refused)
        self.assertIn("ValueError", refused)
        self.assertIn("broken on purpose", refused)


class DemoTest(CommandLineCase):
    def test_the_demo_tours_and_leaves_no_files(self):
        private_tmp = os.path.join(self.root, "tmp")
        os.makedirs(private_tmp)
        prefix = "versioned_import-demo-"
        before = sorted(n for n in os.listdir(private_tmp) if n.startswith(prefix))
        result = self.run_python("-m", "versioned_import", "demo", timeout=10,
                                 env={"TMPDIR": private_tmp, "TEMP": private_tmp, "TMP": private_tmp})
        self.assertProcessOK(result)
        after = sorted(n for n in os.listdir(private_tmp) if n.startswith(prefix))
        self.assertEqual(after, before)
        # It really worked in the temporary directory we are watching.
        self.assertIn(os.path.join(private_tmp, prefix), result.stdout)
        out = result.stdout
        for phrase in ("Hello, first visitor.",                        # the first response
                       "Welcome back, first visitor!",                  # the edit, no restart
                       "isinstance(kept, greeting.Greeter) -> True",    # an old object, new method
                       "SyntaxError",                                   # the broken edit, refused
                       "free coffee and cake",                          # the fix
                       "restart"):                                      # reload vs restart
            self.assertIn(phrase, out)
        self.assertIn("ms", out)
        self.assertNotIn("Traceback", result.stderr)

    def test_the_demo_leaves_no_threads_and_no_files_in_the_real_temp_dir(self):
        prefix = "versioned_import-demo-"
        temp = tempfile.gettempdir()
        before = {n for n in os.listdir(temp) if n.startswith(prefix)}
        code = textwrap.dedent("""\
            import contextlib, io, sys, threading
            from versioned_import._cli.main import main
            with contextlib.redirect_stdout(io.StringIO()) as out:
                code = main(["demo"])
            extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
            print(code, extra, [n for n in sys.meta_path if type(n).__name__ == "VersionedFinder"])
            print(out.getvalue().split("code in ")[1].split(")")[0])
        """)
        result = self.run_python("-c", code, timeout=10)
        self.assertProcessOK(result)
        summary, directory = result.stdout.splitlines()[:2]
        self.assertEqual(summary, "0 [] []")
        self.assertFalse(os.path.exists(directory), directory)
        self.assertFalse(os.path.exists(os.path.dirname(directory)), directory)
        new = {n for n in os.listdir(temp) if n.startswith(prefix)} - before
        self.assertNotIn(os.path.basename(os.path.dirname(directory)), new)


if __name__ == "__main__":
    unittest.main()
