"""The portable proxy mode (no md_dict swap) keeps every guarantee: the same batteries, in a subprocess."""

import os
import subprocess
import sys
import unittest

from tests.support import REPO

# Batteries that exercise the proxy, generations, continuity and pinning end to end.
BATTERIES = [
    "tests.test_scope_and_proxy",
    "tests.test_generations",
    "tests.test_continuity_functions",
    "tests.test_continuity_classes",
    "tests.test_class_realcode",
    "tests.test_class_holders_model",
    "tests.test_dependents",
    "tests.test_runtime",
    "tests.test_transactions",
    "tests.test_watcher",
    "tests.test_faults",
    "tests.test_invisible_when_idle",
]


class PortableModeTest(unittest.TestCase):
    def run_python(self, *args):
        env = dict(os.environ, VERSIONED_IMPORT_PORTABLE="1", PYTHONPATH=REPO)
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, env=env,
                              stdin=subprocess.DEVNULL, timeout=600)

    def test_the_environment_variable_selects_the_portable_mode(self):
        result = self.run_python("-c", "import versioned_import._core.proxy as p; print(p.FAST_SWAP)")
        self.assertEqual(result.stdout.strip(), "False", result.stderr)

    def test_the_batteries_pass_in_portable_mode(self):
        result = self.run_python("-m", "unittest", "-q", *BATTERIES)
        if result.returncode != 0:
            self.fail(f"portable mode failed:\n{result.stderr[-6000:]}")
        self.assertIn("OK", result.stderr)


if __name__ == "__main__":
    unittest.main()
