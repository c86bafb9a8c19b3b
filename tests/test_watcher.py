"""The watcher (G11): it reloads edits, stops promptly, reports each refusal once, never dies, publishes only finished writes."""

import logging
import os
import threading
import time
import unittest
from unittest import mock

import versioned_import as vi
from tests.support import Sandbox
from versioned_import._core import state as _registry
from versioned_import._core import writers as _writers
from versioned_import._core.source import SourceChangedWhileReading
from versioned_import._runtime.inotify import Notifier
from versioned_import._runtime.watcher import Watcher

WAIT = 10.0  # the most any test waits for the watcher thread to act (seconds)


class WatcherCase(Sandbox):
    def watcher(self):
        watcher = _registry.state.watcher
        self.assertIsNotNone(watcher, "no watcher is running")
        return watcher

    def wait_for_generation(self, name: str, number: int) -> None:
        self.wait_until(lambda: vi.generation(name) >= number, f"{name} to reach generation {number}")
        self.assertEqual(vi.generation(name), number)

    def wait_ticks(self, count: int) -> None:
        watcher = self.watcher()
        target = watcher.ticks + count
        self.wait_until(lambda: watcher.ticks >= target or not watcher.alive(), f"{count} more watcher ticks")
        self.assertTrue(watcher.alive(), "the watcher died")

    def subscribe(self) -> list:
        reports = []
        self.addCleanup(vi.on_reload(reports.append))
        return reports


class WatchAndStopTest(WatcherCase):
    def test_an_edit_is_reloaded_by_the_watcher(self):
        self.write("wt_basic.py", "VALUE = 1\n")
        self.install()
        import wt_basic

        vi.watch(interval=0.05)
        self.write("wt_basic.py", "VALUE = 2\n")
        self.wait_for_generation("wt_basic", 2)
        self.assertEqual(wt_basic.VALUE, 2)
        self.assertTrue(self.watcher().alive())

    def test_stop_watching_returns_promptly_with_a_long_interval(self):
        self.install()
        vi.watch(interval=30)
        watcher = self.watcher()
        self.assertTrue(watcher.alive())
        stopper = threading.Thread(target=vi.stop_watching)
        stopper.start()
        # Generous bound: the point is that stop does not sit out the 30 s interval.
        stopper.join(5)
        self.assertFalse(stopper.is_alive(), "stop_watching() waited for the interval to elapse")
        self.assertFalse(watcher.alive())
        self.assertFalse(watcher._thread.is_alive(), "the watcher thread is still running after stop_watching()")
        self.assertIsNone(_registry.state.watcher)
        vi.stop_watching()  # twice is harmless

    def test_install_watch_true_starts_the_watcher(self):
        self.write("wt_install.py", "VALUE = 'one'\n")
        self.install(watch=True, interval=0.05)
        watcher = self.watcher()
        self.assertTrue(watcher.alive())
        self.assertEqual(watcher.interval, 0.05)
        import wt_install

        self.write("wt_install.py", "VALUE = 'two'\n")
        self.wait_for_generation("wt_install", 2)
        self.assertEqual(wt_install.VALUE, "two")

    def test_uninstall_stops_the_watcher(self):
        self.install(watch=True, interval=0.05)
        watcher = self.watcher()
        vi.uninstall()
        watcher._thread.join(5)
        self.assertFalse(watcher._thread.is_alive())


