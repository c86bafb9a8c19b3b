"""G17: what a module's code registers in process-wide state follows a reload exactly once.

After an accepted reload the process looks as if it had started fresh with the
new code (nothing duplicated, leaked or reset), after a refused one exactly as
before (the same objects), and a rollback brings the older registrations back.
The known registries here are the standard library's (logging, atexit, signal
handlers); the module-facing API is ``versioned_import.hot``. Real libraries
(SQLAlchemy, Django, prometheus_client) are tested in tests/frameworks/.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import sys
import textwrap
import threading
import unittest

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

import versioned_import as vi
from tests.support import Sandbox, SavedInterpreter, raises

LOGGING_MODULE = """\
import logging
log = logging.getLogger("se.{name}")
HANDLER = logging.StreamHandler()
log.addHandler(HANDLER)
log.setLevel(logging.{level})
VERSION = {version}
"""


class LoggingTest(Sandbox):
    def given(self, version: int = 1, level: str = "INFO", extra: str = "") -> None:
        self.write("se_log.py", LOGGING_MODULE.format(name="log", level=level, version=version) + extra)

    def tearDown(self) -> None:
        logger = logging.getLogger("se.log")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)

    def test_a_handler_added_at_import_is_there_once_after_five_reloads(self):
        self.given()
        self.install()
        module = importlib.import_module("se_log")
        logger = logging.getLogger("se.log")
        first = module.HANDLER
        for version in range(2, 7):
            self.given(version)
            vi.reload("se_log")
        self.assertEqual(logger.handlers, [module.HANDLER])
        self.assertIsNot(module.HANDLER, first)  # the new code's handler, as a fresh start would have

    def test_a_refused_reload_leaves_the_same_handler_objects(self):
        self.given()
        self.install()
        module = importlib.import_module("se_log")
        logger = logging.getLogger("se.log")
        before = list(logger.handlers)
        self.given(2, level="DEBUG", extra="raise RuntimeError('broken edit')\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("se_log")
        self.assertEqual(len(logger.handlers), 1)
        self.assertIs(logger.handlers[0], before[0])
        self.assertEqual(logger.level, logging.INFO)
        self.assertEqual(module.VERSION, 1)

    def test_rollback_brings_the_older_handler_and_level_back(self):
        self.given()
        self.install()
        importlib.import_module("se_log")
        logger = logging.getLogger("se.log")
        old = logger.handlers[0]
        self.given(2, level="DEBUG")
        vi.reload("se_log")
        new = logger.handlers[0]
        self.assertEqual(logger.level, logging.DEBUG)
        vi.rollback("se_log")
        self.assertEqual(logger.handlers, [old])
        self.assertEqual(logger.level, logging.INFO)
        self.assertIsNot(new, old)

    def test_unload_takes_the_handler_out(self):
        self.given()
        self.install()
        importlib.import_module("se_log")
        vi.unload("se_log")
        self.assertEqual(logging.getLogger("se.log").handlers, [])

    def test_a_dependent_re_executed_by_a_reload_registers_once(self):
        self.write("se_base.py", "VALUE = 1\n")
        self.write("se_dep.py", "from se_base import VALUE\n" + LOGGING_MODULE.format(name="dep", level="INFO",
                                                                                         version="VALUE"))
        self.install()
        importlib.import_module("se_dep")
        try:
            for value in range(2, 5):
                self.write("se_base.py", f"VALUE = {value}\n")
                report = vi.reload("se_base")
                self.assertIn("se_dep", report.reloaded)
            self.assertEqual(len(logging.getLogger("se.dep").handlers), 1)
        finally:
            logging.getLogger("se.dep").handlers.clear()


class AtexitTest(Sandbox):
    def test_a_function_registered_at_module_level_runs_once_at_exit(self):
        self.write("se_exit.py", "import atexit\nVERSION = 1\ndef bye():\n    print('bye', VERSION)\natexit.register(bye)\n")
        self.write("main.py", textwrap.dedent("""
            import importlib, os, sys
            import versioned_import as vi
            vi.install(roots=[os.getcwd()])
            import se_exit
            for version in range(2, 7):
                with open("se_exit.py") as f:
                    source = f.read()
                with open("se_exit.py", "w") as f:
                    f.write(source.replace(f"VERSION = {version - 1}", f"VERSION = {version}"))
                vi.reload("se_exit")
            with open("se_exit.py", "a") as f:
                f.write("raise RuntimeError('broken')\\n")
            try:
                vi.reload("se_exit")
            except vi.ReloadError:
                pass
            vi.rollback("se_exit")
            """))
        result = self.run_python("main.py", env={"PYTHONDONTWRITEBYTECODE": "1"})
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.splitlines(), ["bye 5"])

    def test_a_refused_reload_registers_nothing_and_unload_unregisters(self):
        self.write("se_exit2.py", "import atexit\natexit.register(print, 'first generation at exit')\n")
        self.write("main.py", textwrap.dedent("""
            import os
            import versioned_import as vi
            vi.install(roots=[os.getcwd()])
            import se_exit2
            with open("se_exit2.py", "w") as f:
                f.write("import atexit\\natexit.register(print, 'refused generation at exit')\\nraise ValueError\\n")
            try:
                vi.reload("se_exit2")
            except vi.ReloadError:
                print("refused")
            if os.environ.get("UNLOAD"):
                vi.unload("se_exit2")
            """))
        kept = self.run_python("main.py")
        self.assertProcessOK(kept)
        self.assertEqual(kept.stdout.splitlines(), ["refused", "first generation at exit"])
        self.write("se_exit2.py", "import atexit\natexit.register(print, 'first generation at exit')\n")
        unloaded = self.run_python("main.py", env={"UNLOAD": "1"})
        self.assertProcessOK(unloaded)
        self.assertEqual(unloaded.stdout.splitlines(), ["refused"])


@unittest.skipUnless(hasattr(signal, "SIGUSR1"), "needs SIGUSR1")
class SignalTest(Sandbox):
    SOURCE = """\
