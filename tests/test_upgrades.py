"""Upgrading a library in a running process: what real packages do at import time, in small modules (issues 19, 20).

Each test imports release N of a small package, holds what an application
holds, writes release N+1 over it as pip does (files changed, added and
deleted) and reloads. The outcome is compared with what a fresh import of
N+1 does: the same modules run, in the same order, and the same names are
published — or the reload is refused where the fresh import fails.

Module code reports what it runs to ``up_log``, a module the finder is told
to exclude, so its list survives reloads and unloads. One section per item of
issue 20, and issue 19's moves and deletions; ``tests/upgrades/hops.py``
(branch ``upgrade-hops``) does the same with real libraries and their suites.
"""

import gc
import importlib
import operator
import os
import shutil
import sys
import types
import unittest
import weakref

import versioned_import as vi
from tests.support import Sandbox
from versioned_import._core.proxy import FAST_SWAP
from versioned_import._report import describe

LOG = "up_log"

# Every module of the packages below says it ran: the order a fresh import runs them in is part of the outcome.
RAN = f"import {LOG}; {LOG}.RAN.append(__name__)\n"


class UpgradeSandbox(Sandbox):
    def setUp(self):
        super().setUp()
        self.write(f"{LOG}.py", "RAN = []\n")
        self.install(exclude=[LOG])
        self.log = importlib.import_module(LOG)

    def write_release(self, package: str, files: dict[str, str | None]) -> None:
        """Write one release of ``package``: ``files`` maps a path inside it to its source (None: delete it)."""
        for relative, source in files.items():
            path = os.path.join(self.root, package, relative)
            if source is None:
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.remove(path)
                continue
            self.write(os.path.join(package, relative), source)
        importlib.invalidate_caches()

    def fresh_import(self, package: str, files: dict[str, str | None], *imports: str) -> tuple[list[str], dict]:
        """Import ``files`` as a fresh package named ``package``; return what ran (relative names) and its API."""
        self.write_release(package, {k: v for k, v in files.items() if v is not None})
        start = len(self.log.RAN)
        for name in (package, *imports):
            importlib.import_module(name)
        return self.ran_since(start, package), self.api(sys.modules[package])

    def ran_since(self, start: int, package: str) -> list[str]:
        return [name[len(package):] for name in self.log.RAN[start:]]

    def assertRanAsFresh(self, ran: list[str], fresh_ran: list[str], reloaded: set[str]) -> None:
        """``ran`` is ``reloaded``, run in the order the fresh import ran them (it ran unchanged ones too)."""
        self.assertEqual(set(ran), reloaded)
        self.assertEqual(ran, [name for name in fresh_ran if name in reloaded])

    @staticmethod
    def api(module: types.ModuleType) -> dict[str, object]:
        """The public names of a module, with submodules and functions by name (comparable across packages)."""
        result = {}
        for key, value in vars(module).items():
            if key.startswith("__"):
                continue
            if isinstance(value, types.ModuleType):
                value = "module " + value.__name__.rpartition(".")[2]
            elif callable(value):
                value = f"{type(value).__name__} {value.__name__}"
            result[key] = value
        return result


# -- issue 20, item 1: the order comes from the new sources ------------------------------------------------------

GRAPH_N = {
    "__init__.py": RAN + "from .core import f\n",
    "core.py": RAN + "def f():\n    return 1\n",
    "x.py": RAN + "X = 1\n",
}
# The submodule now imports its own package; the package takes one more name from it.
GRAPH_N1 = {
    "__init__.py": RAN + "from .core import f, g\n",
    "core.py": RAN + "from . import x\n\ndef f():\n    return 2\n\ndef g():\n    return x.X\n",
    "x.py": RAN + "X = 1\n",
}


