"""Faults while reloading (G4 all-or-nothing, G11 watcher, G12 no deadlock, G13 clear errors).

Every case here edits real files so that a reload meets one fault, then checks
three things:

1. the refusal is a ``ReloadError`` naming the module and its file, with the
   original exception as ``__cause__`` and a message that says what to do;
2. everything is still on its previous generation: generation numbers,
   proxies and their types, every namespace value, class dicts, the code of
   stale function references, old instances, the modules in ``sys.modules``;
3. a later valid edit reloads fine, and continuity carries the old objects to it.

``tests/test_generations.py`` already covers, for the edited module itself: a
syntax error, an exception half-way, ``SystemExit`` at import, the source
deleted, unreadable or replaced by a directory, undecodable bytes, source too
deep for the compiler, ``__reload__`` raising and a failing direct dependent.
This file covers the other faults and the variants those tests leave out
(faults in a dependent two levels down, in an import cycle, through staged
proxies, in ``__reload__`` of a dependent, ...).

What propagates, by design:

* ``KeyboardInterrupt`` raised by module code (or by ``__reload__``) is *not*
  converted: it propagates as ``KeyboardInterrupt`` so that Ctrl-C still stops
  the program. The reload is abandoned and nothing is published or torn.
* ``SystemExit`` and every other exception (custom ``BaseException``
  subclasses too) become a ``ReloadError``: module code cannot stop the host.
"""

from __future__ import annotations

import importlib
import os
import stat
import sys
import threading
import traceback
import types
import unittest

import versioned_import as vi
from tests.support import Sandbox, publish_fails_last
from versioned_import._core import proxy as _proxy
from versioned_import._core import state as _registry

WAIT = 10.0  # the most a test waits for a thread or the watcher (a bound, never a timing)

FT_A = """\
VALUE = 1
ITEMS = []
class Thing:
    kind = "old"
    def describe(self):
        return f"{self.kind} {VALUE}"
def answer():
    return VALUE
"""

FT_B = """\
import ft_a
from ft_a import answer, Thing
def twice():
    return answer() * 2
class Sub(Thing):
    def describe(self):
        return "sub " + super().describe()
"""

FT_A_VALID = FT_A.replace("VALUE = 1", "VALUE = 7").replace('kind = "old"', 'kind = "new"')

OLD_BEHAVIOUR = (1, 1, 2, 2, "old 1", "sub old 1", True, True, True, True, ["kept"])
NEW_BEHAVIOUR = (7, 7, 14, 14, "new 7", "sub new 7", True, True, True, False, [])  # ITEMS: fresh (G3)