class RefusalTest(WatcherCase):
    def test_a_refused_edit_is_logged_and_reported_once_then_the_fix_reloads(self):
        self.write("wt_refuse.py", "VALUE = 1\n")
        self.install(watch=True, interval=0.05)
        import wt_refuse

        reports = self.subscribe()
        with self.assertLogs("versioned_import", logging.ERROR) as logs:
            path = self.write("wt_refuse.py", "VALUE = 1\n\ndef broken(:\n    pass\n")
            self.wait_until(lambda: any(not r.ok for r in reports), "the refusal to be reported")
            self.wait_ticks(5)  # many more ticks over the same broken bytes
        refusals = [r for r in reports if not r.ok]
        self.assertEqual(len(refusals), 1, refusals)
        self.assertIsInstance(refusals[0].error, vi.ReloadError)
        self.assertEqual(refusals[0].error.module, "wt_refuse")
        self.assertEqual(len(logs.records), 1, [r.getMessage() for r in logs.records])
        message = logs.records[0].getMessage()
        self.assertIn(f"{path}:3", message)
        self.assertIn("SyntaxError", message)
        self.assertEqual(vi.generation("wt_refuse"), 1)
        self.assertEqual(wt_refuse.VALUE, 1)

        self.write("wt_refuse.py", "VALUE = 2\n")
        self.wait_for_generation("wt_refuse", 2)
        self.assertEqual(wt_refuse.VALUE, 2)
        self.assertTrue(reports[-1].ok)
        self.assertEqual(len([r for r in reports if not r.ok]), 1)

    def test_a_second_distinct_refusal_is_reported_too(self):
        self.write("wt_twice.py", "VALUE = 1\n")
        self.install(watch=True, interval=0.05)
        import wt_twice  # noqa: F401

        reports = self.subscribe()
        with self.assertLogs("versioned_import", logging.ERROR) as logs:
            self.write("wt_twice.py", "VALUE = (\n")
            self.wait_until(lambda: len([r for r in reports if not r.ok]) == 1, "the first refusal")
            path = self.write("wt_twice.py", "VALUE = 1\nraise LookupError('second')\n")
            self.wait_until(lambda: len([r for r in reports if not r.ok]) == 2, "the second refusal")
            self.wait_ticks(5)
        self.assertEqual(len([r for r in reports if not r.ok]), 2)
        self.assertEqual(len(logs.records), 2)
        self.assertIn(f"{path}:2", logs.records[1].getMessage())
        self.assertIn("LookupError", logs.records[1].getMessage())
        self.assertEqual(vi.generation("wt_twice"), 1)


class NeverDiesTest(WatcherCase):
    """Whatever user code raises, the thread stays alive and later edits still reload."""

    def assert_survives_then_reloads(self, name: str, next_generation: int) -> None:
        self.wait_ticks(3)
        self.assertTrue(self.watcher().alive(), "the watcher died")
        self.write(f"{name}.py", "VALUE = 'after'\n")
        self.wait_for_generation(name, next_generation)
        self.assertTrue(self.watcher().alive(), "the watcher died")
        self.assertEqual(__import__(name).VALUE, "after")

    def break_module(self, name: str, raising: str) -> None:
        self.write(f"{name}.py", "VALUE = 'before'\n")
        self.install(watch=True, interval=0.05)
        __import__(name)
        reports = self.subscribe()
        with self.assertLogs("versioned_import", logging.ERROR) as logs:
            self.write(f"{name}.py", f"class Boom({raising}):\n    pass\n\nraise Boom('at import')\n")
            self.wait_until(lambda: any(not r.ok for r in reports) or not self.watcher().alive(),
                            "the refusal to be reported")
            # The log line is written on the watcher's thread after the subscribers ran.
            self.wait_until(lambda: logs.records or not self.watcher().alive(), "the refusal to be logged")
            self.assertTrue(self.watcher().alive(), "the watcher died")
        self.assertEqual(len([r for r in reports if not r.ok]), 1)
        self.assert_survives_then_reloads(name, 2)

    def test_an_arbitrary_exception_at_import(self):
        self.break_module("wt_die_exc", "Exception")

    def test_system_exit_at_import(self):
        self.break_module("wt_die_exit", "SystemExit")

    def test_a_base_exception_subclass_at_import(self):
        self.break_module("wt_die_base", "BaseException")

    def test_a_subscriber_that_raises(self):
        self.write("wt_die_sub.py", "VALUE = 'before'\n")
        self.install(watch=True, interval=0.05)
        import wt_die_sub  # noqa: F401

        def bad(report):
            raise RuntimeError("subscriber bug")

        self.addCleanup(vi.on_reload(bad))
        reports = self.subscribe()
        with self.assertLogs("versioned_import", logging.ERROR) as logs:
            self.write("wt_die_sub.py", "VALUE = 'middle'\n")
            self.wait_for_generation("wt_die_sub", 2)
            self.wait_until(lambda: len(reports) == 1, "the second subscriber to hear of it")
        raised = [r.exc_info[1] for r in logs.records if r.exc_info]
        self.assertTrue(any(isinstance(e, RuntimeError) and str(e) == "subscriber bug" for e in raised), raised)
        self.assert_survives_then_reloads("wt_die_sub", 3)

    def test_a_subscriber_that_raises_system_exit(self):
        self.write("wt_die_subexit.py", "VALUE = 'before'\n")
        self.install(watch=True, interval=0.05)
        import wt_die_subexit  # noqa: F401

        def bad(report):
            raise SystemExit(4)

        self.addCleanup(vi.on_reload(bad))
        self.write("wt_die_subexit.py", "VALUE = 'middle'\n")
        self.wait_for_generation("wt_die_subexit", 2)
        self.assert_survives_then_reloads("wt_die_subexit", 3)

    def test_a_deleted_file(self):
        path = self.write("wt_die_gone.py", "VALUE = 'before'\n")
        self.install(watch=True, interval=0.05)
        import wt_die_gone

        reports = self.subscribe()
        with self.assertLogs("versioned_import", logging.ERROR) as logs:
            os.remove(path)
            self.wait_until(lambda: any(not r.ok for r in reports), "the refusal to be reported")
            self.wait_ticks(5)
        self.assertEqual(len([r for r in reports if not r.ok]), 1)
        self.assertEqual(len(logs.records), 1)
        self.assertIn(path, logs.records[0].getMessage())
        self.assertEqual(wt_die_gone.VALUE, "before")
        self.assert_survives_then_reloads("wt_die_gone", 2)