class NewImportGraphTest(UpgradeSandbox):
    """A release that changes who imports whom runs as a fresh import of it would (G6)."""

    def upgrade(self, package, old, new, *imports):
        self.write_release(package, old)
        for name in (package, *imports):
            importlib.import_module(name)
        self.write_release(package, new)
        start = len(self.log.RAN)
        report = vi.reload_changed()
        return report, self.ran_since(start, package)

    def test_a_submodule_that_starts_importing_its_package_runs_inside_it_as_a_fresh_import(self):
        fresh_ran, fresh_api = self.fresh_import("up_fresh1", GRAPH_N1)
        self.write_release("up_graph1", GRAPH_N)
        pkg = importlib.import_module("up_graph1")
        importlib.import_module("up_graph1.x")
        held = pkg.f
        self.write_release("up_graph1", GRAPH_N1)
        start = len(self.log.RAN)
        report = vi.reload_changed()
        self.assertRanAsFresh(self.ran_since(start, "up_graph1"), fresh_ran, {"", ".core"})  # core inside the package
        self.assertEqual(self.api(pkg), fresh_api)
        self.assertEqual((pkg.f(), pkg.g(), held()), (2, 1, 2))
        self.assertEqual(set(report.reloaded), {"up_graph1", "up_graph1.core"})

    def test_a_package_that_star_imports_its_submodule_publishes_its_whole_api(self):
        old = dict(GRAPH_N, **{"__init__.py": RAN + "from .core import *\n"})
        new = dict(GRAPH_N1, **{"__init__.py": RAN + "from .core import *\n"})  # unchanged: only core changed
        fresh_ran, fresh_api = self.fresh_import("up_fresh2", new)
        report, ran = self.upgrade("up_graph2", old, new, "up_graph2.x")
        self.assertRanAsFresh(ran, fresh_ran, {"", ".core"})
        self.assertEqual(self.api(sys.modules["up_graph2"]), fresh_api)  # g included: nothing silently missing
        self.assertEqual(sys.modules["up_graph2"].g(), 1)
        self.assertEqual(report.generations, {"up_graph2.core": 2, "up_graph2": 2})

    def test_a_new_cycle_is_entered_where_the_program_entered_it(self):
        # The application imported `up_user`, which imports `up_lib`; up_lib's new release imports up_user back
        # (at the top, used only at call time). A fresh import enters at up_user and works; entering at up_lib
        # would run up_user inside it and fail on a partially initialised up_lib.
        self.write("up_lib.py", RAN + "def f():\n    return 1\n")
        self.write("up_user.py", RAN + "from up_lib import f\nVALUE = f()\n")
        user = importlib.import_module("up_user")
        self.write("up_lib.py", RAN + "import up_user\n\ndef f():\n    return 2\n\ndef back():\n"
                                      "    return up_user.VALUE\n")
        start = len(self.log.RAN)
        report = vi.reload_changed()
        self.assertEqual(self.log.RAN[start:], ["up_user", "up_lib"])  # as `import up_user` runs them afresh
        self.assertEqual(report.reloaded, ("up_user", "up_lib"))  # a cycle now: in the order it was entered
        self.assertEqual((user.VALUE, sys.modules["up_lib"].back()), (2, 2))

    def test_submodules_run_when_the_new_sources_import_them(self):
        old = {
            "__init__.py": RAN + "from . import a, b\n",
            "a.py": RAN + "A = 1\n",
            "b.py": RAN + "B = 1\n",
        }
        new = {  # b first now, and b imports a, which imports a new module c
            "__init__.py": RAN + "from . import b\nfrom . import a\n",
            "a.py": RAN + "from . import c\nA = c.C\n",
            "b.py": RAN + "from . import a\nB = a.A + 1\n",
            "c.py": RAN + "C = 5\n",
        }
        fresh_ran, fresh_api = self.fresh_import("up_fresh3", new)
        report, ran = self.upgrade("up_graph3", old, new)
        self.assertRanAsFresh(ran, fresh_ran, {"", ".a", ".b", ".c"})
        self.assertEqual(self.api(sys.modules["up_graph3"]), fresh_api)
        self.assertEqual(sys.modules["up_graph3"].b.B, 6)
        # `from . import x` imports the package too: the three are a cycle, listed in the order it was entered
        # (c, new, was a first import: generation 1, not reloaded).
        self.assertEqual(report.reloaded, ("up_graph3", "up_graph3.b", "up_graph3.a"))
        self.assertEqual(vi.generation("up_graph3.c"), 1)

    def test_a_new_release_that_a_fresh_import_refuses_is_refused(self):
        # The package binds its submodule before defining what the submodule takes from it: a fresh import
        # fails, so the reload must not publish it merely because the submodule happened to be loaded already.
        old = {"__init__.py": RAN + "from . import sub\nNAME = 'n'\n", "sub.py": RAN + "S = 1\n"}
        new = {"__init__.py": RAN + "from . import sub\nNAME = 'n1'\n",
               "sub.py": RAN + "from . import NAME\nS = NAME\n"}
        self.write_release("up_fresh4", new)
        with self.assertRaises(ImportError) as fresh:
            importlib.import_module("up_fresh4")
        self.write_release("up_graph4", old)
        pkg = importlib.import_module("up_graph4")
        self.write_release("up_graph4", new)
        with self.assertRaises(vi.ReloadError) as refused:
            vi.reload_changed()
        self.assertIs(type(refused.exception.__cause__), type(fresh.exception))
        self.assertEqual(refused.exception.module, "up_graph4.sub")
        self.assertEqual((pkg.NAME, pkg.sub.S, vi.generation("up_graph4")), ("n", 1, 1))