def run_bounded(test: unittest.TestCase, function, timeout: float = WAIT):
    """Call ``function`` on another thread; fail (instead of hanging) if it does not return in ``timeout``.

    Returns ``("returned", value)`` or ``("raised", exception)``.
    """
    outcome = []

    def run():
        try:
            outcome.append(("returned", function()))
        except BaseException as exc:  # handed to the test, never lost
            outcome.append(("raised", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    test.assertFalse(thread.is_alive(), "deadlock: the call never returned")
    return outcome[0]


class FaultSandbox(Sandbox):
    """``ft_a`` (the module edited) and ``ft_b`` (its dependent), imported, with objects held from generation 1."""

    def setUp(self) -> None:
        super().setUp()
        self.a_path = self.write("ft_a.py", FT_A)
        self.b_path = self.write("ft_b.py", FT_B)
        self.write("ft_gate.py", "import threading\nENTERED = threading.Event()\nRELEASE = threading.Event()\n")
        self.install(exclude=["ft_gate"])
        import ft_a
        import ft_b

        self.ft_a, self.ft_b = ft_a, ft_b
        # Objects a running program holds across reloads.
        self.held_answer = ft_a.answer
        self.held_twice = ft_b.twice
        self.thing = ft_a.Thing()
        self.sub = ft_b.Sub()
        self.items = ft_a.ITEMS
        self.items.append("kept")

    # -- what "still on its previous generation" means ------------------------------

    def behaviour(self) -> tuple:
        a, b = self.ft_a, self.ft_b
        return (a.answer(), self.held_answer(), self.held_twice(), b.twice(), self.thing.describe(),
                self.sub.describe(), isinstance(self.sub, a.Thing), type(self.thing) is a.Thing,
                issubclass(b.Sub, a.Thing), a.ITEMS is self.items, list(a.ITEMS))

    def snapshot(self, names=("ft_a", "ft_b")) -> dict:
        shot = {
            "sys.modules": {k: v for k, v in sys.modules.items() if k.startswith("ft_")},
            "records": set(_registry.state.records),
            "behaviour": self.behaviour(),
            "held code": (self.held_answer.__code__, self.held_twice.__code__),
        }
        for name in names:
            proxy = sys.modules[name]
            namespace = dict(_proxy.namespace_of(proxy))
            shot[name] = {
                "proxy": proxy,
                "type": type(proxy),
                "generation": vi.generation(name),
                "namespace": namespace,
                "classes": {k: dict(v.__dict__) for k, v in namespace.items() if isinstance(v, type)},
                "code": {k: v.__code__ for k, v in namespace.items() if isinstance(v, types.FunctionType)},
            }
        return shot

    def assertUnchanged(self, before: dict, names=("ft_a", "ft_b")) -> None:
        after = self.snapshot(names)
        self.assertEqual(after["behaviour"], OLD_BEHAVIOUR)
        self.assertEqual(after["sys.modules"].keys(), before["sys.modules"].keys())
        for key, module in before["sys.modules"].items():
            self.assertIs(after["sys.modules"][key], module, key)
        self.assertEqual(after["records"], before["records"])
        self.assertIs(after["held code"][0], before["held code"][0], "a stale function reference was changed")
        self.assertIs(after["held code"][1], before["held code"][1], "a stale function reference was changed")
        for name in names:
            old, new = before[name], after[name]
            self.assertIs(new["proxy"], old["proxy"])
            self.assertIs(new["type"], old["type"], f"{name}'s proxy was left in another mode")
            self.assertEqual(new["generation"], old["generation"], name)
            self.assertEqual(new["namespace"].keys(), old["namespace"].keys(), name)
            for key, value in old["namespace"].items():
                self.assertIs(new["namespace"][key], value, f"{name}.{key}")
            for cls, attributes in old["classes"].items():
                self.assertEqual(new["classes"][cls].keys(), attributes.keys(), f"{name}.{cls}")
                for key, value in attributes.items():
                    self.assertIs(new["classes"][cls][key], value, f"{name}.{cls}.{key}")
            for key, code in old["code"].items():
                self.assertIs(new["code"][key], code, f"{name}.{key}.__code__")

    def refuse(self, module: str, path: str, cause, names=("ft_a",), kept=("ft_a", "ft_b")) -> vi.ReloadError:
        """Run a reload of ``names`` that must be refused because of ``module``; check the refusal; return it."""
        before = self.snapshot(kept)
        reports = []
        unsubscribe = vi.on_reload(reports.append)
        try:
            kind, error = run_bounded(self, lambda: vi.reload(*names))
        finally:
            unsubscribe()
        self.assertEqual(kind, "raised", f"the reload was not refused: {error!r}")
        self.assertIsInstance(error, vi.ReloadError, "".join(traceback.format_exception(error)))
        self.assertNotIsInstance(error, vi.NotVersionedError)
        self.assertEqual(error.module, module)
        self.assertEqual(error.path, path)
        self.assertIsInstance(error.__cause__, cause)
        message = str(error)
        self.assertIn(repr(module), message)
        self.assertIn(path, message)
        self.assertIn(type(error.__cause__).__name__, message)
        self.assertRegex(message, r" — .*reload", "the message does not say what to do")
        self.assertUnchanged(before, kept)
        self.assertEqual(len(reports), 1)
        self.assertIs(reports[0].error, error)
        return error

    def assertValidEditReloads(self) -> None:
        """Put valid sources back; one reload must publish both modules and carry every held object over."""
        self.write("ft_a.py", FT_A_VALID)
        self.write("ft_b.py", FT_B)
        numbers = (vi.generation("ft_a"), vi.generation("ft_b"))
        report = vi.reload("ft_a")
        self.assertEqual(report.reloaded, ("ft_a", "ft_b"))
        self.assertEqual((vi.generation("ft_a"), vi.generation("ft_b")), (numbers[0] + 1, numbers[1] + 1))
        self.assertEqual(self.behaviour(), NEW_BEHAVIOUR)
        self.assertEqual(vi.changed(), [])

    def assertFramePointsAt(self, exc: BaseException, path: str, text: str) -> None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        self.assertTrue(frames, f"no frame in {path}: {''.join(traceback.format_exception(exc))}")
        with open(path, encoding="utf-8") as stream:
            self.assertEqual(stream.read().splitlines()[frames[-1].lineno - 1].strip(), text)


# -- faults raised by module code -----------------------------------------------------------

class ModuleCodeFaultsTest(FaultSandbox):
    def test_name_error(self):
        self.write("ft_a.py", FT_A_VALID + "TOTAL = VALUE + UNDEFINED_SETTING\nAFTER = 1\n")
        error = self.refuse("ft_a", self.a_path, NameError)
        self.assertEqual(error.__cause__.name, "UNDEFINED_SETTING")
        self.assertFramePointsAt(error.__cause__, self.a_path, "TOTAL = VALUE + UNDEFINED_SETTING")
        self.assertIn(f"{self.a_path}:{FT_A_VALID.count(chr(10)) + 1}", str(error))
        self.assertFalse(hasattr(self.ft_a, "AFTER"))
        self.assertValidEditReloads()

    def test_import_of_something_missing(self):
        cases = [
            ("import ft_no_such_module", ModuleNotFoundError, "ft_no_such_module"),
            ("from ft_no_such_package.sub import thing", ModuleNotFoundError, "ft_no_such_package"),
            ("from json import ft_no_such_name", ImportError, "json"),
            ("from . import ft_no_such_sibling", ImportError, None),
        ]
        for statement, cause, missing in cases:
            with self.subTest(statement=statement):
                self.write("ft_a.py", FT_A_VALID + statement + "\n")
                error = self.refuse("ft_a", self.a_path, cause)
                # The refusal names the module being reloaded, not the one it could not import.
                if missing is not None:
                    self.assertEqual(error.__cause__.name, missing)
                self.assertFramePointsAt(error.__cause__, self.a_path, statement)
                self.assertNotIn("ft_no_such_module", sys.modules)
                self.assertNotIn("ft_no_such_package", sys.modules)
        self.assertValidEditReloads()

    def test_recursion_error_at_import(self):
        self.write("ft_a.py", FT_A_VALID + "def down(n):\n    return down(n + 1) + 1\nDEPTH = down(0)\n")
        error = self.refuse("ft_a", self.a_path, RecursionError)
        self.assertFramePointsAt(error.__cause__, self.a_path, "return down(n + 1) + 1")
        # The refusal stays readable: one line, not a thousand repeated frames.
        self.assertLess(len(str(error)), 2000)
        self.assertValidEditReloads()

    def test_recursion_error_through_a_staged_proxy(self):
        # ft_b recurses through ``ft_a.answer`` while ft_a is staged: each step reads an attribute of a
        # proxy in view mode, so the recursion limit can strike inside the library's own lookup code.
        self.write("ft_a.py", FT_A_VALID)
        self.write("ft_b.py", FT_B + "def down(n):\n    return ft_a.answer() + down(n + 1)\nDEPTH = down(0)\n")
        self.refuse("ft_b", self.b_path, RecursionError)  # (which also checks both proxies left view mode)
        self.assertValidEditReloads()

    def test_system_exit_from_a_dependent_and_from_a_hook_is_refused_not_obeyed(self):
        # (SystemExit at the top level of the edited module is in test_generations.)
        cases = [
            ("ft_b", FT_B + "def main():\n    raise SystemExit('stop the server')\nmain()\n", "stop the server"),
            ("ft_b", FT_B + "import sys\nsys.exit()\n", None),
            ("ft_a", FT_A_VALID + "def __reload__(old):\n    raise SystemExit(2)\n", 2),
        ]
        for module, source, code in cases:
            with self.subTest(module=module, code=code):
                self.write("ft_a.py", FT_A_VALID if module == "ft_b" else source)
                self.write("ft_b.py", source if module == "ft_b" else FT_B)
                path = self.b_path if module == "ft_b" else self.a_path
                error = self.refuse(module, path, SystemExit)
                self.assertEqual(error.__cause__.code, code)
        self.assertValidEditReloads()

    def test_keyboard_interrupt_propagates_and_nothing_is_torn(self):
        # Documented: KeyboardInterrupt is not converted into a ReloadError, so Ctrl-C still stops the
        # program; the reload is abandoned and nothing is published.
        cases = [
            ("ft_a at import", FT_A_VALID + "raise KeyboardInterrupt\nAFTER = 1\n", FT_B),
            ("ft_b at import", FT_A_VALID, FT_B + "raise KeyboardInterrupt\n"),
            ("ft_a.__reload__", FT_A_VALID + "def __reload__(old):\n    raise KeyboardInterrupt\n", FT_B),
        ]
        for label, source_a, source_b in cases:
            with self.subTest(label):
                self.write("ft_a.py", source_a)
                self.write("ft_b.py", source_b)
                before = self.snapshot()
                kind, value = run_bounded(self, lambda: vi.reload("ft_a"))
                self.assertEqual(kind, "raised")
                self.assertIs(type(value), KeyboardInterrupt)
                self.assertUnchanged(before)
                self.assertFalse(hasattr(self.ft_a, "AFTER"))
                # The transaction lock was released: a reload on another thread goes through at once.
                self.write("ft_a.py", FT_A)
                self.write("ft_b.py", FT_B)
                kind, value = run_bounded(self, lambda: vi.reload("ft_b"))
                self.assertEqual(kind, "returned", value)
                self.assertEqual(self.behaviour(), OLD_BEHAVIOUR)
        self.assertValidEditReloads()

    def test_keyboard_interrupt_leaves_no_module_of_the_abandoned_generation_behind(self):
        # ft_fresh is imported for the first time by the new generation of ft_a and binds a value of it.
        # After an ordinary refusal it is forgotten (test_generations); after a KeyboardInterrupt it must
        # be too, or a module built from a generation that was never published stays live.
        self.write("ft_fresh.py", "from ft_a import VALUE\nSEEN = VALUE\n")
        self.write("ft_a.py", FT_A_VALID + "import ft_fresh\nraise KeyboardInterrupt\n")
        with self.assertRaises(KeyboardInterrupt):
            vi.reload("ft_a")
        self.assertEqual(self.behaviour(), OLD_BEHAVIOUR)
        leaked = sys.modules.get("ft_fresh")
        self.assertIsNone(leaked, f"ft_fresh stayed imported with SEEN={getattr(leaked, 'SEEN', '?')}, a value of "
                                  "a generation of ft_a that was never published")
        with self.assertRaises(vi.NotVersionedError):
            vi.generation("ft_fresh")

    def test_a_custom_base_exception_is_refused(self):
        self.write("ft_b.py", FT_B + "class Abort(BaseException):\n    pass\nraise Abort('custom')\n")
        self.write("ft_a.py", FT_A_VALID)
        error = self.refuse("ft_b", self.b_path, BaseException)
        self.assertEqual(type(error.__cause__).__name__, "Abort")
        self.assertValidEditReloads()


# -- faults in the files -----------------------------------------------------------------

class FileFaultsTest(FaultSandbox):
    def test_a_dependents_file_missing_unreadable_or_a_directory(self):
        # The edited module is fine; the dependent's file is what fails (the edited one's own file is
        # covered in test_generations). The whole set is refused, naming the dependent.
        def remove():
            os.remove(self.b_path)

        def make_directory():
            os.remove(self.b_path)
            os.mkdir(self.b_path)

        def make_unreadable():
            os.chmod(self.b_path, 0)

        def restore():
            if os.path.isdir(self.b_path):
                os.rmdir(self.b_path)
            if os.path.exists(self.b_path):
                os.chmod(self.b_path, stat.S_IRUSR | stat.S_IWUSR)
            self.write("ft_b.py", FT_B)

        for label, damage, cause in (("deleted", remove, FileNotFoundError),
                                     ("directory", make_directory, OSError),
                                     ("unreadable", make_unreadable, PermissionError)):
            with self.subTest(label):
                self.write("ft_a.py", FT_A_VALID)
                damage()
                self.addCleanup(restore)
                if label == "unreadable" and os.access(self.b_path, os.R_OK):
                    restore()
                    self.skipTest("this user can read a mode-000 file (root)")
                error = self.refuse("ft_b", self.b_path, cause)
                self.assertIn("ft_b", vi.changed())
                self.assertIn("reload again", str(error))
                restore()
        self.assertValidEditReloads()

    def test_a_lying_coding_cookie(self):
        cases = [
            (b"# -*- coding: ascii -*-\nVALUE = 2\nTEXT = '\xc3\xa9t\xc3\xa9'\n", "ascii"),
            (b"# coding: ft-no-such-codec\nVALUE = 2\n", "ft-no-such-codec"),
            # A UTF-8 byte order mark contradicted by its own cookie.
            (b"\xef\xbb\xbf# coding: latin-1\nVALUE = 2\n", "with BOM"),
        ]
        for data, mentioned in cases:
            with self.subTest(data=data[:30]):
                self.write_bytes("ft_a.py", data)
                error = self.refuse("ft_a", self.a_path, SyntaxError)
                self.assertIn(mentioned, str(error))
                self.assertEqual(vi.changed(), ["ft_a"])
        self.assertValidEditReloads()

    def test_null_bytes(self):
        for data in (b"VALUE = 2\n\x00\n", FT_A_VALID.encode().replace(b"ITEMS", b"IT\x00EMS", 1)):
            with self.subTest(data=data[:30]):
                self.write_bytes("ft_a.py", data)
                # SyntaxError since 3.12; 3.11's compile() raises ValueError.
                error = self.refuse("ft_a", self.a_path, (SyntaxError, ValueError))
                self.assertIn("null bytes", str(error))
        self.assertValidEditReloads()

    def test_a_utf8_bom_and_a_truthful_cookie_are_accepted(self):
        valid = FT_A_VALID.encode()
        for label, data, text in (
                ("bom", b"\xef\xbb\xbf" + valid + "TEXT = 'été'\n".encode(), "été"),
                ("latin-1 cookie", b"# -*- coding: latin-1 -*-\n" + valid + b"TEXT = '\xe9t\xe9'\n", "été"),
                ("bom and utf-8 cookie", b"\xef\xbb\xbf# coding: utf-8\n" + valid + "TEXT = 'ß'\n".encode(), "ß")):
            with self.subTest(label):
                self.write("ft_a.py", FT_A)
                vi.reload("ft_a")
                self.assertEqual(self.behaviour()[:9], OLD_BEHAVIOUR[:9])
                self.write_bytes("ft_a.py", data)
                report = vi.reload("ft_a")
                self.assertEqual(report.reloaded, ("ft_a", "ft_b"))
                self.assertEqual(self.ft_a.TEXT, text)
                self.assertEqual(self.behaviour()[:9], NEW_BEHAVIOUR[:9])
                self.assertEqual(vi.changed(), [], "the accepted bytes are not what the generation is compared with")


# -- faults in the set being reloaded ------------------------------------------------------

CYCLE_A = """\
X = {x}
import ft_cy_b
def total():
    return X + ft_cy_b.Z
"""
CYCLE_B = """\
import ft_cy_a
Z = 10 * {x}
def check():
    return ft_cy_a.X
"""


class SetFaultsTest(FaultSandbox):
    def test_a_dependent_two_levels_down_fails_while_the_edited_module_is_fine(self):
        path_c = self.write("ft_c.py", "import ft_b\nassert ft_b.twice() < 10, 'ft_c only copes with small values'\n"
                                       "HALF = ft_b.twice() // 2\n")
        import ft_c

        self.write("ft_a.py", FT_A_VALID)
        error = self.refuse("ft_c", path_c, AssertionError, kept=("ft_a", "ft_b", "ft_c"))
        self.assertIn("ft_c only copes with small values", str(error))
        self.assertEqual((vi.generation("ft_c"), ft_c.HALF), (1, 1))
        self.assertEqual(vi.changed(), ["ft_a"], "only ft_a's bytes changed")
        # A fix of the dependent alone lets the whole set through.
        self.write("ft_c.py", "import ft_b\nHALF = ft_b.twice() // 2\n")
        report = vi.reload("ft_a")
        self.assertEqual(report.reloaded, ("ft_a", "ft_b", "ft_c"))
        self.assertEqual((ft_c.HALF, self.held_answer(), self.sub.describe()), (7, 7, "sub new 7"))

    def test_a_dependents_reload_hook_raising_refuses_the_edited_module_too(self):
        self.write("ft_a.py", FT_A_VALID + "HOOKED = []\ndef __reload__(old):\n    HOOKED.append(old.VALUE)\n")
        self.write("ft_b.py", FT_B + "def __reload__(old):\n    raise RuntimeError('ft_b cannot carry its state')\n")
        error = self.refuse("ft_b", self.b_path, RuntimeError)
        self.assertIn("__reload__", str(error))
        self.assertFalse(hasattr(self.ft_a, "HOOKED"))
        self.assertValidEditReloads()

    def test_one_member_of_an_import_cycle_failing(self):
        self.write("ft_cy_a.py", CYCLE_A.format(x=1))
        path_b = self.write("ft_cy_b.py", CYCLE_B.format(x=1))
        self.write("ft_cy_user.py", "from ft_cy_a import total\nTOTAL = total()\n")
        import ft_cy_user

        cy_a, cy_b = sys.modules["ft_cy_a"], sys.modules["ft_cy_b"]
        held_total, held_check = cy_a.total, cy_b.check
        self.assertEqual((ft_cy_user.TOTAL, held_check()), (11, 1))
        names = ("ft_cy_a", "ft_cy_b", "ft_cy_user")

        def state():
            return ([vi.generation(n) for n in names], held_total(), held_check(), ft_cy_user.TOTAL,
                    cy_b.__dict__.get("LATE"), type(cy_a), type(cy_b))

        before = state()
        broken = [
            # The member that is not edited fails because of the other member's new value.
            (CYCLE_A.format(x=5), "import ft_cy_a\nassert ft_cy_a.X < 5, 'too big'\nZ = 50\n", AssertionError),
            # The edited member's partner fails half-way through.
            (CYCLE_A.format(x=5), CYCLE_B.format(x=5) + "raise OSError('disk full')\nLATE = 1\n", OSError),
        ]
        for source_a, source_b, cause in broken:
            with self.subTest(cause=cause.__name__):
                self.write("ft_cy_a.py", source_a)
                self.write("ft_cy_b.py", source_b)
                for requested in ("ft_cy_a", "ft_cy_b"):
                    kind, error = run_bounded(self, lambda: vi.reload(requested))
                    self.assertEqual(kind, "raised")
                    self.assertIsInstance(error, vi.ReloadError)
                    self.assertEqual((error.module, error.path), ("ft_cy_b", path_b))
                    self.assertIsInstance(error.__cause__, cause)
                    self.assertEqual(state(), before)
        self.write("ft_cy_a.py", CYCLE_A.format(x=5))
        self.write("ft_cy_b.py", CYCLE_B.format(x=5))
        report = vi.reload("ft_cy_b")
        self.assertEqual(set(report.reloaded), set(names))
        self.assertEqual((held_total(), held_check(), ft_cy_user.TOTAL), (55, 5, 55))

    def test_the_watcher_reloads_once_the_failing_dependent_is_fixed(self):
        # A realistic edit: ft_a renames a function, which breaks ft_b (`from ft_a import answer`); the
        # watcher's reload is refused as a whole (right). Then ft_b is fixed: ft_a's bytes did not
        # change, but the pair is now valid and must be reloaded. The watcher may remember the refused
        # bytes of ft_a, but only as part of the set that failed, not forever.
        self.write("ft_a.py", FT_A_VALID.replace("def answer", "def reply"))
        reports = []
        self.addCleanup(vi.on_reload(reports.append))
        vi.watch(interval=0.02)
        self.wait_until(lambda: any(not r.ok for r in reports), "the watcher's refusal")
        self.assertEqual(reports[0].error.module, "ft_b")
        self.assertEqual(self.behaviour(), OLD_BEHAVIOUR)
        self.write("ft_b.py", FT_B.replace("answer", "reply"))
        self.wait_until(lambda: vi.changed() == [], "the watcher to reload ft_a and ft_b",
                        lambda: f"reports: {[(r.reloaded, r.error and str(r.error).splitlines()[0]) for r in reports]}")
        self.assertEqual((vi.generation("ft_a"), vi.generation("ft_b")), (2, 2))
        self.assertEqual((self.ft_b.twice(), self.held_twice(), self.thing.describe()), (14, 14, "new 7"))

# -- reloads requested by module code ---------------------------------------------------------

class ReentryTest(FaultSandbox):
    def test_a_module_reloading_itself_during_its_first_import_does_not_deadlock(self):
        self.write("ft_self.py", """\
            import versioned_import
            VALUE = 1
            try:
                versioned_import.reload(__name__)
            except versioned_import.ReloadError as exc:
                REFUSAL = exc
        """)
        kind, module = run_bounded(self, lambda: importlib.import_module("ft_self"))
        self.assertEqual(kind, "returned", module)
        self.assertIsInstance(module.REFUSAL, vi.ReloadError)
        self.assertEqual(module.REFUSAL.module, "ft_self")
        self.assertEqual(vi.generation("ft_self"), 1)
        # Later, from outside any import, the same module reloads normally (and refuses itself again).
        kind, report = run_bounded(self, lambda: vi.reload("ft_self"))
        self.assertEqual(kind, "returned", report)
        self.assertEqual(vi.generation("ft_self"), 2)

    def test_the_refusal_of_a_reload_during_a_first_import_says_what_happened(self):
        # G13: the module *is* versioned; it is still being imported. The refusal must not send the
        # user to check install(roots=...) for a module that is in scope.
        self.write("ft_self.py", """\
            import versioned_import
            try:
                versioned_import.reload(__name__)
            except versioned_import.ReloadError as exc:
                REFUSAL = str(exc)
        """)
        import ft_self

        self.assertEqual(vi.generation("ft_self"), 1)
        self.assertNotIn("not a versioned module", ft_self.REFUSAL)
        self.assertNotIn("check install(", ft_self.REFUSAL)
        self.assertRegex(ft_self.REFUSAL, r"import", "the refusal does not mention the import in progress")

    def test_a_first_import_asking_for_a_reload_while_another_thread_reloads(self):
        # Thread A's reload executes ft_a's new code, which blocks (holding the transaction lock).
        # Meanwhile thread B imports ft_asker, whose module code asks to reload ft_b: waiting for A
        # could deadlock (A may need B's import lock), so it must be refused at once instead.
        self.write("ft_a.py", FT_A_VALID + "import ft_gate\nft_gate.ENTERED.set()\nft_gate.RELEASE.wait(30)\n")
        self.write("ft_asker.py", """\
            import versioned_import
            try:
                versioned_import.reload("ft_b")
            except versioned_import.ReloadError as exc:
                REFUSAL = exc
        """)
        gate = importlib.import_module("ft_gate")
        outcome = []
        reloader = threading.Thread(target=lambda: outcome.append(vi.reload("ft_a")), daemon=True)
        reloader.start()
        self.addCleanup(gate.RELEASE.set)
        self.assertTrue(gate.ENTERED.wait(WAIT))
        kind, asker = run_bounded(self, lambda: importlib.import_module("ft_asker"))
        self.assertTrue(reloader.is_alive(), "the reload did not wait at the gate")
        self.assertEqual(kind, "returned", asker)
        self.assertIsInstance(asker.REFUSAL, vi.ReloadError)
        self.assertEqual(asker.REFUSAL.module, "ft_b")
        self.assertIn("another reload is running", str(asker.REFUSAL))
        gate.RELEASE.set()
        reloader.join(WAIT)
        self.assertFalse(reloader.is_alive())
        self.assertEqual(outcome[0].reloaded, ("ft_a", "ft_b"))
        self.assertEqual(self.behaviour(), NEW_BEHAVIOUR)

    def test_a_dependent_reloading_the_edited_module_during_the_reload(self):
        for label, call in (("vi.reload", "import versioned_import\nversioned_import.reload('ft_a')\n"),
                            ("importlib.reload", "import importlib, sys\nimportlib.reload(sys.modules[__name__])\n")):
            with self.subTest(label):
                self.write("ft_a.py", FT_A_VALID)
                self.write("ft_b.py", FT_B + call)
                error = self.refuse("ft_b", self.b_path, vi.ReloadError)
                self.assertIn("request it after that reload has finished", str(error.__cause__))
        self.assertValidEditReloads()


# -- an edit landing mid-write --------------------------------------------------------------

MID_WRITE = """\
VERSION = 2
CONFIG = {"name": "service", "limits": [10, 20, 30], "enabled": True}
def answer():
    return VERSION * 100
class Service:
    def run(self):
        return ("run", VERSION, answer())
LABEL = "complete version " + str(VERSION)
PARTS = [answer(), len(CONFIG["limits"])]
"""


class MidWriteTest(FaultSandbox):
    def setUp(self) -> None:
        super().setUp()
        self.mw_path = self.write("ft_mw.py", MID_WRITE.replace("VERSION = 2", "VERSION = 1"))
        import ft_mw

        self.mw = ft_mw
        self.mw_answer = ft_mw.answer
        self.mw_service = ft_mw.Service()

    def published_source(self) -> bytes:
        return _registry.state.records["ft_mw"].current.source.data

    def assertPublishedWhole(self) -> None:
        """The module's namespace is exactly what executing its published bytes gives."""
        data = self.published_source()
        self.assertTrue(MID_WRITE.encode().startswith(data) or data == MID_WRITE.replace(
            "VERSION = 2", "VERSION = 1").encode(), data)
        expected: dict = {"__name__": "ft_mw_expected"}
        exec(compile(data, "<prefix>", "exec"), expected)
        names = {k for k in expected if not k.startswith("__")}
        self.assertEqual({k for k in vars(self.mw) if not k.startswith("__")}, names)
        for key in names & {"VERSION", "CONFIG", "LABEL", "PARTS"}:
            self.assertEqual(getattr(self.mw, key), expected[key], key)

    def test_truncated_prefixes_are_refused_or_published_whole(self):
        full = MID_WRITE.encode()
        cuts = sorted(set(range(0, len(full), 7)) | {full.index(b"Service") + 3, full.index(b"complete") + 2,
                                                      full.index(b"[10, 2") + 5, len(full) - 1})
        refused = published = 0
        for cut in cuts:
            with self.subTest(cut=cut):
                before = vi.generation("ft_mw")
                self.write_bytes("ft_mw.py", full[:cut])
                try:
                    vi.reload("ft_mw")
                except vi.ReloadError as error:
                    refused += 1
                    self.assertEqual((error.module, error.path), ("ft_mw", self.mw_path))
                    self.assertRegex(str(error), r" — .*reload")
                    self.assertEqual(vi.generation("ft_mw"), before)
                else:
                    published += 1
                    self.assertEqual(vi.generation("ft_mw"), before + 1)
                    self.assertEqual(self.published_source(), full[:cut])
                self.assertPublishedWhole()
        self.assertGreater(refused, 0)
        self.assertGreater(published, 0)
        # The whole file arrives: it reloads, and the objects held since generation 1 follow it.
        self.write("ft_mw.py", MID_WRITE)
        vi.reload("ft_mw")
        self.assertPublishedWhole()
        self.assertEqual((self.mw.LABEL, self.mw_answer(), self.mw_service.run()),
                         ("complete version 2", 200, ("run", 2, 200)))
        self.assertIsInstance(self.mw_service, self.mw.Service)
        self.assertEqual(vi.changed(), [])

    def test_a_writer_racing_reloads(self):
        # A writer rewrites the file in place, chunk by chunk, while this thread reloads as fast as it
        # can: every reload is refused (a truncated file, or one that changed while it was read) or
        # publishes exactly the bytes it read.
        full = MID_WRITE.encode()
        chunks = [full[i:i + 11] for i in range(0, len(full), 11)]
        barrier = threading.Barrier(2)
        done = threading.Event()
        unexpected = []

        def writer():
            barrier.wait()
            for _ in range(30):
                with open(self.mw_path, "wb") as stream:
                    for chunk in chunks:
                        stream.write(chunk)
                        stream.flush()
            done.set()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        barrier.wait()
        outcomes = {"published": 0, "refused": 0}
        while not done.is_set():
            try:
                vi.reload("ft_mw")
            except vi.ReloadError as error:
                outcomes["refused"] += 1
                if error.module != "ft_mw" or not isinstance(error.__cause__, (SyntaxError, OSError, NameError,
                                                                               TypeError, IndexError, KeyError)):
                    unexpected.append(error)
            else:
                outcomes["published"] += 1
            self.assertPublishedWhole()  # the bytes it read (a prefix, or generation 1's before the first write)
        thread.join(WAIT)
        self.assertEqual(unexpected, [])
        importlib.invalidate_caches()
        vi.reload("ft_mw")
        self.assertEqual(self.published_source(), full)
        self.assertEqual(self.mw_service.run(), ("run", 2, 200))
        self.assertEqual(vi.changed(), [])


# -- a very large module ------------------------------------------------------------------

def large_source(version: int, functions: int = 20_000, blob_lines: int = 40_000) -> str:
    blob = "".join(f"    'line {i:06d} {'x' * 40}\\n'\n" for i in range(blob_lines))
    body = "".join(f"def f{i}(x):\n    return x + {i} + VERSION\n" for i in range(functions))
    return f"VERSION = {version}\nBLOB = (\n{blob})\n{body}class Big:\n    def version(self):\n        return VERSION\n"


class LargeModuleTest(Sandbox):
    def test_a_module_of_a_few_megabytes_reloads_and_refuses_like_a_small_one(self):
        source = large_source(1)
        self.assertGreater(len(source), 3_000_000)
        path = self.write("ft_large.py", source)
        self.install()
        import ft_large

        held_first, held_last, big = ft_large.f0, ft_large.f19999, ft_large.Big()
        self.assertEqual((held_first(0), held_last(0), big.version()), (1, 20000, 1))

        # A fault on the very last line: refused, with the right line, nothing changed.
        broken = large_source(2) + "def broken(:\n"
        self.write("ft_large.py", broken)
        with self.assertRaises(vi.ReloadError) as caught:
            vi.reload("ft_large")
        self.assertIn(f"{path}:{broken.count(chr(10))}", str(caught.exception))
        self.assertLess(len(str(caught.exception)), 2000)
        self.assertEqual((vi.generation("ft_large"), held_last(0), big.version()), (1, 20000, 1))

        self.write("ft_large.py", large_source(2))
        report = vi.reload("ft_large")
        self.assertEqual(report.generations, {"ft_large": 2})
        self.assertEqual((held_first(0), held_last(0), ft_large.f123(0), big.version()), (2, 20001, 125, 2))
        self.assertEqual(len(ft_large.BLOB), 40_000 * 53)
        self.assertIsInstance(big, ft_large.Big)
        self.assertEqual(vi.changed(), [])


if __name__ == "__main__":
    unittest.main()


class PublishFailureTest(Sandbox):
    """G4 when the publish step itself fails: every operation already applied is undone."""

    def test_apply_atomically_undoes_what_it_applied(self):
        from versioned_import._core.atomic import apply_atomically

        class Target:
            pass

        target = Target()
        target.a, target.b = "old a", "old b"
        box = {"k": "old"}

        def explode():
            raise RuntimeError("injected")

        do = [(setattr, target, "a", "new a"), (dict.__setitem__, box, "k", "new"), (explode,),
              (setattr, target, "b", "new b")]
        undo = [(setattr, target, "a", "old a"), (dict.__setitem__, box, "k", "old"), (explode,),
                (setattr, target, "b", "old b")]
        with self.assertRaises(RuntimeError):
            apply_atomically(do, undo)
        self.assertEqual((target.a, target.b, box), ("old a", "old b", {"k": "old"}))

    def test_a_publish_failing_halfway_through_is_a_clean_refusal(self):
        # Fault injection into our own plan (not the import system): the last
        # continuity operation fails after classes, forwarders and namespaces were touched.
        self.install()
        self.write("ft_pub.py", "X = 1\nclass C:\n    def who(self):\n        return 'C1'\ndef f():\n    return 'f1'\n")
        module = importlib.import_module("ft_pub")
        held_f, instance, cls = module.f, module.C(), module.C
        self.write("ft_pub.py", "X = 2\nclass C:\n    def who(self):\n        return 'C2'\ndef f():\n    return 'f2'\n")
        with publish_fails_last(), self.assertRaises(vi.ReloadError) as caught:
            vi.reload("ft_pub")
        self.assertIsInstance(caught.exception.__cause__, ZeroDivisionError)
        self.assertEqual((vi.generation("ft_pub"), module.X, held_f(), instance.who()), (1, 1, "f1", "C1"))
        self.assertIs(module.C, cls)
        self.assertIs(type(instance), cls)
        report = vi.reload("ft_pub")
        self.assertEqual(report.generations, {"ft_pub": 2})
        self.assertEqual((module.X, held_f(), instance.who()), (2, "f2", "C2"))
