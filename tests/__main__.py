"""Run the test suite: ``python -m tests`` (unittest discovery, benchmarks excluded).

Prints a closing ``N passed, N failed`` line and exits non-zero on any failure.
"""

import sys
import unittest


def main() -> int:
    suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
    result = unittest.TextTestRunner(verbosity=1 if "-q" in sys.argv else 2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    if result.testsRun == 0:
        return 1
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