@unittest.skipIf(Notifier.create() is None, "this system offers no change notifications (inotify): the watcher polls")
class NotificationTest(WatcherCase):
    """With an interval far longer than any wait here, only a change notification can bring an edit in."""

    def start_watching(self) -> Watcher:
        vi.watch(interval=3600)
        watcher = self.watcher()
        count = len(_registry.state.records)
        self.wait_until(lambda: watcher._watched[0] == count, "the watcher to watch the versioned directories")
        return watcher

    def test_an_edit_is_seen_without_waiting_for_the_interval(self):
        self.write("wt_note.py", "VALUE = 1\n")
        self.install()
        import wt_note

        self.start_watching()
        self.write("wt_note.py", "VALUE = 2\n")
        self.wait_for_generation("wt_note", 2)
        self.assertEqual(wt_note.VALUE, 2)

    def test_an_editor_that_saves_by_renaming_is_seen(self):
        path = self.write("wt_rename.py", "VALUE = 1\n")
        self.install()
        import wt_rename

        self.start_watching()
        self.write("wt_rename.py.tmp", "VALUE = 2\n")
        os.replace(path + ".tmp", path)
        self.wait_for_generation("wt_rename", 2)
        self.assertEqual(wt_rename.VALUE, 2)

    def test_a_module_imported_later_from_another_directory_is_watched(self):
        self.write("wt_first.py", "VALUE = 1\n")
        self.write("wt_later/__init__.py", "")
        self.write("wt_later/mod.py", "VALUE = 1\n")
        self.install()
        import wt_first  # noqa: F401

        watcher = self.start_watching()
        import wt_later.mod

        count = len(_registry.state.records)
        self.wait_until(lambda: watcher._watched[0] == count, "the new directory to be watched")
        self.write("wt_later/mod.py", "VALUE = 2\n")
        self.wait_for_generation("wt_later.mod", 2)
        self.assertEqual(wt_later.mod.VALUE, 2)

    def test_a_directory_replaced_by_a_checkout_is_watched_again(self):
        self.write("wt_swap/__init__.py", "")
        self.write("wt_swap/mod.py", "VALUE = 1\n")
        self.install()
        import wt_swap.mod

        self.start_watching()
        old = os.path.join(self.root, "wt_swap_old")
        os.rename(os.path.join(self.root, "wt_swap"), old)  # the watch follows the moved directory
        self.wait_ticks(3)  # the watcher sees the directory gone, and its files with it
        self.write("wt_swap/__init__.py", "")
        self.write("wt_swap/mod.py", "VALUE = 2\n")
        self.wait_for_generation("wt_swap.mod", 2)
        self.assertEqual(wt_swap.mod.VALUE, 2)
        self.write("wt_swap/mod.py", "VALUE = 3\n")  # and the new directory is watched from now on
        self.wait_for_generation("wt_swap.mod", 3)

    def test_writes_to_other_files_beside_the_modules_cost_no_scans(self):
        self.write("wt_quiet.py", "VALUE = 1\n")
        self.install()
        import wt_quiet  # noqa: F401

        watcher = self.start_watching()
        scans = watcher.scans
        for index in range(20):  # a log file, a database: written constantly beside the code
            ticks = watcher.ticks
            self.write("wt_quiet.log", f"line {index}\n")
            self.wait_until(lambda: watcher.ticks > ticks, "the watcher to wake")
        self.assertEqual(watcher.scans, scans)
        self.write("wt_quiet.py", "VALUE = 2\n")  # and then one edit, which must still be seen
        self.wait_for_generation("wt_quiet", 2)


