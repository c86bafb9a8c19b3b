"""Fork safety (G14): children of os.fork, multiprocessing and a forking server keep reloading; forks racing reloads never hang.

Each scenario runs in a fresh interpreter (forking the test runner itself
would copy its threads and sandboxes), bounded by a subprocess timeout; a
child that hangs is killed by its parent and counted, never waited for.
"""

import json
import os
import textwrap
import unittest

from tests.support import Sandbox

PRELUDE = textwrap.dedent("""\
    import gc, json, os, signal, sys, threading, time, types
    import versioned_import as vi
    from versioned_import._runtime import fork as _fork
    from versioned_import._core import proxy as _proxy
    from versioned_import._core import state as _registry
    ROOT = os.getcwd()
    state = _registry.state

    def write(name, text):
        path = os.path.join(ROOT, name)
        with open(path + ".tmp", "w") as stream:
            stream.write(text)
        os.replace(path + ".tmp", path)

    def wait_for(predicate, seconds=20.0):
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def reap(pid, seconds=20.0):
        # The child's exit code, or "hung" (then it is killed): never an unbounded wait.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "hung"
    """)

# stderr as programs usually have it: a buffered writer, with a lock (this machine exports PYTHONUNBUFFERED=1,
# which makes it a raw file without one).
BUFFERED_STDERR = {"PYTHONUNBUFFERED": ""}


class ForkCase(Sandbox):
    def scenario(self, body: str, timeout: float = 90, env: dict | None = None) -> dict:
        """Run PRELUDE + body in a fresh interpreter in the sandbox; return the JSON it prints last."""
        script = self.write("scenario.py", PRELUDE + textwrap.dedent(body))
        environment = {"VERSIONED_IMPORT_RUNTIME_DIR": self.write_dir("run")}
        environment.update(env or {})
        result = self.run_python(script, env=environment, timeout=timeout)
        self.assertProcessOK(result)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def write_dir(self, relative: str) -> str:
        path = os.path.join(self.root, relative)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
        return path


