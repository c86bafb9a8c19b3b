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


class ComparativeClaimsTest(unittest.TestCase):
    """The README's comparison with restarting reloaders quotes the measurement docs/performance.md records."""

    def test_the_readme_quotes_the_recorded_run_of_compare_reloaders(self):
        performance = _read("docs/performance.md")
        section = performance[performance.index("`python -m tests.frameworks.compare_reloaders"):]
        rows = re.findall(r"^\| [^|]+ \| ([^|]+) \| (\d+) ms \| \d+ ms \|$", section[:section.index("summary:")], re.M)
        ours = [int(median) for label, median in rows if label.startswith("versioned_import")]
        theirs = [int(median) for label, median in rows if not label.startswith("versioned_import")]
        self.assertEqual((len(ours), len(theirs)), (4, 4), rows)
        summary = (f"summary: versioned_import {min(ours)}-{max(ours)} ms, restarting reloaders "
                   f"{min(theirs)}-{max(theirs)} ms (medians)")
        self.assertIn(summary, section, "the table and its summary line disagree")
        readme = " ".join(_read("README.md").split())
        self.assertIn(f"served {min(ours)}–{max(ours)} ms after the save", readme)
        self.assertIn(f"took {min(theirs)}–{max(theirs)} ms", readme)
        self.assertIn("`python -m tests.frameworks.compare_reloaders`", readme)