# -- issue 20, item 2: a reload acts on the module the program uses --------------------------------------------------

DANCE = {"__init__.py": "V = {v}\n", "tz.py": "from . import V\nT = V\n"}


class ReimportedAndRestoredTest(UpgradeSandbox):
    """A test-isolation pattern: delete a package's modules from sys.modules, import them afresh, put the originals back."""

    def setUp(self):
        super().setUp()
        self.write_version(1)
        self.pkg = importlib.import_module("up_dance")
        self.tz = importlib.import_module("up_dance.tz")
        self.held = self.pkg, self.tz
        originals = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "up_dance"}
        for name in originals:
            del sys.modules[name]
        copies = importlib.import_module("up_dance"), importlib.import_module("up_dance.tz")
        self.assertIsNot(copies[0], self.pkg)
        self.copies = [weakref.ref(module) for module in copies]
        sys.modules.update(originals)
        del copies
        self.write_version(2)

    def write_version(self, v):
        self.write_release("up_dance", {name: source.format(v=v) for name, source in DANCE.items()})

    def test_reload_changed_reloads_the_modules_in_sys_modules(self):
        report = vi.reload_changed()
        self.assertEqual(report.reloaded, ("up_dance", "up_dance.tz"))
        self.assertIs(sys.modules["up_dance"], self.pkg)
        self.assertEqual((self.pkg.V, self.tz.T), (2, 2))
        self.assertEqual((vi.generation(self.pkg), vi.generation("up_dance.tz")), (2, 2))
        self.assertEqual(vi.changed(), [])

    def test_reload_of_the_module_in_sys_modules_is_not_refused(self):
        report = vi.reload(sys.modules["up_dance"])
        self.assertEqual(report.generations, {"up_dance": 2, "up_dance.tz": 2})
        self.assertEqual(self.tz.T, 2)
        importlib.reload(self.tz)  # routed to vi.reload of the same record, not a first import of a new one
        self.assertEqual(vi.generation(self.tz), 3)
        self.assertIs(sys.modules["up_dance.tz"], self.tz)

    def test_the_copies_nothing_uses_are_not_kept_alive(self):
        if not FAST_SWAP:
            self.skipTest("the portable mode's table of published namespaces keeps a set-aside module alive")
        vi.reload_changed()
        gc.collect()
        self.assertEqual([ref for ref in self.copies if ref() is not None], [])

    def test_a_module_displaced_from_sys_modules_is_refused_saying_so(self):
        pkg = sys.modules.pop("up_dance")
        copy = importlib.import_module("up_dance")  # sys.modules holds another module of that name now
        with self.assertRaisesRegex(vi.NotVersionedError, "imported again") as refused:
            vi.reload(pkg)
        self.assertEqual(refused.exception.module, "up_dance")
        self.assertEqual(vi.reload(copy).generations["up_dance"], 2)
        self.assertEqual((copy.V, pkg.V), (2, 1))



# -- issue 20, item 3: class attributes that shadow type slots -------------------------------------------------------