class MidWriteTest(WatcherCase):
    """Ticks driven by hand on a watcher that was never started: deterministic, no thread."""

    FULL = (
        "VALUE = 'complete'\n"
        "\n"
        "\n"
        "def describe():\n"
        "    return 'complete content, every line of it, ' + VALUE\n"
        "\n"
        "\n"
        "def more():\n"
        "    return [n * n for n in range(10)]\n"
    )

    def setUp(self):
        super().setUp()
        self.path = self.write("wt_mid.py", "VALUE = 'old'\n")
        self.install()
        import wt_mid

        self.module = wt_mid
        self.reports = self.subscribe()
        # The settle rule runs on a clock of the test's own: time passes only when later() says so.
        self.ticker = Watcher(_registry.state, 30.0, settle=30.0)
        self.now = time.time_ns()
        self.ticker.clock = lambda: self.now

    def later(self) -> None:
        """Let more than the settle time pass: files left alone since are settled."""
        self.now += 31 * 10**9

    def append(self, text: str) -> None:
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(text)

    def cuts(self) -> tuple[int, int]:
        return self.FULL.index("def describe(") + len("def describe("), self.FULL.index("def more():")

    @unittest.skipIf(_writers.open_for_writing(0) is None and not _writers._SUPPORTED,
                     "this system cannot say whether a file is open for writing")
    def test_a_save_in_place_is_taken_when_its_writer_closes_the_file_and_not_before(self):
        # The case: truncated, then written in several writes. No time passes on the clock,
        # so nothing but the kernel's answer (is it still open for writing?) can decide.
        cut1, cut2 = self.cuts()
        with self.assertNoLogs("versioned_import", logging.ERROR):
            with open(self.path, "w", encoding="utf-8") as stream:
                self.ticker.tick()  # truncated: an empty module, which would compile
                for part in (self.FULL[:cut1], self.FULL[cut1:cut2], self.FULL[cut2:]):
                    stream.write(part)
                    stream.flush()
                    self.ticker.tick()  # half written, then whole, but still open
                    self.assertEqual((vi.generation("wt_mid"), self.module.VALUE), (1, "old"))
            self.ticker.tick()  # closed: finished, at once
        self.assertEqual(vi.generation("wt_mid"), 2)
        self.assertEqual(self.module.describe(), "complete content, every line of it, complete")
        self.assertEqual([r.ok for r in self.reports], [True])

    def test_an_explicit_reload_of_a_file_open_for_writing_is_refused_as_mid_save(self):
        if _writers.open_for_writing(0) is None and not _writers._SUPPORTED:
            self.skipTest("this system cannot say whether a file is open for writing")
        with open(self.path, "w", encoding="utf-8") as stream:
            stream.write(self.FULL)
            stream.flush()
            with self.assertRaises(vi.ReloadError) as caught:
                vi.reload("wt_mid")
        self.assertIn("open for writing", str(caught.exception))
        self.assertIn("wait for the write to finish", str(caught.exception))
        self.assertEqual(self.module.VALUE, "old")
        self.assertEqual(vi.reload("wt_mid").generations, {"wt_mid": 2})

    def test_without_the_kernel_a_file_still_being_written_is_not_refused_and_ends_complete(self):
        # Where the kernel cannot say (another system, another user's file): the settle rule.
        self.enterContext(mock.patch.object(_writers, "_SUPPORTED", False))
        cut1, cut2 = self.cuts()
        with open(self.path, "w", encoding="utf-8") as stream:
            stream.write(self.FULL[:cut1])  # 'def describe(' cut off: a SyntaxError if compiled
        with self.assertNoLogs("versioned_import", logging.ERROR):
            self.ticker.tick()
            self.append(self.FULL[cut1:cut2])  # the writer is still going: the stat changed again
            self.ticker.tick()
            self.append(self.FULL[cut2:])  # and completes before it could settle
            for _ in range(2):
                self.later()
                self.ticker.tick()
                if vi.generation("wt_mid") == 2:
                    break
        self.assertEqual(vi.generation("wt_mid"), 2)
        self.assertEqual(self.module.VALUE, "complete")
        self.assertEqual(self.module.describe(), "complete content, every line of it, complete")
        self.assertEqual([r.ok for r in self.reports], [True])
        self.later()
        self.ticker.tick()
        self.assertEqual(len(self.reports), 1)

    def test_without_the_kernel_a_writer_that_pauses_is_refused_once_and_the_completed_file_reloads(self):
        self.enterContext(mock.patch.object(_writers, "_SUPPORTED", False))
        cut1, _ = self.cuts()
        with open(self.path, "w", encoding="utf-8") as stream:
            stream.write(self.FULL[:cut1])
        with self.assertLogs("versioned_import", logging.ERROR) as logs:
            self.ticker.tick()  # fresh: not yet settled
            self.assertEqual(self.reports, [])
            for _ in range(5):
                self.later()
                self.ticker.tick()
        self.assertEqual([r.ok for r in self.reports], [False])
        self.assertEqual(len(logs.records), 1)
        self.assertEqual(vi.generation("wt_mid"), 1)
        self.append(self.FULL[cut1:])
        for _ in range(2):
            self.later()
            self.ticker.tick()
            if vi.generation("wt_mid") == 2:
                break
        self.assertEqual(vi.generation("wt_mid"), 2)
        self.assertEqual(self.module.VALUE, "complete")
        self.assertEqual([r.ok for r in self.reports], [False, True])

    def test_without_the_kernel_a_racy_timestamp_is_not_taken_for_an_old_one(self):
        # The case on coarse timestamps: truncated, with the mtime the previous save left. An mtime
        # older than the settle time is no proof the file was left alone: only one older than any
        # timestamp granularity (RACY_NS) is.
        self.enterContext(mock.patch.object(_writers, "_SUPPORTED", False))
        ticker = Watcher(_registry.state, 30.0)  # the default settle time
        ticker.clock = lambda: self.now
        before = os.stat(self.path)
        with open(self.path, "w", encoding="utf-8"):
            pass
        os.utime(self.path, ns=(before.st_atime_ns, before.st_mtime_ns))
        self.now = before.st_mtime_ns + int(0.2 * 10**9)  # 200 ms after the previous save: past the settle time
        ticker.tick()
        self.assertEqual((vi.generation("wt_mid"), self.reports), (1, []))
        with open(self.path, "w", encoding="utf-8") as stream:
            stream.write(self.FULL)
        self.later()
        ticker.tick()
        self.assertEqual(vi.generation("wt_mid"), 2)
        self.assertEqual([r.ok for r in self.reports], [True])


