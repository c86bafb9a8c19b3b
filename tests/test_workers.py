"""One generation across workers (G14): a coordinated reload publishes in the leader and every worker, or in none.

The workers are real processes: a pre-fork server built from the standard
library (a leader that binds the socket and forks workers serving it, as
gunicorn does) and a ``multiprocessing`` pool. The soak runs coordinated
reloads while requests flow and counts requests that saw two generations
inside ``pinned()`` and requests that got no answer: both must be 0.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import unittest

import versioned_import as vi
from tests.support import REPO, Sandbox
from tests.test_fork import ForkCase
from versioned_import._runtime import coordinate as _coordinate

SOAK = bool(os.environ.get("VERSIONED_IMPORT_SOAK"))

PREFORK = textwrap.dedent("""\
    import os, signal, socketserver, sys, threading, time
    import versioned_import as vi

    vi.install(roots=[os.getcwd()], control=True, reload_signal=signal.SIGHUP)
    if os.environ.get("CW_WATCH"):
        vi.install(watch=True, interval=0.02)  # the development setup: one watcher, the leader's
        import cw_c
    import cw_a, cw_b

    def record(report):
        with open(f"reports-{os.getpid()}.log", "a") as stream:
            stream.write(("ok" if report.ok else "refused") + "\\n")

    vi.on_reload(record)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.rfile.readline()
            with vi.pinned():  # one generation of the code for the whole request
                first = cw_a.VERSION
                work = sum(range(2000))
                second = cw_b.VERSION_B
                third = cw_a.version()
            self.wfile.write(f"{os.getpid()} {first} {second} {third}\\n".encode())

    class Server(socketserver.TCPServer):
        allow_reuse_address = True
        request_queue_size = 64

    server = Server(("127.0.0.1", 0), Handler)  # bound and listening before the fork: shared by the workers
    leader = os.getpid()
    workers = []
    for _ in range(int(sys.argv[1])):
        pid = os.fork()
        if pid == 0:
            def orphaned():
                while os.getppid() == leader:
                    time.sleep(0.05)
                os._exit(0)
            threading.Thread(target=orphaned, daemon=True).start()
            server.serve_forever(poll_interval=0.05)
            os._exit(0)
        workers.append(pid)
    print(server.server_address[1], " ".join(map(str, workers)), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    for pid in workers:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    """)

A_SOURCE = "import os\nVERSION = {version}\n\ndef version():\n    return VERSION\n{extra}"
B_SOURCE = "from cw_a import VERSION as VERSION_B\n"


class PreforkCase(Sandbox):
    WORKERS = 3
    WATCH = False  # install(watch=True) in the leader before it forks

    def setUp(self) -> None:
        super().setUp()
        self.runtime = os.path.join(self.root, "run")
        os.mkdir(self.runtime, 0o700)
        self.edit(1)
        self.write("cw_b.py", B_SOURCE)
        self.write("cw_c.py", "C = 0\n")
        self.write("prefork.py", PREFORK)
        environment = dict(os.environ, PYTHONPATH=REPO, VERSIONED_IMPORT_RUNTIME_DIR=self.runtime)
        if self.WATCH:
            environment["CW_WATCH"] = "1"
        self.leader = subprocess.Popen([sys.executable, "prefork.py", str(self.WORKERS)], cwd=self.root,
                                       env=environment, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_leader)
        line = self.leader.stdout.readline().split()
        if not line:
            self.fail("the pre-fork server did not start")
        self.port, self.workers = int(line[0]), [int(p) for p in line[1:]]
        self.wait_until(lambda: len(self.status()["processes"]) == 1 + self.WORKERS, "every worker's channel")

    def stop_leader(self) -> None:
        if self.leader.poll() is None:
            self.leader.stdin.close()
            try:
                self.leader.wait(20)
            except subprocess.TimeoutExpired:
                self.leader.kill()
                self.leader.wait()
        self.leader.stdout.close()

    def edit(self, version: int, extra: str = "") -> None:
        self.write("cw_a.py", A_SOURCE.format(version=version, extra=textwrap.dedent(extra)))

    def status(self) -> dict:
        return _coordinate.status(self.leader.pid, directory=self.runtime, timeout=20)

    def reload(self, **options) -> dict:
        options.setdefault("timeout", 20)
        return _coordinate.reload(self.leader.pid, directory=self.runtime, **options)

    def generations(self) -> dict:
        """pid -> generation of cw_a, for the leader and each worker."""
        return {p["pid"]: p["modules"]["cw_a"]["generation"] for p in self.status()["processes"]}

    def cli(self, *arguments: str):
        return self.run_python("-m", "versioned_import", *arguments, env={"VERSIONED_IMPORT_RUNTIME_DIR": self.runtime})

    def ask(self) -> list[int]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as conn:
            conn.sendall(b"go\n")
            return [int(x) for x in conn.makefile().readline().split()]


class CoordinatedReloadTest(PreforkCase):
    def test_the_leader_and_every_worker_publish_the_same_generation(self):
        self.edit(2)
        result = self.reload()
        self.assertEqual(result["outcome"], "published", result)
        self.assertEqual(sorted(p["pid"] for p in result["processes"]), sorted([self.leader.pid, *self.workers]))
        for entry in result["processes"]:
            self.assertEqual(entry["generations"], {"cw_a": 2, "cw_b": 2})
            self.assertEqual(len(entry["staged"]), 2)
        status = self.status()
        self.assertTrue(status["consistent"])
        self.assertEqual(set(self.generations().values()), {2})
        self.assertEqual({tuple(self.ask()[1:]) for _ in range(12)}, {(2, 2, 2)})

    def test_status_through_the_cli_lists_each_worker(self):
        result = self.run_python("-m", "versioned_import", "status", "--pid", str(self.leader.pid),
                                 env={"VERSIONED_IMPORT_RUNTIME_DIR": self.runtime})
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn(f"status pid {self.leader.pid} and 3 workers: answered", result.stdout)
        for pid in self.workers:
            self.assertIn(f"pid {pid} (worker): cw_a (gen 1), cw_b (gen 1)", result.stdout)

    def test_only_addresses_the_leader_alone(self):
        self.edit(2)
        result = self.reload(only=True)
        self.assertEqual(result["outcome"], "published")
        self.assertEqual(self.generations(), {self.leader.pid: 2, **dict.fromkeys(self.workers, 1)})
        self.assertFalse(self.status()["consistent"])
        self.assertEqual(self.status()["differing"], ["cw_a"])

    def test_a_worker_that_refuses_stops_every_publish(self):
        refusing = self.workers[1]
        self.write(f"refuse-{refusing}", "")
        self.edit(2, """
            def __reload__(old):
                if os.path.exists(f"refuse-{os.getpid()}"):
                    raise RuntimeError(f"worker {os.getpid()} says no")
            """)
        result = self.reload()
        self.assertEqual(result["outcome"], "refused", result)
        self.assertIn(f"pid {refusing} (worker): reload of 'cw_a' refused: RuntimeError", result["reason"])
        self.assertIn("nothing was published anywhere", result["reason"])
        self.assertEqual(set(self.generations().values()), {1})
        self.assertEqual({tuple(self.ask()[1:]) for _ in range(6)}, {(1, 1, 1)})
        os.unlink(os.path.join(self.root, f"refuse-{refusing}"))
        self.assertEqual(self.reload()["outcome"], "published")
        self.assertEqual(set(self.generations().values()), {2})

    def test_side_effects_follow_the_coordinated_reload_in_every_process(self):
        # G17 under G14: a cleanup registered with hot.dispose runs in every process at the publish,
        # and in none while a worker refuses.
        refusing = self.workers[0]
        hooks = """
            import versioned_import as vi
            hot = vi.hot(__name__)
            @hot.dispose
            def mark():
                with open(f"disposed-{os.getpid()}-{VERSION}", "w"):
                    pass
            def __reload__(old):
                if os.path.exists(f"refuse-{os.getpid()}"):
                    raise RuntimeError("no")
            """
        self.edit(2, hooks)
        self.assertEqual(self.reload()["outcome"], "published")
        self.write(f"refuse-{refusing}", "")
        self.edit(3, hooks)
        self.assertEqual(self.reload()["outcome"], "refused")
        self.assertEqual([n for n in os.listdir(self.root) if n.startswith("disposed-")], [])
        os.unlink(os.path.join(self.root, f"refuse-{refusing}"))
        self.assertEqual(self.reload()["outcome"], "published")
        marks = sorted(n for n in os.listdir(self.root) if n.startswith("disposed-"))
        self.assertEqual(marks, sorted(f"disposed-{pid}-2" for pid in [self.leader.pid, *self.workers]))

    def test_a_worker_that_dies_while_staging_stops_every_publish(self):
        dying = self.workers[0]
        self.write(f"die-{dying}", "")
        self.edit(2, "if os.path.exists(f'die-{os.getpid()}'):\n    os._exit(7)\n")
        result = self.reload()
        self.assertEqual(result["outcome"], "refused", result)
        self.assertIn(f"pid {dying} (worker): died", result["reason"])
        self.assertEqual(self.generations(), {self.leader.pid: 1, **{p: 1 for p in self.workers if p != dying}})
        # The dead worker is no longer a worker: the next reload takes the others.
        result = self.reload()
        self.assertEqual(result["outcome"], "published", result)
        self.assertEqual(len(result["processes"]), self.WORKERS)

    def test_a_worker_that_does_not_answer_in_time_stops_every_publish(self):
        slow = self.workers[2]
        self.write(f"slow-{slow}", "")
        self.edit(2, """
            import time
            deadline = time.monotonic() + 20
            while os.path.exists(f"slow-{os.getpid()}") and time.monotonic() < deadline:
                time.sleep(0.01)
            """)
        result = self.reload(timeout=2)
        self.assertEqual(result["outcome"], "refused", result)
        self.assertIn(f"pid {slow} (worker): no answer within 2 s", result["reason"])
        os.unlink(os.path.join(self.root, f"slow-{slow}"))  # it finishes staging, finds nobody, abandons
        self.wait_until(lambda: self.status()["processes"][-1].get("ok"), "the slow worker to answer again")
        self.assertEqual(set(self.generations().values()), {1})

    def test_a_name_no_process_has_is_refused_everywhere(self):
        result = self.reload(names=["cw_nowhere"])
        self.assertEqual(result["outcome"], "refused")
        self.assertIn("reload of 'cw_nowhere' refused: no module of that name has been imported", result["reason"])
        result = self.reload()
        self.assertEqual(result["outcome"], "nothing")

    def test_a_name_that_is_not_versioned_is_explained_as_reload_explains_it(self):
        # The same sentence as vi.reload("math") in a process (not "check the spelling": it was imported).
        vi.install(roots=[self.root])
        with self.assertRaises(vi.NotVersionedError) as caught:
            vi.reload("math")
        result = self.cli("reload", "--pid", str(self.leader.pid), "math")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(str(caught.exception), result.stdout)
        self.assertNotIn("spelling", result.stdout)

    def test_nothing_to_reload_is_reported_as_a_reload_not_an_abandon(self):
        result = self.cli("reload", "--pid", str(self.leader.pid), "--json")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["outcome"], "nothing")
        self.assertEqual(len(report["processes"]), 1 + self.WORKERS)
        self.assertEqual({(p["action"], tuple(p["reloaded"])) for p in report["processes"]}, {("reload", ())})
        self.assertNotIn("abandon", self.cli("reload", "--pid", str(self.leader.pid)).stdout)


class SignalOverWorkersTest(PreforkCase):
    def reports(self) -> list:
        try:
            with open(os.path.join(self.root, f"reports-{self.leader.pid}.log")) as stream:
                return stream.read().split()
        except FileNotFoundError:
            return []

    def test_the_reload_signal_moves_the_leader_and_every_worker(self):
        self.edit(2)
        os.kill(self.leader.pid, signal.SIGHUP)
        self.wait_until(lambda: set(self.generations().values()) == {2}, "every process to publish")
        self.assertEqual(len(self.generations()), 1 + self.WORKERS)
        self.edit(3, "raise RuntimeError('broken')\n")
        os.kill(self.leader.pid, signal.SIGHUP)
        self.wait_until(lambda: "refused" in self.reports(), "the refusal")
        self.assertIsNone(self.leader.poll())
        self.assertEqual(set(self.generations().values()), {2})


class WatchedWorkersTest(PreforkCase):
    """With the watcher on, the leader's watcher decides for every worker: one coordinated reload, all or none."""

    WATCH = True

    def reports(self, pid: int) -> list:
        try:
            with open(os.path.join(self.root, f"reports-{pid}.log")) as stream:
                return stream.read().split()
        except FileNotFoundError:
            return []

    def everywhere(self, module: str) -> set:
        return {p["modules"][module]["generation"] for p in self.status()["processes"]}

    def watcher_has_looked(self, version: int) -> None:
        """Edit an unrelated module and wait until every process runs it: the watcher has looked since."""
        self.write("cw_c.py", f"C = {version}\n")
        self.wait_until(lambda: self.everywhere("cw_c") == {version + 1}, f"cw_c generation {version + 1}")

    def test_workers_run_no_watcher_of_their_own(self):
        processes = {p["pid"]: p for p in self.status()["processes"]}
        self.assertTrue(processes[self.leader.pid]["watching"])
        for pid in self.workers:
            self.assertEqual((processes[pid]["watching"], processes[pid]["leader_watches"]), (False, True))

    def test_an_edit_one_worker_refuses_is_published_in_none(self):
        refusing = self.workers[1]
        self.write(f"refuse-{refusing}", "")
        self.edit(2, """
            def __reload__(old):
                if os.path.exists(f"refuse-{os.getpid()}"):
                    raise RuntimeError(f"worker {os.getpid()} says no")
            """)
        self.wait_until(lambda: "refused" in self.reports(self.leader.pid), "the leader to report the refusal")
        self.assertEqual(self.everywhere("cw_a"), {1})
        self.assertEqual({tuple(self.ask()[1:]) for _ in range(6)}, {(1, 1, 1)})
        self.assertEqual(self.reports(refusing).count("refused"), 1)
        # Another save: the watcher tries the changed files again, as one set, and nobody publishes either.
        self.write("cw_c.py", "C = 1\n")
        self.wait_until(lambda: self.reports(self.leader.pid).count("refused") == 2, "the second refusal")
        self.assertEqual((self.everywhere("cw_a"), self.everywhere("cw_c")), ({1}, {1}))
        os.unlink(os.path.join(self.root, f"refuse-{refusing}"))
        self.edit(3)  # a new save: taken by all, one generation
        self.wait_until(lambda: self.everywhere("cw_a") == {2}, "every process to publish cw_a")
        self.assertEqual((self.everywhere("cw_b"), self.everywhere("cw_c")), ({2}, {2}))
        self.assertEqual({tuple(self.ask()[1:]) for _ in range(6)}, {(3, 3, 3)})
        self.assertEqual(self.reports(self.leader.pid).count("refused"), 2)

    def test_a_rollback_across_workers_stays_with_the_watcher_on(self):
        self.edit(2)
        self.wait_until(lambda: self.everywhere("cw_b") == {2}, "every process to publish the edit")
        result = self.run_python("-m", "versioned_import", "rollback", "--pid", str(self.leader.pid), "cw_a",
                                 "--json", env={"VERSIONED_IMPORT_RUNTIME_DIR": self.runtime})
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        report = __import__("json").loads(result.stdout)
        self.assertEqual(report["outcome"], "published")
        for entry in report["processes"]:
            self.assertEqual((entry["generations"], entry["held"]), ({"cw_a": 3, "cw_b": 3}, ["cw_a"]))
        self.watcher_has_looked(1)
        self.watcher_has_looked(2)
        self.assertEqual(self.everywhere("cw_a"), {3})
        self.assertEqual({tuple(self.ask()[1:]) for _ in range(6)}, {(1, 1, 1)})
        for entry in self.status()["processes"]:
            self.assertEqual((entry["changed"], entry["held"]), ([], ["cw_a"]))
        self.edit(4)  # saved again: taken everywhere
        self.wait_until(lambda: self.everywhere("cw_a") == {4}, "every process to take the new save")
        self.assertEqual({tuple(self.ask()[1:]) for _ in range(6)}, {(4, 4, 4)})


class DisagreementTest(unittest.TestCase):
    """Processes that staged different bytes of one module (a file caught mid-edit) must not publish."""

    def session(self, pid, target):
        session = _coordinate._Session(pid, "worker", "/nonexistent", 1)
        session.reply = {"ok": True, "staged": target, "unknown": [], "target": target}
        return session

    def test_different_hashes_of_one_module_refuse(self):
        sessions = [self.session(1, {"m": "aa", "n": "cc"}), self.session(2, {"m": "bb", "n": "cc"})]
        reason, differing = _coordinate._why_not(sessions, [])
        self.assertIn("would not run the same source of 'm'", reason)
        self.assertIn("pid 1 has sha256 aa", reason)
        self.assertEqual(differing, ["m"])  # a file written meanwhile: the watcher tries again

    def test_modules_only_some_processes_have_agree(self):
        sessions = [self.session(1, {"m": "aa"}), self.session(2, {"m": "aa", "lazy": "dd"})]
        self.assertEqual(_coordinate._why_not(sessions, []), (None, []))


class PoolTest(ForkCase):
    def test_a_multiprocessing_pool_moves_to_one_generation(self):
        self.write("cw_pool.py", "import os\nVALUE = 1\n\ndef probe(_):\n    return os.getpid(), VALUE\n")
        outcome = self.scenario("""
            import multiprocessing
            from versioned_import._runtime import coordinate as _coordinate
            vi.install(roots=[ROOT], control=True)
            import cw_pool
            with multiprocessing.get_context("fork").Pool(3) as pool:
                pool.map(cw_pool.probe, range(30), chunksize=1)
                wait_for(lambda: len(_coordinate.status(os.getpid())["processes"]) == 4)
                write("cw_pool.py", "import os\\nVALUE = 2\\n\\ndef probe(_):\\n    return os.getpid(), VALUE\\n")
                result = _coordinate.reload(os.getpid(), timeout=20)
                values = {value for _, value in pool.map(cw_pool.probe, range(30), chunksize=1)}
                status = _coordinate.status(os.getpid())
            print(json.dumps({"outcome": result["outcome"], "processes": len(result["processes"]),
                              "values": sorted(values), "parent": cw_pool.VALUE, "consistent": status["consistent"]}))
            """)
        self.assertEqual(outcome, {"outcome": "published", "processes": 4, "values": [2], "parent": 2,
                                   "consistent": True})


class SoakTest(PreforkCase):
    RELOADS = 1000 if SOAK else 100

    def test_coordinated_reloads_while_requests_flow(self):
        answers, lost, mixed = [], [], []

        def client(barrier, stop):
            barrier.wait()
            while not stop.is_set():
                try:
                    pid, first, second, third = self.ask()
                except (OSError, ValueError) as exc:
                    lost.append(repr(exc))
                    continue
                answers.append((pid, first))
                if not first == second == third:
                    mixed.append((pid, first, second, third))

        published = []

        def reloads(stop):
            for version in range(2, self.RELOADS + 2):
                self.edit(version)
                result = self.reload()
                self.assertEqual(result["outcome"], "published", result)
                generations = {p["pid"]: p["generations"]["cw_a"] for p in result["processes"]}
                self.assertEqual(len(generations), 1 + self.WORKERS)
                self.assertEqual(set(generations.values()), {version}, generations)
                published.append(version)

        self.run_threads([client, client], reloads)
        self.assertEqual(len(published), self.RELOADS)
        self.assertEqual(mixed, [], "requests saw two generations inside pinned()")
        self.assertEqual(lost, [], "requests got no answer")
        self.assertGreater(len(answers), 0)
        self.assertEqual({tuple(self.ask()[1:]) for _ in range(6)}, {(self.RELOADS + 1,) * 3})


if __name__ == "__main__":
    unittest.main()