import signal
HITS = []
def {handler}(signum, frame):
    HITS.append({version})
signal.signal(signal.SIGUSR1, {handler})
"""

    def setUp(self) -> None:
        super().setUp()
        previous = signal.getsignal(signal.SIGUSR1)
        self.addCleanup(signal.signal, signal.SIGUSR1, previous)

    def given(self, version: int, handler: str = "on_usr1") -> None:
        self.write("se_sig.py", self.SOURCE.format(version=version, handler=handler))

    def deliver(self, module) -> None:
        before = len(module.HITS)
        os.kill(os.getpid(), signal.SIGUSR1)
        self.wait_until(lambda: len(module.HITS) > before, "the signal handler")

    def test_a_reload_on_another_thread_installs_the_new_handler_and_it_runs_once(self):
        self.given(1)
        self.install()
        module = importlib.import_module("se_sig")
        for version, handler in ((2, "on_usr1"), (3, "renamed_handler")):
            self.given(version, handler)
            failures = []

            def reload_elsewhere():
                try:
                    vi.reload("se_sig")
                except BaseException as exc:  # reported below, never lost
                    failures.append(exc)

            thread = threading.Thread(target=reload_elsewhere)
            thread.start()
            thread.join()
            self.assertEqual(failures, [])
            # The main thread installs a handler handed to it between two bytecodes.
            self.wait_until(lambda: signal.getsignal(signal.SIGUSR1) is getattr(module, handler, None),
                            "the new handler installed by the main thread")
            self.deliver(module)
            self.assertEqual(module.HITS, [version])

    def test_a_refused_reload_leaves_the_handler_alone(self):
        self.given(1)
        self.install()
        module = importlib.import_module("se_sig")
        installed = signal.getsignal(signal.SIGUSR1)
        self.write("se_sig.py", self.SOURCE.format(version=2, handler="other") + "raise KeyError\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("se_sig")
        self.assertIs(signal.getsignal(signal.SIGUSR1), installed)
        self.deliver(module)
        self.assertEqual(module.HITS, [1])

    def test_the_watcher_reloads_a_module_that_sets_a_handler(self):
        self.given(1)
        self.install()
        module = importlib.import_module("se_sig")
        self.given(2, "from_the_watcher")
        vi.watch(interval=0.01)
        self.wait_until(lambda: signal.getsignal(signal.SIGUSR1) is getattr(module, "from_the_watcher", None),
                        "the watcher's reload to install the handler", lambda: str(self.logged[-1:]))
        self.deliver(module)
        self.assertEqual(module.HITS, [2])


class HotTest(Sandbox):
    def replace_in(self, relative: str, old: str, new: str) -> None:
        with open(os.path.join(self.root, relative), encoding="utf-8") as stream:
            source = stream.read()
        self.write(relative, source.replace(old, new))

    def test_keep_hands_the_same_resource_to_every_generation(self):
        self.write("se_keep.py", textwrap.dedent("""
            import versioned_import as vi
            hot = vi.hot(__name__)
            MADE = hot.data.setdefault("made", [])
            class Engine:
                pass
            def make():
                engine = Engine()
                MADE.append(engine)
                return engine
            ENGINE = hot.keep("engine", make, dispose=lambda e: DISPOSED.append(e))
            DISPOSED = hot.data.setdefault("disposed", [])
            VERSION = 1
            """))
        self.install()
        module = importlib.import_module("se_keep")
        engine = module.ENGINE
        for version in range(2, 22):
            self.replace_in("se_keep.py", f"VERSION = {version - 1}", f"VERSION = {version}")
            vi.reload("se_keep")
        self.assertIs(module.ENGINE, engine)
        self.assertEqual(len(module.MADE), 1)
        self.assertEqual(module.DISPOSED, [])
        vi.unload("se_keep")
        self.assertEqual(module.DISPOSED, [engine])

    def test_keep_with_new_deps_makes_a_new_one_and_disposes_the_old_when_out_of_reach(self):
        source = textwrap.dedent("""
            import versioned_import as vi
            hot = vi.hot(__name__)
            LOG = hot.data.setdefault("log", [])
            URL = {url!r}
            CLIENT = hot.keep("client", lambda: ("client", URL), deps=URL, dispose=lambda c: LOG.append(("closed", c)))
            {tail}
            """)
        self.write("se_deps.py", source.format(url="a", tail=""))
        self.install(rollback_depth=1)
        module = importlib.import_module("se_deps")
        self.write("se_deps.py", source.format(url="b", tail="raise OSError('refused')"))
        with self.assertRaises(vi.ReloadError):
            vi.reload("se_deps")
        # The refused generation's client was made and is disposed; the old one is untouched.
        self.assertEqual(module.LOG, [("closed", ("client", "b"))])
        self.assertEqual(module.CLIENT, ("client", "a"))
        self.write("se_deps.py", source.format(url="c", tail=""))
        vi.reload("se_deps")
        self.assertEqual(module.CLIENT, ("client", "c"))
        self.assertEqual(len(module.LOG), 1)  # "a" is kept: a rollback can still reach it
        vi.rollback("se_deps")
        self.assertEqual(module.CLIENT, ("client", "a"))
        self.assertEqual(module.LOG[-1], ("closed", ("client", "c")))  # rolled back from: out of reach

    def test_dispose_runs_after_a_publish_never_for_a_refusal_and_for_the_newer_on_rollback(self):
        source = textwrap.dedent("""
            import versioned_import as vi
            hot = vi.hot(__name__)
            LOG = hot.data.setdefault("log", [])
            VERSION = {version}
            # A global read when the cleanup runs: its own generation's, not the newest (G7 would make it that).
            hot.dispose(lambda: LOG.append(VERSION))
            {tail}
            """)
        self.write("se_disp.py", source.format(version=1, tail=""))
        self.install()
        module = importlib.import_module("se_disp")
        self.write("se_disp.py", source.format(version=2, tail="raise ImportError('no')"))
        with self.assertRaises(vi.ReloadError):
            vi.reload("se_disp")
        self.assertEqual(module.LOG, [])
        self.write("se_disp.py", source.format(version=3, tail=""))
        vi.reload("se_disp")
        self.assertEqual(module.LOG, [1])
        vi.rollback("se_disp")
        self.assertEqual(module.LOG, [1, 3])

    def test_a_thread_kept_across_reloads_is_one_thread(self):
        self.write("se_thread.py", textwrap.dedent("""
            import threading
            import versioned_import as vi
            hot = vi.hot(__name__)
            def start():
                stop = threading.Event()
                thread = threading.Thread(target=stop.wait, name="se-poller", daemon=True)
                thread.start()
                return stop, thread
            STOP, THREAD = hot.keep("poller", start, dispose=lambda pair: (pair[0].set(), pair[1].join()))
            VERSION = 1
            """))
        self.install()
        module = importlib.import_module("se_thread")
        for version in range(2, 7):
            self.replace_in("se_thread.py", f"VERSION = {version - 1}", f"VERSION = {version}")
            vi.reload("se_thread")
        self.assertEqual(len([t for t in threading.enumerate() if t.name == "se-poller"]), 1)
        vi.unload("se_thread")
        self.assertFalse(module.THREAD.is_alive())

    def test_the_scheduler_recipe_keeps_one_job_running_the_newest_code(self):
        # docs/side-effects.md, "a scheduler job", verbatim but for VERSION.
        self.write("se_jobs.py", textwrap.dedent("""
            import sched, time
            import versioned_import as vi

            hot = vi.hot(__name__)
            scheduler = hot.keep("scheduler", lambda: sched.scheduler(time.monotonic, time.sleep))
            RUNS = hot.data.setdefault("runs", [])

            def report():
                RUNS.append(VERSION)

            def every_minute():
                report()
                scheduler.enter(60, 1, every_minute)

            hot.keep("report-job", lambda: scheduler.enter(60, 1, every_minute))
            VERSION = 1
            """))
        self.install()
        module = importlib.import_module("se_jobs")
        for version in range(2, 6):
            self.replace_in("se_jobs.py", f"VERSION = {version - 1}", f"VERSION = {version}")
            vi.reload("se_jobs")
        self.assertEqual(len(module.scheduler.queue), 1)
        event = module.scheduler.queue[0]
        module.scheduler.cancel(event)
        event.action()
        self.assertEqual(module.RUNS, [5])
        self.assertEqual(len(module.scheduler.queue), 1)

    def test_decline_refuses_a_reload_that_would_re_execute_the_module(self):
        self.write("se_base2.py", "VALUE = 1\n")
        self.write("se_declines.py", "import versioned_import as vi\nfrom se_base2 import VALUE\n"
                                     "vi.hot(__name__).decline('it opens the listening socket')\n")
        self.install()
        module = importlib.import_module("se_declines")
        self.write("se_base2.py", "VALUE = 2\n")
        with self.assertRaises(vi.ReloadError) as caught:
            vi.reload("se_base2")
        message = str(caught.exception)
        self.assertIn("se_declines", message)
        self.assertIn("opens the listening socket", message)
        self.assertIn("restart", message)
        self.assertEqual(module.VALUE, 1)
        self.assertEqual(vi.generation("se_base2"), 1)

    def test_new_code_that_declines_refuses_its_own_reload(self):
        self.write("se_decl2.py", "VALUE = 1\n")
        self.install()
        importlib.import_module("se_decl2")
        self.write("se_decl2.py", "import versioned_import as vi\nvi.hot(__name__).decline('not reloadable')\n")
        with self.assertRaises(vi.ReloadError) as caught:
            vi.reload("se_decl2")
        self.assertIn("restart", str(caught.exception))
        self.assertEqual(vi.generation("se_decl2"), 1)

    def test_hot_outside_versioned_import_works_as_a_plain_process(self):
        plain = vi.hot("not_a_versioned_module")
        self.assertFalse(plain.versioned)
        made = []
        self.assertIs(plain.keep("x", lambda: made.append(1) or made), plain.keep("x", lambda: None))
        plain.dispose(lambda: None)
        plain.decline("fine")
        self.assertEqual(made, [1])


class ImportSystemTest(Sandbox):
    SOURCE = textwrap.dedent("""
        import sys, types
        class _MovedItems(types.ModuleType):
            pass
        moves = _MovedItems(__name__ + ".moves")
        sys.modules.setdefault(__name__ + ".moves", moves)
        class Finder:
            def find_spec(self, name, path=None, target=None):
                return None
        FINDER = Finder()
        sys.meta_path.append(FINDER)
        def add_move(name, value):
            setattr(moves, name, value)
        VERSION = {version}
        """)

    def test_a_module_object_and_a_finder_the_code_registers_are_the_new_generations(self):
        # six's pattern: after a reload, sys.modules must hold the module's own `moves`, as in a fresh process.
        self.write("se_six.py", self.SOURCE.format(version=1))
        self.install()
        module = importlib.import_module("se_six")
        first_moves = module.moves
        self.write("se_six.py", self.SOURCE.format(version=2))
        vi.reload("se_six")
        self.assertIs(sys.modules["se_six.moves"], module.moves)
        self.assertIsNot(module.moves, first_moves)
        module.add_move("spam", 1)
        self.assertEqual(sys.modules["se_six.moves"].spam, 1)
        self.assertEqual([f for f in sys.meta_path if type(f).__name__ == "Finder"], [module.FINDER])
        # A refused reload leaves the very same objects.
        moves, finder = module.moves, module.FINDER
        self.write("se_six.py", self.SOURCE.format(version=3) + "raise SystemError\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("se_six")
        self.assertIs(sys.modules["se_six.moves"], moves)
        self.assertEqual([f for f in sys.meta_path if type(f).__name__ == "Finder"], [finder])
        vi.unload("se_six")
        self.assertNotIn("se_six.moves", sys.modules)
        self.assertEqual([f for f in sys.meta_path if type(f).__name__ == "Finder"], [])


class ComposeTest(Sandbox):
    def test_reload_hook_and_hot_data_carry_state_together(self):
        source = textwrap.dedent("""
            import versioned_import as vi
            hot = vi.hot(__name__)
            COUNT = hot.data.get("count", 0) + 1
            hot.data["count"] = COUNT
            SEEN = []
            def __reload__(old):
                SEEN.append((old.COUNT, COUNT))
            VERSION = {version}
            """)
        self.write("se_compose.py", source.format(version=1))
        self.install()
        module = importlib.import_module("se_compose")
        self.write("se_compose.py", source.format(version=2) + "raise LookupError\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("se_compose")
        self.write("se_compose.py", source.format(version=3))
        vi.reload("se_compose")
        # hot.data is the module's across generations: the refused one counted too, as its code ran.
        self.assertEqual(module.SEEN, [(1, 3)])
        self.assertEqual(module.COUNT, 3)

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_a_forked_worker_reloads_its_own_registrations(self):
        self.write("se_worker.py", LOGGING_MODULE.format(name="worker", level="INFO", version=1))
        self.write("main.py", textwrap.dedent("""
            import logging, os, sys
            import versioned_import as vi
            vi.install(roots=[os.getcwd()])
            import se_worker
            logger = logging.getLogger("se.worker")
            pid = os.fork()
            if pid == 0:
                with open("se_worker.py") as f:
                    source = f.read()
                for version in range(2, 5):
                    with open("se_worker.py", "w") as f:
                        f.write(source.replace("VERSION = 1", f"VERSION = {version}"))
                    vi.reload("se_worker")
                print("child", len(logger.handlers), logger.handlers[0] is se_worker.HANDLER, flush=True)
                os._exit(0)
            os.waitpid(pid, 0)
            print("parent", len(logger.handlers), se_worker.VERSION, flush=True)
            """))
        result = self.run_python("main.py")
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.splitlines(), ["child 1 True", "parent 1 1"])


# -- the model ----------------------------------------------------------------------

_REGISTRY_MODULE = "se_model_registry"


class SideEffectsModel(RuleBasedStateMachine):
    """Edits, refusals, rollbacks and unloads of a module that registers handlers and a kept resource.

    The model: what the logger's handlers must be (exactly the published
    generation's one handler, or none when unloaded), which resources are
    alive, and which cleanups ran.
    """

    sandbox: Sandbox

    @initialize()
    def start(self) -> None:
        self.directory = os.path.join(self.sandbox.root, f"model{id(self)}")
        os.makedirs(self.directory)
        self.saved = SavedInterpreter(self.directory)
        sys.path.insert(0, self.directory)
        self.logger = logging.getLogger("se.model")
        self.version = 1
        self.write(self.version)
        vi.install(roots=[self.directory], rollback_depth=2)
        self.module = importlib.import_module("se_model")
        # What is published, and what a rollback could bring back (newest last).
        self.published = 1
        self.history: list[int] = []
        self.disposed: list[int] = []
        self.loaded = True

    def teardown(self) -> None:
        self.logger.handlers.clear()
        self.saved.restore()

    def write(self, version: int, broken: bool = False) -> None:
        source = textwrap.dedent(f"""
            import logging
            import versioned_import as vi
            hot = vi.hot(__name__)
            DISPOSED = hot.data.setdefault("disposed", [])
            HANDLER = logging.NullHandler()
            HANDLER.version = {version}
            logging.getLogger("se.model").addHandler(HANDLER)
            hot.dispose(lambda: DISPOSED.append({version}))
            VERSION = {version}
            """)
        if broken:
            source += "raise RuntimeError('broken edit')\n"
        with open(os.path.join(self.directory, "se_model.py"), "w") as stream:
            stream.write(source)
        importlib.invalidate_caches()

    @precondition(lambda self: self.loaded)
    @rule()
    def edit(self) -> None:
        self.version += 1
        self.write(self.version)
        vi.reload("se_model")
        self.disposed.append(self.published)
        self.history = (self.history + [self.published])[-2:]
        self.published = self.version

    @precondition(lambda self: self.loaded)
    @rule()
    def broken_edit(self) -> None:
        self.version += 1
        self.write(self.version, broken=True)
        with raises(vi.ReloadError):
            vi.reload("se_model")

    @precondition(lambda self: self.loaded and self.history)
    @rule()
    def rollback(self) -> None:
        vi.rollback("se_model")
        self.disposed.append(self.published)
        self.published = self.history.pop()

    @precondition(lambda self: not self.loaded)
    @rule()
    def import_again(self) -> None:
        self.write(self.version)
        self.module = importlib.import_module("se_model")
        self.loaded = True
        self.published, self.history, self.disposed = self.version, [], []

    @precondition(lambda self: self.loaded)
    @rule()
    def unload(self) -> None:
        disposed = self.module.DISPOSED
        vi.unload("se_model")
        self.disposed.append(self.published)
        self.loaded = False
        self.module = None
        assert disposed == self.disposed, (disposed, self.disposed)

    @invariant()
    def registry_holds_exactly_the_published_generation(self) -> None:
        if not hasattr(self, "logger"):
            return
        versions = [getattr(h, "version", None) for h in self.logger.handlers]
        assert versions == ([self.published] if self.loaded else []), (versions, self.published)
        if self.loaded:
            assert self.module.VERSION == self.published
            assert self.module.DISPOSED == self.disposed, (self.module.DISPOSED, self.disposed)


class SideEffectsModelTest(Sandbox):
    def test_the_registry_follows_the_model(self):
        SideEffectsModel.sandbox = self
        run_state_machine_as_test(SideEffectsModel, settings=settings(
            max_examples=40, stateful_step_count=12, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
        gc.collect()


if __name__ == "__main__":
    unittest.main()
