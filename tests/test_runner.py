"""The test runner itself (``python -m tests``): one line per failure, a summary, nothing leaked."""

from __future__ import annotations

import os
import shutil

from tests.support import REPO, Sandbox

FAKE_TESTS = '''\
import logging
import sys
import unittest


class Fake(unittest.TestCase):
    def test_passes_but_prints(self):
        print("printed by a passing test")
        print("to stderr too", file=sys.stderr)
        logging.getLogger("versioned_import").error("logged by a passing test")

    def test_fails(self):
        print("printed by a failing test")
        self.assertEqual(1, 2, "one is not two\\nsecond line")

    def test_errors(self):
        raise KeyError("boom")

    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 1)

    @unittest.skip("not today")
    def test_skipped(self):
        pass
'''


class RunnerTest(Sandbox):
    def run_fake(self, *arguments: str):
        os.makedirs(os.path.join(self.root, "tests"))
        shutil.copy(os.path.join(REPO, "tests", "__main__.py"), os.path.join(self.root, "tests", "__main__.py"))
        self.write("tests/__init__.py")
        self.write("tests/test_fake.py", FAKE_TESTS)
        return self.run_python("-m", "tests", *arguments)

    def test_one_line_per_failure_then_the_summary(self):
        result = self.run_fake()
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr, "")
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 7, result.stdout)
        self.assertEqual(lines[-3:], ["tests/test_fake.py: 1 passed, 3 failed, 1 skipped",
                                      "skipped 1 (tests.test_fake.Fake): not today",
                                      "tests: 1 passed, 3 failed, 1 skipped"])
        failures = sorted(lines[:-3])
        self.assertRegex(failures[0], r"^ERROR tests\.test_fake\.Fake\.test_errors \(.*test_fake\.py:\d+\): "
                                      r"KeyError: 'boom'$")
        self.assertRegex(failures[1], r"^FAIL tests\.test_fake\.Fake\.test_fails \(.*test_fake\.py:\d+\): "
                                      r"AssertionError: 1 != 2 : one is not two$")
        self.assertTrue(failures[2].startswith("FAIL tests.test_fake.Fake.test_subtests (i=1)"), failures[2])
        self.assertTrue(failures[3].startswith("FAIL tests.test_fake.Fake.test_subtests (i=2)"), failures[3])
        self.assertNotIn("printed by", result.stdout)

    def test_verbose_shows_tracebacks_and_captured_output_of_failures_only(self):
        result = self.run_fake("-v")
        self.assertIn("Traceback (most recent call last)", result.stdout)
        self.assertIn("printed by a failing test", result.stdout)
        self.assertNotIn("printed by a passing test", result.stdout + result.stderr)
        self.assertIn("skipped tests.test_fake.Fake.test_skipped: not today", result.stdout)
        self.assertEqual(result.stdout.splitlines()[-1], "tests: 1 passed, 3 failed, 1 skipped")

    def test_a_line_per_test_file_as_it_finishes_and_the_reasons_for_skips(self):
        os.makedirs(os.path.join(self.root, "tests"))
        shutil.copy(os.path.join(REPO, "tests", "__main__.py"), os.path.join(self.root, "tests", "__main__.py"))
        self.write("tests/__init__.py")
        self.write("tests/test_one.py", """\
            import unittest

            class One(unittest.TestCase):
                def test_a(self):
                    pass

                @unittest.skip("needs a network")
                def test_b(self):
                    pass
        """)
        self.write("tests/test_two.py", """\
            import unittest

            @unittest.skip("needs a network")
            class Two(unittest.TestCase):
                def test_c(self):
                    pass

            class Three(unittest.TestCase):
                @unittest.skip("Windows only")
                def test_d(self):
                    pass
        """)
        result = self.run_python("-m", "tests")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout.splitlines(), [
            "tests/test_one.py: 1 passed, 1 skipped",
            "tests/test_two.py: 0 passed, 2 skipped",
            "skipped 2 (tests.test_one.One, tests.test_two.Two): needs a network",
            "skipped 1 (tests.test_two.Three): Windows only",
            "tests: 1 passed, 0 failed, 3 skipped",
        ])

    def test_no_test_is_a_failure(self):
        os.makedirs(os.path.join(self.root, "tests"))
        shutil.copy(os.path.join(REPO, "tests", "__main__.py"), os.path.join(self.root, "tests", "__main__.py"))
        self.write("tests/__init__.py")
        result = self.run_python("-m", "tests")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout.splitlines()[-1], "tests: 0 passed, 0 failed, 0 skipped")


