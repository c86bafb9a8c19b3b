"""The README's commands are the ones CI runs: a newcomer types exactly what CI checks."""

from __future__ import annotations

import os
import re
import unittest

from tests.support import REPO


def _read(relative: str) -> str:
    with open(os.path.join(REPO, relative), encoding="utf-8") as stream:
        return stream.read()


class ReadmeCommandsTest(unittest.TestCase):
    def test_ci_runs_the_readme_test_command_verbatim(self):
        readme = _read("README.md")
        blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
        tests = [line for block in blocks for line in block.splitlines() if line.endswith("python -m tests")]
        self.assertEqual(len(tests), 1, tests)
        ci = re.search(r"^README_TEST='(.*)'$", _read(".ci/run"), re.M)
        self.assertIsNotNone(ci, ".ci/run must define README_TEST")
        self.assertEqual(ci.group(1), tests[0])

    def test_the_readme_starts_with_its_two_commands(self):
        readme = _read("README.md")
        first = readme.index("## ")
        self.assertTrue(readme[first:].startswith("## The two commands"))
        self.assertIn("python -m versioned_import demo", readme[first:readme.index("## ", first + 3)])