@unittest.skipIf(Notifier.create() is None, "this system offers no change notifications (inotify): the watcher polls")
class ClosedAfterWritingTest(WatcherCase):
    def test_where_the_kernel_cannot_be_asked_the_notifications_say_when_a_write_is_finished(self):
        # Leases unavailable (another user's file, a filesystem without them): IN_MODIFY opens a write,
        # IN_CLOSE_WRITE ends it. Settle and interval (1 h) are out of reach: only the events decide.
        self.enterContext(mock.patch.object(_writers, "_SUPPORTED", False))
        path = self.write("wt_closed.py", "VALUE = 1\n")
        self.install()
        import wt_closed

        reports = self.subscribe()
        watcher = Watcher(_registry.state, 3600.0, settle=3600.0)
        _registry.state.watcher = watcher
        watcher.start()
        count = len(_registry.state.records)
        self.wait_until(lambda: watcher._watched[0] == count, "the watcher to watch the versioned directories")
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("VALUE = (\n")  # a prefix of the save: a SyntaxError if it were taken
            stream.flush()
            self.wait_until(lambda: watcher.scans >= 1, "the watcher to look at the file being written")
            self.wait_ticks(3)
            self.assertEqual((wt_closed.VALUE, reports), (1, []))
            stream.write("    2\n)\n")
        self.wait_for_generation("wt_closed", 2)
        self.assertEqual(wt_closed.VALUE, 2)
        self.assertEqual([r.ok for r in reports], [True])