SHADOWING = """\
class Compose:
    \"\"\"Composition of functions.\"\"\"

    def __init__(self, *funcs):
        self.funcs = funcs

    @property
    def __name__(self):
        return "{prefix}_of_" + "_".join(f.__name__ for f in self.funcs)

    @property
    def __doc__(self):
        return "{prefix} doc"


class Named:
    __name__ = "{prefix}_named"
    __qualname__ = "Named"


Renamed = type("Temporary", (), {{"__doc__": "{prefix}"}})
Renamed.__name__ = "{prefix}_Renamed"
Renamed.__qualname__ = "Renamed"
"""


class TypeSlotShadowingTest(UpgradeSandbox):
    """``__name__``, ``__doc__``, ``__module__`` in a class body land in the class dict, as the class statement puts them."""

    def test_properties_and_strings_land_in_the_class_dict(self):
        self.write("up_compose.py", SHADOWING.format(prefix="old"))
        module = importlib.import_module("up_compose")
        Compose, Named, Renamed = module.Compose, module.Named, module.Renamed
        before = Compose(len, abs)
        self.assertEqual(before.__name__, "old_of_len_abs")
        self.write("up_compose.py", SHADOWING.format(prefix="new"))
        vi.reload("up_compose")
        fresh: dict = {"__name__": "up_compose"}
        exec(compile(SHADOWING.format(prefix="new"), "<fresh>", "exec"), fresh)
        self.assertIs(module.Compose, Compose)
        for cls, plain in ((Compose, fresh["Compose"]), (Named, fresh["Named"]), (Renamed, fresh["Renamed"])):
            with self.subTest(cls=plain):
                read = type.__dict__["__name__"].__get__
                self.assertEqual(read(cls), read(plain))  # named as the class statement (or module code) named it
                self.assertEqual(cls.__qualname__, plain.__qualname__)
                for key in ("__name__", "__doc__", "__module__"):
                    self.assertIs(type(vars(cls).get(key)), type(vars(plain).get(key)), key)
        self.assertEqual((before.__name__, Compose(abs).__name__), ("new_of_len_abs", "new_of_abs"))
        self.assertEqual((before.__doc__, Named().__name__), ("new doc", "new_named"))
        self.assertIs(module.Renamed, Renamed)
        self.assertEqual((Renamed.__name__, Renamed.__doc__), ("new_Renamed", "new"))


# -- issue 20, item 4: a refusal at publish names the module that failed ---------------------------------------------

class PublishRefusalTest(UpgradeSandbox):
    def refusal(self, when):
        """Reload ``up_first``, whose dependent ``up_second`` fails ``when`` its class is planned or published."""
        from versioned_import._continuity import classes, pipeline

        self.write("up_first.py", "X = 1\n")
        self.write("up_second.py", "from up_first import X\n\nclass Late:\n    Y = X\n")
        second = importlib.import_module("up_second")
        self.write("up_first.py", "X = 2\n")
        original = pipeline.apply_state

        def failing(result, class_state):
            original(result, class_state)
            if class_state.identity.__module__ == "up_second":
                if when == "planning":
                    raise ZeroDivisionError("planned")
                result.add((operator.truediv, 1, 0), (classes.nothing,))  # the publishing pass fails here

        pipeline.apply_state = failing  # fault injection into our own plan: the second module's class fails
        try:
            with self.assertRaises(vi.ReloadError) as refused:
                vi.reload("up_first")
        finally:
            pipeline.apply_state = original
        self.assertEqual((vi.generation("up_first"), vi.generation("up_second"), second.Late.Y), (1, 1, 1))
        return refused.exception, second

    def test_the_refusal_names_the_module_whose_publish_failed(self):
        for when in ("planning", "publishing"):
            with self.subTest(when=when):
                error, second = self.refusal(when)
                self.assertEqual(error.module, "up_second")
                self.assertEqual(error.path, second.__file__)
                self.assertIsInstance(error.__cause__, ZeroDivisionError)
                self.assertIn("up_second", str(error))


# -- issue 20, item 5: an instance of a module subclass made at import -----------------------------------------------

