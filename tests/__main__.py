"""Run the test suite: ``python -m tests`` (unittest discovery, benchmarks excluded).

Quiet by default: one line per test file as it finishes (its counts), one
line per failure or error as it happens (the test, where it failed, and the
first line of the exception), then why tests were skipped (one line per
reason) and the closing ``N passed, N failed, N skipped`` line. Output a test
prints is captured and shown only with its failure. ``-v`` adds every test's
name and the full traceback of each failure.

Exits non-zero on any failure, and when no test ran.
"""

from __future__ import annotations

import sys
import traceback
import unittest
from types import TracebackType
from typing import TextIO

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class QuietResult(unittest.TestResult):
    """A result that prints one line per failure (and, verbosely, every test and every traceback)."""

    def __init__(self, stream: TextIO, verbose: bool) -> None:
        super().__init__(stream, None, 2 if verbose else 0)
        self.stream = stream
        self.verbose = verbose
        self.buffer = True  # a test's stdout and stderr are shown only with its failure
        self.failed_tests: set[str] = set()  # a test with failing subtests counts once
        # Counted, not derived from testsRun: 3.12.1 leaves skipped tests out of testsRun, 3.11 and 3.13 do not.
        self.passed = 0
        # The test file running now, and its counts at its start: a line when it finishes.
        self._file: str | None = None
        self._at_start = (0, 0, 0)

    def counts(self) -> tuple[int, int, int]:
        return self.passed, len(self.failed_tests), len(self.skipped)

    def _enter(self, test: unittest.TestCase) -> None:
        module = type(test).__module__
        if module != self._file:
            self.file_done()
            self._file, self._at_start = module, self.counts()

    def startTest(self, test: unittest.TestCase) -> None:
        self._enter(test)
        super().startTest(test)
        if self.verbose:
            self.stream.write(f"{test.id()} ...\n")
            self.stream.flush()

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        # 3.12.1 reports a skipped test without starting it: the skip still belongs to its own file.
        self._enter(test)
        super().addSkip(test, reason)

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self.passed += 1

    def addExpectedFailure(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # type: ignore[override]
        super().addExpectedFailure(test, err)
        self.passed += 1

    def addError(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # type: ignore[override]
        super().addError(test, err)
        self._report("ERROR", test, err)

    def addFailure(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # type: ignore[override]
        super().addFailure(test, err)
        self._report("FAIL", test, err)

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase,
                   err: _ExcInfo | None) -> None:  # type: ignore[override]
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._report("FAIL" if issubclass(err[0], test.failureException) else "ERROR", subtest, err)

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self.failed_tests.add(test.id())
        self.stream.write(f"UNEXPECTED SUCCESS {test.id()}\n")

    def file_done(self) -> None:
        """Print the line of the test file that just finished: its name and what its tests did."""
        if self._file is None:
            return
        passed, failed, skipped = (now - then for now, then in zip(self.counts(), self._at_start))
        parts = [f"{passed} passed"] + [f"{n} {what}" for n, what in ((failed, "failed"), (skipped, "skipped")) if n]
        self.stream.write(f"{self._file.replace('.', '/')}.py: {', '.join(parts)}\n")
        self.stream.flush()
        self._file = None

    def stopTestRun(self) -> None:
        self.file_done()
        super().stopTestRun()

    def _report(self, kind: str, test: unittest.TestCase, err: _ExcInfo) -> None:
        self.failed_tests.add(getattr(test, "test_case", test).id())
        self._mirrorOutput = False  # unittest would echo the captured output again after the test
        self.stream.write(f"{kind} {test.id()}{_where(err)}: {_first_line(err[1])}\n")
        if self.verbose:
            self.stream.write(self._exc_info_to_string(err, test) + "\n")
        self.stream.flush()


def _where(err: _ExcInfo) -> str:
    """Return `` (file:line)`` of the innermost frame in a test file, or ''."""
    frames = [frame for frame in traceback.extract_tb(err[2]) if "/tests/" in frame.filename.replace("\\", "/")]
    return f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def skip_reasons(skipped: list[tuple[unittest.TestCase, str]]) -> list[str]:
    """One line per reason tests were skipped: how many, where (test classes), and the reason."""
    by_reason: dict[str, list[str]] = {}
    for test, reason in skipped:
        where = by_reason.setdefault(reason, [])
        where.append(test.id().rpartition(".")[0])
    lines = []
    for reason, classes in by_reason.items():
        places = ", ".join(dict.fromkeys(classes))
        lines.append(f"skipped {len(classes)} ({places}): {reason}")
    return lines


def main() -> int:
    verbose = "-v" in sys.argv[1:]
    suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
    result = QuietResult(sys.stdout, verbose)
    result.startTestRun()
    try:
        suite.run(result)
    finally:
        result.stopTestRun()
    failed = len(result.failed_tests)
    skipped = len(result.skipped)
    passed = result.passed
    if verbose:
        for test, reason in result.skipped:
            print(f"skipped {test.id()}: {reason}")
    else:
        for line in skip_reasons(result.skipped):
            print(line)
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    if passed + failed + skipped == 0:
        return 1
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
