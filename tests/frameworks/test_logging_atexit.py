"""Logging handlers and ``atexit`` functions of a service module across reloads (issue 17).

Before the side-effects mechanism, each reload added one more handler (every
line logged once per reload so far) and one more ``atexit`` function.
"""

from __future__ import annotations

import logging
import os
import unittest

import versioned_import as vi
from tests.support import Sandbox

SETUP = """\
import atexit
import logging

LOG = {log!r}
handler = logging.FileHandler(LOG)
handler.setFormatter(logging.Formatter("%(message)s"))
logger = logging.getLogger("vi_test_service")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
VERSION = 1


@atexit.register
def goodbye():
    print("goodbye from version", VERSION, flush=True)
"""

DRIVER = """\
import os
import sys

sys.path.insert(0, os.getcwd())
import versioned_import as vi

vi.install(roots=[os.getcwd()])
import service

for number in range(2, 7):
    with open("service.py") as stream:
        text = stream.read()
    with open("service.py", "w") as stream:
        stream.write(text.replace(f"VERSION = {number - 1}", f"VERSION = {number}"))
    vi.reload("service")
print("reloaded to", service.VERSION, flush=True)
"""


class ServiceModuleTest(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.log = os.path.join(self.root, "service.log")
        self.write("service.py", SETUP.format(log=self.log))

    def open_files(self) -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}") == self.log
            except OSError:
                continue
        return count

    def test_handlers_after_five_reloads(self):
        self.install()
        logger = logging.getLogger("vi_test_service")
        self.addCleanup(lambda: [(logger.removeHandler(h), h.close()) for h in list(logger.handlers)])
        import service

        self.addCleanup(vi.unload, "service")  # its atexit function leaves this process too

        for number in range(2, 7):
            with open(os.path.join(self.root, "service.py")) as stream:
                text = stream.read()
            self.write("service.py", text.replace(f"VERSION = {number - 1}", f"VERSION = {number}"))
            vi.reload("service")
        self.assertEqual(service.VERSION, 6)
        self.assertEqual(logger.handlers, [service.handler])
        self.assertEqual(logger.level, logging.INFO)
        logger.info("one line")
        service.handler.flush()
        with open(self.log) as stream:
            self.assertEqual(stream.read().splitlines(), ["one line"])
        # The current handler's file, and the one of the generation kept for rollback: no more.
        self.assertLessEqual(self.open_files(), 2)
        vi.rollback("service")
        self.assertEqual(service.VERSION, 5)
        self.assertEqual(logger.handlers, [service.handler], "the previous generation's handler, alone")

    def test_atexit_runs_once_at_exit_with_the_newest_code(self):
        self.write("drive.py", DRIVER)
        result = self.run_python("drive.py")
        self.assertProcessOK(result)
        self.assertEqual(result.stdout.splitlines(), ["reloaded to 6", "goodbye from version 6"])


if __name__ == "__main__":
    unittest.main()