SIX_LIKE = """\
import sys
import types

VERSION = {v}


class _LazyModule(types.ModuleType):
    def __dir__(self):
        return ["lazy"]


class _MovedItems(_LazyModule):
    \"\"\"Lazy loading of moved objects.\"\"\"


moves = _MovedItems(__name__ + ".moves")
sys.modules[__name__ + ".moves"] = moves


def add_move(name, value):
    setattr(_MovedItems, name, value)
"""


# Like six: lazy descriptors that leave the class once resolved (the class has one instance), and the module
# object served by an import hook that a new execution replaces.
SIX_IMPORTER = """\
import importlib.util
import sys
import types

VERSION = {v}


class _LazyDescr:
    def __init__(self, name):
        self.name = name

    def __get__(self, obj, tp):
        result = "resolved {v} " + self.name
        setattr(obj, self.name, result)
        delattr(obj.__class__, self.name)  # resolved once: the class has one instance
        return result


class _MovedItems(types.ModuleType):
    pass


for _name in ("filter", "zip"):
    setattr(_MovedItems, _name, _LazyDescr(_name))

moves = _MovedItems(__name__ + ".moves")


class _Importer:
    def __init__(self, name, modules):
        self.name, self.modules = name, modules

    def find_spec(self, fullname, path, target=None):
        if fullname in self.modules:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return self.modules[spec.name]

    def exec_module(self, module):
        pass


__path__ = []  # a package, so that its submodules can be imported
sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "name", None) != __name__]
sys.meta_path.append(_Importer(__name__, {{__name__ + ".moves": moves, __name__ + ".aliased": moves}}))


def add_move(name, value):
    setattr(_MovedItems, name, value)


def remove_move(name):
    try:
        delattr(_MovedItems, name)
    except AttributeError:
        del moves.__dict__[name]
"""


class ModuleSubclassInstanceTest(UpgradeSandbox):
    def test_an_instance_made_at_import_gets_the_continued_class(self):
        self.write("up_six.py", SIX_LIKE.format(v=1))
        six = importlib.import_module("up_six")
        moved_items = six._MovedItems
        self.write("up_six.py", SIX_LIKE.format(v=2))
        vi.reload("up_six")
        self.assertIs(six._MovedItems, moved_items)
        self.assertIs(type(six.moves), moved_items)
        self.assertIs(sys.modules["up_six.moves"], six.moves)
        six.add_move("answer", 42)
        self.assertEqual(sys.modules["up_six.moves"].answer, 42)
        self.assertIsInstance(six.moves, six._LazyModule)

    def test_a_module_object_an_import_hook_serves_keeps_its_identity(self):
        # A fresh process has one such object: sys.modules' and the package's own must not become two.
        self.write("up_six2.py", SIX_IMPORTER.format(v=1))
        six = importlib.import_module("up_six2")
        from up_six2.aliased import filter as resolved  # under another name than its own; resolved on it

        held = sys.modules["up_six2.aliased"]
        self.assertIs(held, six.moves)
        self.assertEqual(resolved, "resolved 1 filter")
        self.write("up_six2.py", SIX_IMPORTER.format(v=2))
        vi.reload("up_six2")
        self.assertIs(six.moves, held)
        self.assertIs(sys.modules["up_six2.aliased"], held)
        self.assertIs(type(held), six._MovedItems)
        self.assertEqual(held.__spec__.name, "up_six2.aliased")  # what the import system set stays
        self.assertEqual(six.moves.zip, "resolved 2 zip")
        from up_six2.aliased import filter, zip

        self.assertEqual((filter, zip), ("resolved 2 filter", "resolved 2 zip"))
        six.add_move("spam", 1)
        from up_six2.moves import spam  # imported under its own name now: the same object

        self.assertEqual(spam, 1)
        self.assertIs(sys.modules["up_six2.moves"], held)
        six.remove_move("spam")
        self.assertFalse(hasattr(six.moves, "spam"))


# -- issue 20, item 7: an unloaded module is freed by one collection -------------------------------------------------

FREED = """\
import functools

class Big:
    def size(self):
        return len(self.data) + {v}

BIG = Big()
BIG.data = bytearray(1 << 20)

def f():
    return {v}

@functools.wraps(f)
def wrapper():
    return f()

HANDLERS = {{"f": lambda: {v}}}
"""