class OsForkTest(ForkCase):
    def test_a_child_restarts_the_watcher_and_takes_edits_made_after_the_fork(self):
        self.write("fk_mod.py", "VALUE = 1\n")
        outcome = self.scenario("""
            vi.install(roots=[ROOT], watch=True, interval=0.02)
            import fk_mod
            parent_watcher = state.watcher
            ready_r, ready_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(ready_r)
                ok = (state.watcher is not parent_watcher and state.watcher.alive() and gc.isenabled())
                os.write(ready_w, b"1")
                ok = ok and wait_for(lambda: fk_mod.VALUE == 2) and vi.generation("fk_mod") == 2
                os._exit(0 if ok else 1)
            os.close(ready_w)
            os.read(ready_r, 1)  # the child's watcher is running: now edit
            write("fk_mod.py", "VALUE = 2\\n")
            code = reap(pid)
            wait_for(lambda: fk_mod.VALUE == 2)
            print(json.dumps({"child": code, "parent": fk_mod.VALUE}))
            """)
        self.assertEqual(outcome, {"child": 0, "parent": 2})

    def test_a_child_reloads_explicitly_and_its_pins_are_its_own(self):
        self.write("fk_pin.py", "VALUE = 1\n")
        outcome = self.scenario("""
            vi.install(roots=[ROOT])
            import fk_pin
            entered, leave = threading.Event(), threading.Event()
            def reader():
                with vi.pinned():
                    entered.set()
                    leave.wait(30)
            thread = threading.Thread(target=reader)
            thread.start()
            entered.wait(30)
            write("fk_pin.py", "VALUE = 2\\n")
            vi.reload("fk_pin")  # the reader's pin keeps generation 1 alive: the proxy is in view mode
            pid = os.fork()
            if pid == 0:
                # The reader thread does not exist here: its pin must not keep the view mode on.
                write("fk_pin.py", "VALUE = 3\\n")
                vi.reload("fk_pin")
                fast = type(sys.modules["fk_pin"]) is types.ModuleType or not _proxy.FAST_SWAP
                with vi.pinned():
                    pinned_value = fk_pin.VALUE
                os._exit(0 if (fk_pin.VALUE, pinned_value, fast, state.pinned_stale) == (3, 3, True, set()) else 1)
            code = reap(pid)
            leave.set()
            thread.join()
            print(json.dumps({"child": code, "parent": fk_pin.VALUE}))
            """)
        self.assertEqual(outcome, {"child": 0, "parent": 2})

    def test_forks_racing_reloads_never_hang_and_leave_the_collector_on(self):
        self.write("fk_race.py", "".join(f"def f{i}(x):\n    return x + {i}\n\nclass C{i}:\n    def m(self):\n"
                                         f"        return {i}\n\n" for i in range(40)) + "VALUE = 0\n")
        outcome = self.scenario("""
            vi.install(roots=[ROOT])
            import fk_race
            stop = threading.Event()
            reloads = []
            def reloader():
                while not stop.is_set():
                    vi.reload("fk_race")
                    reloads.append(1)
            thread = threading.Thread(target=reloader)
            thread.start()
            codes = []
            for attempt in range(FORKS):
                pid = os.fork()
                if pid == 0:
                    # The child's next reload must not hang on a lock held by the vanished reloader.
                    before = vi.generation("fk_race")
                    ok = gc.isenabled() and vi.reload("fk_race").generations["fk_race"] == before + 1
                    ok = ok and not state.staging and state.reloading_thread is None
                    os._exit(0 if ok else 1)
                codes.append(reap(pid))
            stop.set()
            thread.join()
            print(json.dumps({"codes": codes, "reloads": len(reloads), "collector": gc.isenabled()}))
            """.replace("FORKS", "60"))
        self.assertEqual(outcome["codes"], [0] * 60, "a child hung ('hung') or was inconsistent (1)")
        self.assertTrue(outcome["collector"])
        self.assertGreater(outcome["reloads"], 0)

    def test_a_fork_while_a_reload_writes_its_log_line_leaves_the_child_a_working_stderr(self):
        # stderr is a pipe nobody reads yet, filled up: the reload's log line blocks in its write, holding
        # stderr's buffer lock (as when a log collector lags behind). The fork comes then; the parent starts
        # draining only as it forks. A child that inherits the lock held hangs at its own first log line.
        self.write("fk_line.py", "VALUE = 1\n")
        outcome = self.scenario("""
            import platform
            assert type(sys.stderr.buffer).__name__ == "BufferedWriter"
            WRITE = {"x86_64": "1", "aarch64": "64"}.get(platform.machine())

            def blocked_writing_stderr(thread):
                with open(f"/proc/self/task/{thread.native_id}/syscall") as stream:
                    return stream.read().split()[:2] == [WRITE, "0x2"]

            read_end, write_end = os.pipe()
            os.dup2(write_end, 2)
            os.close(write_end)
            os.set_blocking(2, False)
            for size in (65536, 1):
                try:
                    while True:
                        os.write(2, b"." * size)
                except BlockingIOError:
                    pass
            os.set_blocking(2, True)
            drain = threading.Event()

            def drainer():
                drain.wait()
                while os.read(read_end, 65536):
                    pass

            threading.Thread(target=drainer, daemon=True).start()
            vi.install(roots=[ROOT])
            os.register_at_fork(before=drain.set)  # before hooks run last-registered first: before the library's
            import fk_line
            write("fk_line.py", "VALUE = 2\\n")
            thread = threading.Thread(target=vi.reload, args=("fk_line",))
            thread.start()
            if WRITE is None or not wait_for(lambda: blocked_writing_stderr(thread)):
                print(json.dumps({"skipped": f"no blocked write seen on {platform.machine()}"}))
                sys.exit(0)
            pid = os.fork()
            if pid == 0:
                write("fk_line.py", "VALUE = 3\\n")
                ok = vi.reload("fk_line").generations["fk_line"] == 3 and fk_line.VALUE == 3
                os._exit(0 if ok else 1)
            code = reap(pid)
            thread.join()
            print(json.dumps({"child": code, "parent": fk_line.VALUE}))
            """, env=BUFFERED_STDERR)
        if "skipped" in outcome:
            self.skipTest(outcome["skipped"])
        self.assertEqual(outcome, {"child": 0, "parent": 2})

    def test_a_hundred_forks_racing_a_reloading_thread_that_logs_to_a_pipe_never_hang(self):
        # Issue 20's scenario: a thread reloads a 25-class module in a loop, its log line going to stderr, a
        # real pipe; forks land at random moments, many of them as a reload tells its subscribers and logs.
        self.write("fk_pipe.py", "".join(f"class C{i}:\n    def m(self):\n        return {i}\n\n"
                                         for i in range(25)) + "VALUE = 0\n")
        outcome = self.scenario("""
            import random
            vi.install(roots=[ROOT])
            import fk_pipe
            published = threading.Event()
            vi.on_reload(lambda report: published.set())  # told just before the log line is written
            stop = threading.Event()

            def reloader():
                while not stop.is_set():
                    vi.reload("fk_pipe")

            thread = threading.Thread(target=reloader)
            thread.start()
            chance = random.Random(20)
            codes = []
            for attempt in range(FORKS):
                published.wait(30)
                published.clear()
                for _ in range(chance.randrange(200)):  # a random moment after the notification
                    pass
                pid = os.fork()
                if pid == 0:
                    before = vi.generation("fk_pipe")
                    ok = vi.reload("fk_pipe").generations["fk_pipe"] == before + 1
                    import fk_pipe as again
                    ok = ok and again is fk_pipe and vi.reload("fk_pipe").generations["fk_pipe"] == before + 2
                    os._exit(0 if ok else 1)
                codes.append(reap(pid, 6.0))
                if codes[-1] != 0:
                    break  # one is enough: the test fails, and sooner
            stop.set()
            thread.join()
            print(json.dumps({"codes": codes}))
            """.replace("FORKS", "100"), timeout=180, env=BUFFERED_STDERR)
        self.assertEqual(outcome["codes"], [0] * 100, "a child hung ('hung') or was inconsistent (1)")

    def test_a_fork_during_a_reload_that_outlasts_the_wait_leaves_the_child_clean(self):
        self.write("fk_slow.py", "VALUE = 1\n")
        outcome = self.scenario("""
            vi.install(roots=[ROOT])
            import fk_slow
            _fork.FORK_WAIT = 0.2
            write("fk_slow.py", "VALUE = 2\\n")
            staged_event, finish = threading.Event(), threading.Event()
            def reloader():
                staged = _reload.stage(state, ["fk_slow"])
                staged_event.set()
                finish.wait(30)
                staged.publish()
            from versioned_import._reload import transaction as _reload
            thread = threading.Thread(target=reloader)
            thread.start()
            staged_event.wait(30)
            pid = os.fork()  # the reload is staged and will not finish within FORK_WAIT
            if pid == 0:
                clean = not state.staging and state.reloading_thread is None and fk_slow.VALUE == 1
                write("fk_slow.py", "VALUE = 3\\n")
                ok = clean and vi.reload("fk_slow").generations["fk_slow"] == 2 and fk_slow.VALUE == 3
                os._exit(0 if ok else 1)
            code = reap(pid)
            finish.set()
            thread.join()
            print(json.dumps({"child": code, "parent": fk_slow.VALUE}))
            """)
        self.assertEqual(outcome, {"child": 0, "parent": 2})  # the parent publishes what it staged