class RollbackStaysTest(WatcherCase):
    """After a rollback, the watcher leaves the file rolled back from alone until it is saved again (G9, G11)."""

    def test_a_rollback_stays_past_many_ticks_and_a_new_save_is_taken(self):
        self.write("wt_back_a.py", "X = 1\n")
        self.write("wt_back_b.py", "from wt_back_a import X\nY = X * 2\n")
        self.install(watch=True, interval=0.01)
        import wt_back_a
        import wt_back_b

        self.write("wt_back_a.py", "X = 5\n")
        self.wait_for_generation("wt_back_b", 2)
        self.assertEqual((wt_back_a.X, wt_back_b.Y), (5, 10))
        report = []
        self.addCleanup(vi.on_reload(report.append))
        self.assertEqual(vi.rollback("wt_back_a"), 3)
        self.assertEqual((wt_back_a.X, wt_back_b.Y), (1, 2))  # the dependent goes back with it
        self.assertEqual(report[0].held, ("wt_back_a",))
        watcher = self.watcher()
        scans = watcher.scans
        self.wait_until(lambda: watcher.scans >= scans + 20, "20 more looks at the files")
        self.assertEqual((vi.generation("wt_back_a"), vi.generation("wt_back_b")), (3, 3))
        self.assertEqual((wt_back_a.X, wt_back_b.Y), (1, 2))
        self.assertEqual(vi.changed(), [])
        self.assertEqual(vi.reload_changed().reloaded, ())
        self.write("wt_back_a.py", "X = 7\n")  # saved again: a new edit, taken as usual
        self.wait_for_generation("wt_back_b", 4)
        self.assertEqual((wt_back_a.X, wt_back_b.Y), (7, 14))


class TornReadsTest(WatcherCase):
    """A writer thread saves a module hundreds of times while a reader uses it: no read may see a torn file."""

    SAVES = 300

    SOURCE = ("VERSION = {v}\n"
              "TAX = VERSION * 3\n"
              "\n"
              "\n"
              "def total():\n"
              "    return VERSION, TAX, CHECK\n"
              "\n"
              "\n"
              "CHECK = VERSION * 7  # {pad}\n")

    def source(self, version: int) -> str:
        return self.SOURCE.format(v=version, pad="x" * (version % 50))

    def save_in_place(self, path: str, version: int) -> None:
        with open(path, "w", encoding="utf-8") as stream:  # truncate, then write: readers can see it empty
            stream.write(self.source(version))

    def save_by_rename(self, path: str, version: int) -> None:
        with open(path + ".tmp", "w", encoding="utf-8") as stream:
            stream.write(self.source(version))
        os.replace(path + ".tmp", path)

    def run_saves(self, name: str, save, polling: bool) -> None:
        if polling:
            self.enterContext(mock.patch.object(Notifier, "create", classmethod(lambda cls: None)))
        path = self.write(f"{name}.py", self.source(0))
        self.install()
        module = __import__(name)
        reports = self.subscribe()
        vi.watch(interval=0.005)
        torn: list = []
        reads = [0]

        def reader(barrier, stop):
            barrier.wait()
            while not stop.is_set():
                try:
                    version, tax, check = module.total()
                    if (tax, check) != (version * 3, version * 7) or not hasattr(module, "CHECK"):
                        torn.append((version, tax, check))
                except (AttributeError, NameError) as exc:
                    torn.append(repr(exc))
                reads[0] += 1

        def writer(stop):
            pause = threading.Event()
            for version in range(1, self.SAVES + 1):
                save(path, version)
                pause.wait(0.002)  # a person, or a tool, saving again and again

        self.run_threads([reader], writer)
        self.wait_until(lambda: module.VERSION == self.SAVES, "the last save to be published")
        self.assertEqual(len(torn), 0, f"{len(torn)} torn reads of {reads[0]}, the first: {torn[:3]}")
        self.assertGreater(reads[0], 0)
        published = [r for r in reports if r.ok and r.reloaded]
        self.assertGreater(len(published), 1)
        # A refusal may only be a save caught mid-way by the reload's own read (the file changed after
        # the watcher found it finished): reported, never published, and tried again.
        for report in reports:
            if not report.ok:
                self.assertIsInstance(report.error.__cause__, SourceChangedWhileReading, str(report.error))
        self.assertTrue(self.watcher().alive())

    def test_in_place_saves_under_a_5ms_polling_watcher(self):
        self.run_saves("wt_torn_poll", self.save_in_place, polling=True)

    def test_saves_by_rename_under_a_5ms_polling_watcher(self):
        self.run_saves("wt_torn_poll_rename", self.save_by_rename, polling=True)

    @unittest.skipIf(Notifier.create() is None, "this system offers no change notifications (inotify)")
    def test_in_place_saves_under_notifications(self):
        self.run_saves("wt_torn_note", self.save_in_place, polling=False)

    @unittest.skipIf(Notifier.create() is None, "this system offers no change notifications (inotify)")
    def test_saves_by_rename_under_notifications(self):
        self.run_saves("wt_torn_note_rename", self.save_by_rename, polling=False)


if __name__ == "__main__":
    unittest.main()