class UnloadFreesInOneCollectionTest(UpgradeSandbox):
    def watch(self, name, reloads):
        """Import ``name``, reload it; return weak references to each generation's big object (own frame)."""
        self.write(f"{name}.py", FREED.format(v=0))
        module = importlib.import_module(name)
        refs = [weakref.ref(module.BIG)]
        for v in range(1, reloads + 1):
            self.write(f"{name}.py", FREED.format(v=v))
            vi.reload(name)
            refs.append(weakref.ref(module.BIG))
        return refs

    def test_unload_after_reloads_frees_every_generation_in_one_collection(self):
        for reloads in (0, 1, 2, 3):
            with self.subTest(reloads=reloads):
                name = f"up_freed{reloads}"
                refs = self.watch(name, reloads)
                vi.unload(name)
                gc.collect()
                self.assertEqual([i for i, ref in enumerate(refs) if ref() is not None], [])



# -- issue 19, moves and deletions: a new release deletes and moves files --------------------------------------------

MOVES_N = {
    "__init__.py": RAN + "from ._version import VERSION\nfrom . import util\n",
    "_version.py": RAN + "VERSION = '1'\n",
    "util.py": RAN + "def helper():\n    return 1\n",
}
# _version.py is deleted and nothing imports it any more; util.py became a package.
MOVES_N1 = {
    "__init__.py": RAN + "VERSION = '2'\nfrom . import util\n",
    "_version.py": None,
    "util.py": None,
    "util/__init__.py": RAN + "from .helpers import helper\n",
    "util/helpers.py": RAN + "def helper():\n    return 2\n",
}


