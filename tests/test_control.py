"""Reload on command (G14): the control channel, the CLI and the reload signal against a live process.

The live process is a fresh interpreter with ``install(control=True,
reload_signal=SIGHUP)``; the test talks to it through ``_coordinate`` (as the
CLI does) and through the CLI itself, and to its socket directly with
malformed and hostile messages. Every wait is bounded.
"""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import traceback
import typing
import unittest
from unittest import mock

import versioned_import as vi
from tests.support import REPO, Sandbox
from versioned_import._core import state as _registry
from versioned_import._runtime import channel as _channel
from versioned_import._runtime import coordinate as _coordinate

LIVE = textwrap.dedent("""\
    import os, signal, sys
    import versioned_import as vi
    from versioned_import._runtime import control as _control
    _control.REQUEST_TIMEOUT = 0.5
    vi.install(roots=[os.getcwd()], control=True, reload_signal=signal.SIGHUP)
    import lc_mod, lc_user

    def record(report):
        with open("reports.log", "a") as stream:
            stream.write(("ok" if report.ok else "refused") + "\\n")

    vi.on_reload(record)
    print(os.getpid(), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    """)


class LiveProcessCase(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.runtime = os.path.join(self.root, "run")
        os.mkdir(self.runtime, 0o700)
        self.write("lc_mod.py", "VALUE = 1\n")
        self.write("lc_user.py", "from lc_mod import VALUE\n")
        self.write("live.py", LIVE)
        environment = dict(os.environ, PYTHONPATH=REPO, VERSIONED_IMPORT_RUNTIME_DIR=self.runtime)
        self.process = subprocess.Popen([sys.executable, "live.py"], cwd=self.root, env=environment, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop_live)
        line = self.process.stdout.readline()
        if not line.strip():
            self.fail(f"the live process did not start:\n{self.process.stderr.read()}")
        self.pid = int(line)

    def stop_live(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()

    def status(self) -> dict:
        return _coordinate.status(self.pid, directory=self.runtime, timeout=20)

    def generations(self) -> dict:
        result = self.status()
        self.assertTrue(result["ok"], result)
        return {name: m["generation"] for name, m in result["processes"][0]["modules"].items()}

    def cli(self, *arguments: str):
        return self.run_python("-m", "versioned_import", *arguments,
                               env={"VERSIONED_IMPORT_RUNTIME_DIR": self.runtime})

    def raw(self, data: bytes, half_close: bool = True) -> dict:
        """Send ``data`` as is to the live process's socket; return its reply."""
        path = _channel.find(self.pid, self.runtime)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(20)
            conn.connect(path)
            if data:
                conn.sendall(data)
            if half_close:
                conn.shutdown(socket.SHUT_WR)
            return _channel.receive(conn, _channel.MAX_REPLY, 20)


class CommandTest(LiveProcessCase):
    def test_the_socket_is_private(self):
        path = _channel.find(self.pid, self.runtime)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(os.path.basename(path), f"0-{self.pid}.sock")

    def test_status_reload_and_rollback_through_the_cli(self):
        result = self.cli("status", "--pid", str(self.pid), "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        status = json.loads(result.stdout)
        self.assertEqual(status["processes"][0]["modules"]["lc_mod"]["generation"], 1)
        self.assertEqual(status["processes"][0]["pid"], self.pid)

        self.write("lc_mod.py", "VALUE = 2\n")
        result = self.cli("reload", "--pid", str(self.pid), "--json")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual((report["ok"], report["outcome"]), (True, "published"))
        self.assertEqual(report["processes"][0]["generations"], {"lc_mod": 2, "lc_user": 2})
        self.assertEqual(report["processes"][0]["reloaded"], ["lc_mod", "lc_user"])

        # The undo of that reload: lc_user, which it re-executed, goes back with lc_mod.
        result = self.cli("rollback", "--pid", str(self.pid), "lc_mod")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("rolled back lc_mod (gen 3), lc_user (gen 3)", result.stdout)
        self.assertIn("not taken from disk until saved again: lc_mod", result.stdout)
        self.assertEqual(self.generations(), {"lc_mod": 3, "lc_user": 3})

        # It stays back: what changed on disk is nothing, and status says why the file differs.
        result = self.cli("reload", "--pid", str(self.pid))
        self.assertEqual(result.returncode, 0)
        self.assertIn("nothing to reload", result.stdout)
        result = self.cli("status", "--pid", str(self.pid))
        self.assertIn("held back by a rollback (the file differs): lc_mod", result.stdout)
        self.assertEqual(json.loads(self.cli("status", "--pid", str(self.pid), "--json").stdout)
                         ["processes"][0]["held"], ["lc_mod"])

        result = self.cli("reload", "--pid", str(self.pid), "lc_mod")  # by name: the file is taken
        self.assertEqual(result.returncode, 0)
        self.assertIn("reloaded lc_mod (gen 4), lc_user (gen 4)", result.stdout)

    def test_which_dependents_re_run_is_the_callers_choice_through_the_cli(self):
        # lc_user reads VALUE only: an edit of another name leaves it alone unless every dependent is asked for.
        self.write("lc_mod.py", "VALUE = 1\nOTHER = 2\n")
        result = self.cli("reload", "--pid", str(self.pid), "lc_mod", "--json")
        self.assertEqual(json.loads(result.stdout)["processes"][0]["reloaded"], ["lc_mod"], result.stderr)
        result = self.cli("reload", "--pid", str(self.pid), "lc_mod", "--all-dependents", "--json")
        self.assertEqual(json.loads(result.stdout)["processes"][0]["reloaded"], ["lc_mod", "lc_user"], result.stderr)
        self.write("lc_mod.py", "VALUE = 3\nOTHER = 2\n")
        result = self.cli("reload", "--pid", str(self.pid), "--no-dependents", "--json")
        self.assertEqual(json.loads(result.stdout)["processes"][0]["reloaded"], ["lc_mod"], result.stderr)
        self.assertEqual(self.generations(), {"lc_mod": 4, "lc_user": 2})
        both = self.cli("reload", "--pid", str(self.pid), "--no-dependents", "--all-dependents")
        self.assertEqual(both.returncode, 2)
        self.assertIn("not allowed with argument", both.stderr)

    def test_a_refused_reload_says_why_and_changes_nothing(self):
        path = self.write("lc_mod.py", "VALUE = (\n")
        result = self.cli("reload", "--pid", str(self.pid), "lc_mod", "--json")
        self.assertEqual(result.returncode, 1, result.stdout)
        report = json.loads(result.stdout)
        self.assertEqual(report["outcome"], "refused")
        error = report["processes"][0]["error"]
        self.assertEqual((error["type"], error["module"], error["path"]), ("ReloadError", "lc_mod", path))
        self.assertEqual(error["location"], f"{path}:1")
        self.assertEqual(error["cause"], "SyntaxError")
        self.assertEqual(self.generations(), {"lc_mod": 1, "lc_user": 1})
        human = self.cli("reload", "--pid", str(self.pid))
        self.assertEqual(human.returncode, 1)
        self.assertIn("refused", human.stdout)
        self.assertIn(f"{path}:1", human.stdout)

    def test_names_that_are_not_versioned_and_rollback_without_history_are_refused(self):
        report = _coordinate.reload(self.pid, ["math"], directory=self.runtime)
        self.assertEqual(report["outcome"], "refused")
        self.assertEqual(report["processes"][0]["error"]["type"], "NotVersionedError")
        report = _coordinate.rollback(self.pid, "lc_mod", directory=self.runtime)
        self.assertEqual(report["outcome"], "refused")
        self.assertIn("nothing to roll back to", report["reason"])
        self.assertEqual(self.generations(), {"lc_mod": 1, "lc_user": 1})

    def test_unknown_pids_and_processes_without_a_channel(self):
        with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as other:
            try:
                result = self.cli("status", "--pid", str(other.pid))
                self.assertEqual(result.returncode, 3)
                self.assertIn("has no versioned_import control channel", result.stdout)
            finally:
                other.stdin.close()
        other.wait()
        result = self.cli("reload", "--pid", str(other.pid), "--json")  # exited: a pid nobody has now
        self.assertEqual(result.returncode, 3)
        self.assertEqual(json.loads(result.stdout)["outcome"], "unreachable")
        self.assertEqual(self.cli("status").returncode, 2)  # --pid is required
        self.assertEqual(self.cli("status", "--pid", "x").returncode, 2)

    def test_a_stale_socket_of_a_dead_process_is_removed(self):
        with subprocess.Popen([sys.executable, "-c", "pass"]) as dead:
            pass
        stale = os.path.join(self.runtime, f"0-{dead.pid}.sock")
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(stale)
        result = self.cli("status", "--pid", str(dead.pid))
        self.assertEqual(result.returncode, 3)
        self.assertIn("no process has pid", result.stdout)
        self.assertFalse(os.path.exists(stale))


class MalformedMessageTest(LiveProcessCase):
    """Bad or hostile input gets a clear error, changes nothing, and the process keeps answering."""

    CASES: typing.ClassVar[dict[bytes, str]] = {
        b"not json\n": "not JSON",
        b"[1, 2]\n": "a message is a JSON object",
        b'"status"\n': "a message is a JSON object",
        b"{}\n": "unknown verb None",
        b'{"verb": "exec", "code": "import os"}\n': "unknown verb 'exec'",
        b'{"verb": "status", "extra": 1}\n': "status takes no field 'extra'",
        b'{"verb": "reload", "names": "lc_mod"}\n': "'names' must be a list of dotted module names",
        b'{"verb": "reload", "names": [1]}\n': "'names' must be a list of dotted module names",
        b'{"verb": "reload"}\n': "reload needs at least one module name",
        b'{"verb": "reload-changed", "dependents": "yes"}\n': "'dependents' must be true, false or \"all\"",
        b'{"verb": "rollback"}\n': "rollback needs",
        b'{"verb": "rollback", "name": ["lc_mod"]}\n': "'name' must be one dotted module name",
        b'{"verb": "stage", "decision_timeout": 1e9}\n': "'decision_timeout' must be a number of seconds",
        b'{"verb": "status"}': "ended without a newline",
        b'{"verb": "status"}\n{"verb": "status"}\n': "one message per line",
        b"\xff\xfe\n": "not JSON",
        b"": "the other side closed the connection",
    }

    def test_each_malformed_message_is_answered_with_an_error_and_changes_nothing(self):
        self.write("lc_mod.py", "VALUE = 2\n")  # a changed file: a mistaken reload would publish it
        for data, expected in self.CASES.items():
            with self.subTest(data=data):
                reply = self.raw(data)
                self.assertFalse(reply["ok"], reply)
                self.assertEqual(reply["error"]["type"], "BadRequest")
                self.assertIn(expected, reply["error"]["message"])
        self.assertEqual(self.generations(), {"lc_mod": 1, "lc_user": 1})

    def test_an_oversized_message_is_refused(self):
        reply = self.raw(b'{"verb": "status", "x": "' + b"a" * (_channel.MAX_REQUEST + 10) + b'"}\n')
        self.assertFalse(reply["ok"])
        self.assertIn("limit", reply["error"]["message"])

    def test_a_client_that_sends_nothing_times_out_and_the_process_keeps_answering(self):
        reply = self.raw(b"", half_close=False)  # the live process waits REQUEST_TIMEOUT = 0.5 s
        self.assertIn("no complete message", reply["error"]["message"])
        self.assertTrue(self.status()["ok"])

    def test_a_stage_without_a_decision_is_abandoned(self):
        self.write("lc_mod.py", "VALUE = 2\n")
        path = _channel.find(self.pid, self.runtime)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(20)
            conn.connect(path)
            _channel.send(conn, {"verb": "stage", "decision_timeout": 0.2})
            staged = _channel.receive(conn, _channel.MAX_REPLY, 20)
            self.assertEqual(sorted(staged["staged"]), ["lc_mod", "lc_user"])
            # No decision: after 0.2 s the process abandons and closes without publishing.
            with self.assertRaises(EOFError):
                _channel.receive(conn, _channel.MAX_REPLY, 20)
        self.assertEqual(self.generations(), {"lc_mod": 1, "lc_user": 1})
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(20)
            conn.connect(path)
            _channel.send(conn, {"verb": "stage"})
            _channel.receive(conn, _channel.MAX_REPLY, 20)
            _channel.send(conn, {"verb": "publish", "please": True})  # not exactly publish: abandoned
            reply = _channel.receive(conn, _channel.MAX_REPLY, 20)
        self.assertIn("abandoned", reply["error"]["message"])
        self.assertEqual(self.generations(), {"lc_mod": 1, "lc_user": 1})


class SignalTest(LiveProcessCase):
    def reports(self) -> list:
        try:
            with open(os.path.join(self.root, "reports.log")) as stream:
                return stream.read().split()
        except FileNotFoundError:
            return []

    def test_the_signal_reloads_what_changed_and_a_refusal_keeps_the_process_alive(self):
        self.write("lc_mod.py", "VALUE = 2\n")
        os.kill(self.pid, signal.SIGHUP)
        self.wait_until(lambda: self.generations()["lc_mod"] == 2, "the signal's reload")
        self.assertEqual(self.generations(), {"lc_mod": 2, "lc_user": 2})
        self.write("lc_mod.py", "VALUE = (\n")
        os.kill(self.pid, signal.SIGHUP)
        self.wait_until(lambda: "refused" in self.reports(), "the refusal to be reported")
        self.assertIsNone(self.process.poll(), "the process died of the signal")
        self.assertEqual(self.generations(), {"lc_mod": 2, "lc_user": 2})
        self.write("lc_mod.py", "VALUE = 3\n")
        os.kill(self.pid, signal.SIGHUP)
        self.wait_until(lambda: self.generations()["lc_mod"] == 3, "the second signal's reload")


@unittest.skipUnless(os.path.exists("/proc/self/task"), "reads thread signal masks from /proc (Linux)")
class QuietThreadsTest(Sandbox):
    def test_our_threads_leave_signals_to_the_program(self):
        """A signal must reach the main thread even when it is blocked in a system call."""
        runtime = os.path.join(self.root, "run")
        os.mkdir(runtime, 0o700)
        with mock.patch.dict(os.environ, {"VERSIONED_IMPORT_RUNTIME_DIR": runtime}):
            self.install(watch=True, interval=30, control=True, reload_signal=signal.SIGUSR1)
        state = _registry.state
        threads = [state.watcher._thread, state.control._thread, state.reload_signal._thread]
        for thread in threads:
            with self.subTest(thread=thread.name):
                self.wait_until(lambda: self.blocked(thread.native_id) is not None, f"{thread.name} to start")
                self.wait_until(lambda: self.blocked(thread.native_id) & (1 << (signal.SIGUSR1 - 1)),
                                f"{thread.name} to block the signals")
                mask = self.blocked(thread.native_id)
                self.assertTrue(mask & (1 << (signal.SIGINT - 1)), "SIGINT")
                self.assertFalse(mask & (1 << (signal.SIGSEGV - 1)), "faults stay with the faulting thread")

    @staticmethod
    def blocked(native_id):
        try:
            with open(f"/proc/self/task/{native_id}/status") as stream:
                for line in stream:
                    if line.startswith("SigBlk:"):
                        return int(line.split()[1], 16)
        except (FileNotFoundError, TypeError):
            return None
        return None


class SignalArgumentsTest(Sandbox):
    def test_bad_signals_are_refused_and_install_twice_keeps_one_handler(self):
        for bad, error in ((True, TypeError), ("HUP", TypeError), (signal.SIGKILL, ValueError), (0, ValueError)):
            with self.subTest(bad=bad), self.assertRaises(error):
                self.install(reload_signal=bad)
        with self.assertRaises(TypeError):
            self.install(control="yes")
        previous = signal.getsignal(signal.SIGUSR1)
        self.install(reload_signal=signal.SIGUSR1)
        reloader = _registry.state.reload_signal
        self.install(reload_signal=signal.SIGUSR1)
        self.assertIs(_registry.state.reload_signal, reloader)
        vi.uninstall()
        self.assertEqual(signal.getsignal(signal.SIGUSR1), previous)
        self.assertFalse(reloader.alive())


@unittest.skipUnless(hasattr(os, "setuid") and os.geteuid() == 0, "needs root to act as another user")
class AnotherUserTest(Sandbox):
    NOBODY = 65534

    def as_nobody(self, action) -> str:
        """Run ``action()`` in a forked child as uid 65534; return what it wrote (bounded by a timeout)."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read)
                os.setgid(self.NOBODY)
                os.setuid(self.NOBODY)
                os.write(write, str(action()).encode()[:4000])
            except BaseException:
                os.write(write, ("child failed: " + traceback.format_exc()).encode()[-4000:])
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as stream:
            output = stream.read()
        os.waitpid(pid, 0)
        return output

    def test_another_user_cannot_reach_the_socket_nor_pass_the_peer_check(self):
        from versioned_import._runtime.control import ControlServer

        runtime = os.path.join(self.root, "run")
        os.mkdir(runtime, 0o700)
        with mock.patch.dict(os.environ, {"VERSIONED_IMPORT_RUNTIME_DIR": runtime}):
            server = ControlServer(_registry.state).start()
        self.addCleanup(server.stop)

        def connect():
            try:
                _channel.connect(os.getpid(), runtime, 5).close()
                return "connected"
            except _channel.Unreachable as exc:
                return f"unreachable: {exc}"

        os.chmod(self.root, 0o755)
        self.assertIn("unreachable: ", self.as_nobody(connect))  # the 0700 directory stops it first

        # Open the directory and the socket on purpose: the peer check must still refuse.
        os.chmod(runtime, 0o755)
        os.chmod(server.path, 0o666)

        def ask():
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(5)
                conn.connect(server.path)
                try:
                    _channel.send(conn, {"verb": "reload-changed"})
                except BrokenPipeError:
                    pass  # refused before the request was read: the reply is there all the same
                return json.dumps(_channel.receive(conn, _channel.MAX_REPLY, 5))

        with self.assertLogs("versioned_import", "WARNING") as logs:
            output = self.as_nobody(ask)
        self.assertNotIn("child failed", output)
        reply = json.loads(output)
        self.assertIn(f"control request from uid {self.NOBODY} refused", logs.output[0])
        self.assertEqual(reply["error"]["type"], "PermissionDenied")
        self.assertIn(f"uid {self.NOBODY} may not control process {os.getpid()}", reply["error"]["message"])

    def test_a_runtime_directory_owned_by_another_user_is_refused(self):
        runtime = os.path.join(self.root, "theirs")
        os.mkdir(runtime, 0o700)
        os.chown(runtime, self.NOBODY, self.NOBODY)
        with mock.patch.dict(os.environ, {"VERSIONED_IMPORT_RUNTIME_DIR": runtime}), self.assertRaises(OSError) as caught:
            self.install(control=True)
        self.assertIn("is not private (owner uid 65534", str(caught.exception))
        self.assertIsNone(_registry.state.control)


class RunCommandTest(Sandbox):
    def test_run_opens_the_control_channel_by_default(self):
        runtime = os.path.join(self.root, "run")
        os.mkdir(runtime, 0o700)
        self.write("rc_mod.py", "VALUE = 1\n")
        script = self.write("rc_main.py", """\
            import os
            import rc_mod
            from versioned_import._runtime import coordinate as _coordinate
            result = _coordinate.status(os.getpid())
            print(result["outcome"], sorted(result["processes"][0]["modules"]))
            """)
        result = self.run_python("-m", "versioned_import", "run", script,
                                 env={"VERSIONED_IMPORT_RUNTIME_DIR": runtime})
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.split("\n")[0], "answered ['rc_mod']")
        self.assertEqual(os.listdir(runtime), [], "the socket is removed at exit")


class RuntimeDirectoryTest(Sandbox):
    def test_a_directory_others_can_enter_is_refused(self):
        runtime = tempfile.mkdtemp(dir=self.root)
        os.chmod(runtime, 0o755)
        with mock.patch.dict(os.environ, {"VERSIONED_IMPORT_RUNTIME_DIR": runtime}), \
                self.assertRaises(_channel.ChannelError) as caught:
            _channel.runtime_dir(create=True)
        self.assertIn("mode 0700", str(caught.exception))

    def test_the_default_directory_is_per_user_and_private(self):
        with mock.patch.dict(os.environ, {"XDG_RUNTIME_DIR": "", "VERSIONED_IMPORT_RUNTIME_DIR": ""}):
            path = _channel.runtime_dir(create=True)
        self.assertTrue(path.endswith(f"versioned_import-{os.geteuid()}"), path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o077, 0)


if __name__ == "__main__":
    unittest.main()