class MultiprocessingTest(ForkCase):
    def test_fork_pool_workers_take_edits_with_their_own_watchers(self):
        self.write("fk_pool.py", "VALUE = 1\n")
        outcome = self.scenario("""
            import multiprocessing
            vi.install(roots=[ROOT], watch=True, interval=0.02)
            import fk_pool
            context = multiprocessing.get_context("fork")
            barrier = context.Barrier(2)

            def probe(_):
                barrier.wait(20)  # two tasks meet: each runs in a different worker
                return os.getpid(), fk_pool.VALUE

            with context.Pool(2) as pool:
                workers = {pid for pid, _ in pool.map(probe, range(2), chunksize=1)}
                write("fk_pool.py", "VALUE = 2\\n")
                wait_for(lambda: set(value for _, value in pool.map(probe, range(2), chunksize=1)) == {2})
                answers = pool.map(probe, range(2), chunksize=1)
            print(json.dumps({"workers": len(workers), "same": {p for p, _ in answers} == workers,
                              "values": sorted({v for _, v in answers})}))
            """)
        self.assertEqual(outcome, {"workers": 2, "same": True, "values": [2]})

    def test_spawn_and_forkserver_children_import_the_current_source(self):
        self.write("fk_spawn.py", "VALUE = 1\n\ndef probe():\n    return VALUE\n")
        outcome = self.scenario("""
            import multiprocessing
            if __name__ == "__main__":
                vi.install(roots=[ROOT], control=True)
                import fk_spawn
                write("fk_spawn.py", "VALUE = 2\\n\\ndef probe():\\n    return VALUE\\n")
                vi.reload("fk_spawn")
                values = {}
                for method in ("spawn", "forkserver"):
                    with multiprocessing.get_context(method).Pool(1) as pool:
                        values[method] = pool.apply(fk_spawn.probe)
                print(json.dumps(values))
            """)
        self.assertEqual(outcome, {"spawn": 2, "forkserver": 2})


class ForkingServerTest(ForkCase):
    def test_each_request_child_of_a_forking_server_runs_the_newest_code(self):
        self.write("fk_app.py", "VALUE = 1\n")
        outcome = self.scenario("""
            import socket, socketserver
            vi.install(roots=[ROOT], watch=True, interval=0.02)
            import fk_app
            class Handler(socketserver.StreamRequestHandler):
                def handle(self):
                    with vi.pinned():
                        self.wfile.write(f"{fk_app.VALUE} {vi.generation('fk_app')} {gc.isenabled()}\\n".encode())
            class Server(socketserver.ForkingMixIn, socketserver.TCPServer):
                allow_reuse_address = True
            server = Server(("127.0.0.1", 0), Handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            def ask():
                with socket.create_connection(server.server_address, timeout=20) as conn:
                    return conn.makefile().readline().split()
            answers = [ask()]
            write("fk_app.py", "VALUE = 2\\n")
            wait_for(lambda: vi.generation("fk_app") == 2)
            answers.append(ask())
            server.shutdown()
            server.server_close()
            print(json.dumps(answers))
            """)
        self.assertEqual(outcome, [["1", "1", "True"], ["2", "2", "True"]])


if __name__ == "__main__":
    unittest.main()
