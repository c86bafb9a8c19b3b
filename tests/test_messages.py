"""Refusals of names that are not versioned: one reason, in one sentence, then what to do (G13).

``reload("os")`` once said "it has no source file (frozen) is outside the
versioned roots": two reasons glued into one broken sentence. Each case here
pins the whole message, so that the reason given is the one that decides (the
first clause of ``_core.scope.in_scope`` the module fails) and nothing else.
The command line gives the same sentence (``tests/test_workers.py``,
``CoordinatedReloadTest::test_a_name_that_is_not_versioned_is_explained_as_reload_explains_it``).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import sysconfig

import versioned_import as vi
from tests.support import Sandbox

OWN_CODE = "reload the modules of your own code that use it instead"


def no_source(name: str) -> str:
    """The reason for a module without Python source, from where its spec says it comes from."""
    origin = importlib.import_module(name).__spec__.origin
    if origin in ("built-in", "frozen"):
        return f"it is a {origin} module, with no source file to execute again — {OWN_CODE}"
    return f"it is an extension module ({origin}), compiled code with no source to execute again — {OWN_CODE}"


class NotVersionedMessageTest(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.write("ms_kept_out.py", "X = 1\n")
        self.write("ms_mine.py", "X = 1\n")
        self.install(exclude=["ms_kept_out"])
        import ms_kept_out  # noqa: F401
        import ms_mine  # noqa: F401

    def message(self, name: str) -> str:
        with self.assertRaises(vi.NotVersionedError) as caught:
            vi.reload(name)
        return str(caught.exception)

    def test_each_reason_is_one_sentence_with_one_remedy(self):
        stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
        cases = {
            # Frozen in an installed interpreter; source in a build tree or with -X frozen_modules=off.
            "os": no_source("os") if os.__spec__.origin in ("frozen", "built-in") else
            f"its file {os.__file__} is in the standard library, which is never versioned — {OWN_CODE}",
            "sys": no_source("sys"),
            "math": no_source("math"),
            "json": f"its file {json.__file__} is in the standard library, which is never versioned — {OWN_CODE}",
            "versioned_import": f"it is part of versioned_import itself, which is never versioned — {OWN_CODE}",
            "ms_kept_out": "it is excluded by install(exclude=...) — remove it from exclude and restart the "
                           "program, if it should be reloaded",
        }
        self.assertTrue(json.__file__.startswith(stdlib))
        for name, reason in cases.items():
            with self.subTest(name=name):
                message = self.message(name)
                self.assertEqual(message, f"reload of {name!r} refused: {reason}")
                self.assertEqual(message.count(" — "), 1, message)
                self.assertNotIn("outside", message)

    def test_a_file_outside_the_roots_names_the_file_and_the_roots(self):
        outside = os.path.realpath(os.path.join(self.root, "..", f"{os.path.basename(self.root)}-outside"))
        os.makedirs(outside)
        self.addCleanup(shutil.rmtree, outside, True)
        with open(os.path.join(outside, "ms_elsewhere.py"), "w") as stream:
            stream.write("X = 1\n")
        sys.path.append(outside)
        importlib.invalidate_caches()
        import ms_elsewhere

        self.assertEqual(self.message("ms_elsewhere"),
                         f"reload of 'ms_elsewhere' refused: its file {ms_elsewhere.__file__} is outside the "
                         f"versioned roots ({self.root}) and packages (none) — check install(roots=..., packages=...)")

    def test_a_name_never_imported_says_so_once(self):
        self.assertEqual(self.message("ms_typo"),
                         f"reload of 'ms_typo' refused: no module of that name has been imported (the versioned "
                         f"roots ({self.root}) and packages (none)) — import it first, and check the spelling")