class MovesAndDeletionsTest(UpgradeSandbox):
    def upgrade(self, package, old, new):
        self.write_release(package, old)
        pkg = importlib.import_module(package)
        held = pkg.util.helper
        self.write_release(package, new)
        return pkg, held

    def test_a_deleted_module_and_a_module_become_a_package_in_one_reload(self):
        fresh_ran, fresh_api = self.fresh_import("up_fresh_moves", MOVES_N1)
        pkg, held = self.upgrade("up_moves", MOVES_N, MOVES_N1)
        util = pkg.util
        self.assertEqual(sorted(vi.changed()), ["up_moves", "up_moves._version", "up_moves.util"])
        start = len(self.log.RAN)
        report = vi.reload_changed()
        self.assertRanAsFresh(self.ran_since(start, "up_moves"), fresh_ran, {"", ".util", ".util.helpers"})
        self.assertEqual(self.api(pkg), fresh_api)
        self.assertEqual(report.unloaded, ("up_moves._version",))
        self.assertNotIn("up_moves._version", sys.modules)
        self.assertRaises(vi.NotVersionedError, vi.generation, "up_moves._version")
        self.assertIs(pkg.util, util)  # the same module object, now a package from its new place
        self.assertEqual((vi.generation(util), util.helper(), held()), (2, 2, 1))
        self.assertEqual(util.__file__, os.path.join(self.root, "up_moves", "util", "__init__.py"))
        self.assertEqual(util.__path__, [os.path.join(self.root, "up_moves", "util")])
        self.assertEqual(util.__spec__.submodule_search_locations, util.__path__)
        self.assertEqual(vi.changed(), [])
        self.assertIn("; unloaded up_moves._version in ", describe(report))
        # It is versioned at its new place: an edit there is seen and reloaded.
        self.write("up_moves/util/__init__.py", RAN + "from .helpers import helper\nEXTRA = 1\n")
        self.assertEqual(vi.changed(), ["up_moves.util"])
        self.assertEqual(vi.reload_changed().generations, {"up_moves.util": 3, "up_moves": 3})  # and its importer
        self.assertEqual(util.EXTRA, 1)

    def test_a_package_that_became_a_module(self):
        old = {"__init__.py": "from . import util\n", "util/__init__.py": "from .inner import X\n",
               "util/inner.py": "X = 1\n"}
        new = {"util/inner.py": None, "util/__init__.py": None, "util": None, "util.py": "X = 2\n"}
        self.write_release("up_back", old)
        pkg = importlib.import_module("up_back")
        util = pkg.util
        self.write_release("up_back", new)
        report = vi.reload_changed()
        self.assertEqual(report.unloaded, ("up_back.util.inner",))
        self.assertIs(pkg.util, util)
        self.assertEqual((util.X, util.__file__), (2, os.path.join(self.root, "up_back", "util.py")))
        self.assertFalse(hasattr(util, "__path__"))
        self.assertNotIn("up_back.util.inner", sys.modules)

    def test_a_deleted_module_the_new_code_still_imports_is_refused(self):
        new = dict(MOVES_N1, **{"__init__.py": RAN + "from ._version import VERSION\nfrom . import util\n"})
        pkg, _ = self.upgrade("up_still", MOVES_N, new)
        with self.assertRaises(vi.ReloadError) as refused:
            vi.reload_changed()
        self.assertEqual(refused.exception.module, "up_still._version")
        self.assertIsInstance(refused.exception.__cause__, FileNotFoundError)
        self.assertIn("up_still still imports it", str(refused.exception))
        self.assertEqual((pkg.VERSION, vi.generation(pkg), pkg.util.helper()), ("1", 1, 1))
        self.assertIn("up_still._version", sys.modules)

    def test_a_deleted_module_a_module_not_reloaded_imports_is_refused(self):
        self.write_release("up_kept", MOVES_N)
        self.write("up_kept_user.py", "from up_kept._version import VERSION\n")
        pkg = importlib.import_module("up_kept")
        importlib.import_module("up_kept_user")
        self.write_release("up_kept", MOVES_N1)
        with self.assertRaises(vi.ReloadError) as refused:
            vi.reload("up_kept", "up_kept._version", "up_kept.util", dependents=False)
        self.assertEqual(refused.exception.module, "up_kept._version")
        self.assertIn("up_kept_user still imports it", str(refused.exception))
        self.assertEqual(vi.generation(pkg), 1)
        # Reloaded with its dependents, the user runs again, and still imports it: refused too.
        self.assertRaisesRegex(vi.ReloadError, "up_kept_user still imports it", vi.reload_changed)


    def test_the_watcher_follows_a_module_to_its_new_place(self):
        self.write_release("up_watched", {"__init__.py": "from . import util\n", "util.py": "X = 1\n"})
        pkg = importlib.import_module("up_watched")
        vi.watch(interval=30)  # so that only change notifications act: its backstop scan would come in 300 s
        self.write_release("up_watched", {"util/__init__.py": "X = 2\n", "util.py": None})  # new place first
        self.wait_until(lambda: vi.generation("up_watched.util") == 2, "the move to be reloaded")
        self.assertEqual(pkg.util.X, 2)
        self.write("up_watched/util/__init__.py", "X = 3\n")  # an edit at the new place, in a new directory
        self.wait_until(lambda: vi.generation("up_watched.util") == 3, "the edit at the new place to be reloaded")
        self.assertEqual(pkg.util.X, 3)

    def test_the_watcher_retries_a_move_refused_half_way(self):
        # pip deleted the old file and has not written the new place yet: refused (the package still imports
        # it). The watcher retries a refusal only for other sources, so the new place must count as one (its
        # new directory is not watched yet: the watcher's periodic scan finds it).
        self.write_release("up_halfway", {"__init__.py": "from . import util\n", "util.py": "X = 1\n"})
        pkg = importlib.import_module("up_halfway")
        reports = []
        self.addCleanup(vi.on_reload(reports.append))
        vi.watch(interval=0.05)
        self.write_release("up_halfway", {"util.py": None})
        self.wait_until(lambda: any(not report.ok for report in reports), "the refusal")
        self.assertIn("up_halfway still imports it", str(reports[-1].error))
        self.write_release("up_halfway", {"util/__init__.py": "X = 2\n"})
        self.wait_until(lambda: vi.generation("up_halfway.util") == 2, "the move to be reloaded")
        self.assertEqual(pkg.util.X, 2)

if __name__ == "__main__":
    unittest.main()
