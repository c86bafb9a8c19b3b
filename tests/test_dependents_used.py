"""G6: a reload re-runs only the dependents whose import-time code used what changed (the default).

Each test edits a module, reloads it asking for the dependents that must
re-run, and checks which ones did (a log each module appends to when it
executes) and that every value a dependent computed at import time is what a
fresh start would compute. Every dependent (``dependents="all"``) is
covered by ``test_dependents``.
"""

import dis
import importlib
import json
import sys
import unittest

import versioned_import as vi
from tests.support import Sandbox
from versioned_import._reload.uses import uses_of

LOG = "import used_log\nused_log.RUNS.append(__name__)\n"


class UsedDependentsTest(Sandbox):
    def setUp(self):
        super().setUp()
        self.write("used_log.py", "RUNS = []\n")
        self.install(exclude=["used_log"])
        import used_log

        self.log = used_log.RUNS

    def runs(self, name):
        return self.log.count(name)

    def reload(self, name):
        del self.log[:]
        return vi.reload(name)

    def test_a_dependent_that_computed_with_a_changed_value_re_runs(self):
        self.write("u_a.py", LOG + "X = 1\n")
        self.write("u_b.py", LOG + "from u_a import X\nY = X + 1\n")
        b = importlib.import_module("u_b")
        self.write("u_a.py", LOG + "X = 10\n")
        report = self.reload("u_a")
        self.assertEqual(report.reloaded, ("u_a", "u_b"))
        self.assertEqual(b.Y, 11)

    def test_a_dependent_new_code_reaches_before_its_turn_runs_there_as_a_first_import_would(self):
        # The edited module's new code imports its own dependent by a name no import statement shows:
        # the dependent must run right there (seeing the module partially initialised, as a fresh
        # start would), not hand over its published, stale value and be decided afterwards.
        self.write("u_late.py", LOG + "X = 1\n")
        self.write("u_late_user.py", LOG + "import u_late\nY = u_late.X * 10\n")
        user = importlib.import_module("u_late_user")
        late = sys.modules["u_late"]
        self.write("u_late.py", LOG + "import importlib\nX = 2\nZ = importlib.import_module('u_late_user').Y + 1\n")
        report = self.reload("u_late")
        self.assertEqual(set(report.reloaded), {"u_late", "u_late_user"})
        self.assertEqual((late.X, user.Y, late.Z), (2, 20, 21))
        self.assertEqual((self.runs("u_late"), self.runs("u_late_user")), (1, 1))

    def test_a_new_import_of_a_dependent_runs_it_with_the_module_in_first_import_order(self):
        # A new cycle: the edited module now imports a module that imports it. A fresh start enters
        # the cycle where the program did (the user first); the reload does too, though the user's
        # own code used nothing that changed.
        self.write("u_cyc.py", LOG + "def f():\n    return 1\n")
        self.write("u_cyc_user.py", LOG + "NAME = 'user'\nfrom u_cyc import f\n")
        user = importlib.import_module("u_cyc_user")
        self.write("u_cyc.py", LOG + "def f():\n    return 2\nimport u_cyc_user\nSEEN = u_cyc_user.NAME\n")
        report = self.reload("u_cyc")
        self.assertEqual(report.reloaded, ("u_cyc_user", "u_cyc"))
        self.assertEqual((user.f(), sys.modules["u_cyc"].SEEN), (2, "user"))

    def test_an_equal_container_made_anew_reruns_only_who_bound_it(self):
        # A module-level table is a new object at every execution. A dependent that bound it must run
        # again (it would hold the old object); one that only called a function reading it through the
        # module gets the same answer from the same content, and keeps its generation.
        self.write("u_tab.py", LOG + "TABLE = {'a': 1}\ndef lookup(key):\n    return TABLE[key]\nREVISION = 1\n")
        self.write("u_tab_call.py", LOG + "from u_tab import lookup\nVALUE = lookup('a')\n")
        self.write("u_tab_bind.py", LOG + "from u_tab import TABLE\nSAME = TABLE\n")
        call, bind = importlib.import_module("u_tab_call"), importlib.import_module("u_tab_bind")
        tab = sys.modules["u_tab"]
        self.write("u_tab.py", LOG + "TABLE = {'a': 1}\ndef lookup(key):\n    return TABLE[key]\nREVISION = 2\n")
        self.assertEqual(set(self.reload("u_tab").reloaded), {"u_tab", "u_tab_bind"})
        self.assertIs(bind.SAME, tab.TABLE)
        self.assertEqual(call.VALUE, 1)
        # Other content: the call's answer changes, so it runs again too.
        self.write("u_tab.py", LOG + "TABLE = {'a': 5}\ndef lookup(key):\n    return TABLE[key]\nREVISION = 2\n")
        self.assertEqual(set(self.reload("u_tab").reloaded), {"u_tab", "u_tab_bind", "u_tab_call"})
        self.assertEqual((call.VALUE, bind.SAME), (5, {"a": 5}))

    def test_a_dependent_that_only_binds_the_module_keeps_its_generation(self):
        self.write("u_c.py", LOG + "X = 1\ndef get():\n    return X\n")
        self.write("u_d.py", LOG + "import u_c\ndef read():\n    return u_c.X + u_c.get()\n")
        d = importlib.import_module("u_d")
        self.write("u_c.py", LOG + "X = 5\ndef get():\n    return X * 2\n")
        report = self.reload("u_c")
        self.assertEqual(report.reloaded, ("u_c",))
        self.assertEqual((vi.generation("u_c"), vi.generation("u_d")), (2, 1))
        self.assertEqual(d.read(), 15)

    def test_a_value_that_did_not_change_needs_nothing(self):
        self.write("u_e.py", LOG + "LIMIT = 3\nREVISION = 1\n")
        self.write("u_f.py", LOG + "from u_e import LIMIT\nDOUBLE = LIMIT * 2\n")
        f = importlib.import_module("u_f")
        self.write("u_e.py", LOG + "LIMIT = 3\nREVISION = 2\n")
        self.assertEqual(self.reload("u_e").reloaded, ("u_e",))
        self.assertEqual(f.DOUBLE, 6)
        self.assertEqual(self.runs("u_f"), 0)

    def test_a_subclass_of_a_class_whose_definition_changed_re_runs(self):
        self.write("u_base.py", LOG + "class Base:\n    def __init_subclass__(cls):\n        cls.tag = 'v1'\n")
        self.write("u_sub.py", LOG + "from u_base import Base\nclass Sub(Base):\n    pass\n")
        sub = importlib.import_module("u_sub")
        self.assertEqual(sub.Sub.tag, "v1")
        self.write("u_base.py", LOG + "class Base:\n    def __init_subclass__(cls):\n        cls.tag = 'v2'\n")
        self.assertEqual(self.reload("u_base").reloaded, ("u_base", "u_sub"))
        self.assertEqual(sub.Sub.tag, "v2")

    def test_an_unchanged_class_keeps_its_equal_containers(self):
        source = LOG + "class Base:\n    fields = {}\n    def m(self):\n        return 1\nREVISION = %d\n"
        self.write("u_cls.py", source % 1)
        self.write("u_model.py", LOG + "from u_cls import Base\nclass Model(Base):\n    pass\n")
        cls = importlib.import_module("u_cls")
        importlib.import_module("u_model")
        fields = cls.Base.fields
        self.write("u_cls.py", source % 2)
        self.assertEqual(self.reload("u_cls").reloaded, ("u_cls",))
        self.assertIs(cls.Base.fields, fields)
        self.assertEqual(cls.REVISION, 2)

    def test_a_registry_the_edited_module_owns_makes_its_users_register_again(self):
        hub = LOG + "ROUTES = {{}}\nVERSION = {}\ndef route(path):\n    def add(view):\n        ROUTES[path] = view\n" \
                    "        return view\n    return add\n"
        self.write("u_hub.py", hub.format(1))
        self.write("u_view.py", LOG + "from u_hub import route\n@route('/')\ndef index():\n    return 'index'\n")
        h = importlib.import_module("u_hub")
        importlib.import_module("u_view")
        self.write("u_hub.py", hub.format(2))
        self.assertEqual(self.reload("u_hub").reloaded, ("u_hub", "u_view"))
        self.assertEqual(list(h.ROUTES), ["/"])
        self.assertEqual(h.ROUTES["/"](), "index")

    def test_a_function_called_at_import_that_reads_a_changed_name_makes_its_caller_re_run(self):
        self.write("u_conf.py", LOG + "PAGE = 10\n")
        self.write("u_lib.py", LOG + "import u_conf\ndef size():\n    return u_conf.PAGE * 2\n")
        self.write("u_user.py", LOG + "from u_lib import size\nSIZE = size()\n")
        user = importlib.import_module("u_user")
        self.write("u_conf.py", LOG + "PAGE = 20\n")
        report = self.reload("u_conf")
        self.assertEqual(report.reloaded, ("u_conf", "u_user"))  # u_lib only binds u_conf: it keeps its generation
        self.assertEqual(user.SIZE, 40)

    def test_star_imports_and_dynamic_reads_re_run_on_any_change(self):
        self.write("u_star_src.py", LOG + "A = 1\n")
        self.write("u_star.py", LOG + "from u_star_src import *\nB = A + 1\n")
        self.write("u_dyn.py", LOG + "import u_star_src\nC = getattr(u_star_src, 'A') * 3\n")
        star, dyn = importlib.import_module("u_star"), importlib.import_module("u_dyn")
        self.write("u_star_src.py", LOG + "A = 2\n")
        self.assertEqual(set(self.reload("u_star_src").reloaded), {"u_star_src", "u_star", "u_dyn"})
        self.assertEqual((star.B, dyn.C), (3, 6))

    def test_a_module_reloaded_without_a_change_re_runs_what_uses_it_transitively(self):
        self.write("u_t_a.py", LOG + "X = 1\n")
        self.write("u_t_b.py", LOG + "import u_t_a\nX = u_t_a.X * 10\n")
        self.write("u_t_c.py", LOG + "from u_t_b import X as B\nX = B * 10\n")
        self.write("u_t_d.py", LOG + "import u_t_c\n")
        importlib.import_module("u_t_c")
        importlib.import_module("u_t_d")
        self.assertEqual(self.reload("u_t_b").reloaded, ("u_t_b", "u_t_c"))
        self.assertEqual(self.reload("u_t_a").reloaded, ("u_t_a", "u_t_b", "u_t_c"))

    def test_a_dependent_whose_file_changed_re_runs(self):
        self.write("u_g.py", LOG + "X = 1\n")
        self.write("u_h.py", LOG + "import u_g\nY = 1\n")
        h = importlib.import_module("u_h")
        self.write("u_h.py", LOG + "import u_g\nY = 2\n")
        self.write("u_g.py", LOG + "X = 2\n")
        self.assertEqual(self.reload("u_g").reloaded, ("u_g", "u_h"))
        self.assertEqual(h.Y, 2)

    def test_a_broken_dependent_that_must_re_run_refuses_the_reload(self):
        self.write("u_i.py", LOG + "X = 1\n")
        self.write("u_j.py", LOG + "from u_i import X\nY = X\n")
        importlib.import_module("u_j")
        self.write("u_j.py", LOG + "from u_i import X\nY = X\n(")
        self.write("u_i.py", LOG + "X = 2\n")
        with self.assertRaises(vi.ReloadError) as caught:
            self.reload("u_i")
        self.assertEqual(caught.exception.module, "u_j")
        self.assertEqual((vi.generation("u_i"), vi.generation("u_j")), (1, 1))

    def test_an_import_cycle_re_runs_as_a_group(self):
        self.write("u_cy_base.py", LOG + "X = 1\n")
        self.write("u_cy_a.py", LOG + "import u_cy_b\nfrom u_cy_base import X\nA = X\n")
        self.write("u_cy_b.py", LOG + "import u_cy_a\nB = 1\n")
        importlib.import_module("u_cy_a")
        self.write("u_cy_base.py", LOG + "X = 2\n")
        self.assertEqual(set(self.reload("u_cy_base").reloaded), {"u_cy_base", "u_cy_a", "u_cy_b"})
        self.assertEqual(sys.modules["u_cy_a"].A, 2)

    def test_what_import_time_code_called_is_learnt_when_a_reload_runs_it(self):
        # A decorated function may be called by its decorator: unwatched, it counts as import-time code.
        self.write("u_svc.py", LOG + "class Service:\n    pass\nSERVICE = Service()\n")
        self.write("u_deco.py", LOG + "def register(f):\n    return f\ndef run_now(f):\n    f.result = f()\n"
                                      "    return f\n")
        self.write("u_views.py", LOG + "import u_svc\nfrom u_deco import register, run_now\n@register\n"
                                       "def later():\n    return u_svc.SERVICE\n@run_now\ndef now():\n    return 1\n")
        self.write("u_eager.py", LOG + "import u_svc\nfrom u_deco import run_now\n@run_now\n"
                                       "def now():\n    return u_svc.SERVICE\n")
        views, eager = importlib.import_module("u_views"), importlib.import_module("u_eager")
        for round_ in (1, 2, 3):
            self.write("u_svc.py", LOG + f"class Service:\n    pass\nSERVICE = Service()\nROUND = {round_}\n")
            reloaded = set(self.reload("u_svc").reloaded)
            self.assertIn("u_eager", reloaded)  # its decorator called the function at import: it holds SERVICE
            self.assertIs(eager.now.result, sys.modules["u_svc"].SERVICE)
            # Re-run the first time (the decorator might call it), known to need nothing afterwards.
            self.assertEqual("u_views" in reloaded, round_ == 1)
            self.assertIs(views.later(), sys.modules["u_svc"].SERVICE)

    def test_dependents_takes_all_and_refuses_other_strings(self):
        for wrong in ("some", "used"):
            with self.assertRaises(TypeError):
                vi.reload("u_x", dependents=wrong)
        self.write("u_k.py", "X = 1\n")
        importlib.import_module("u_k")
        self.assertEqual(vi.reload_changed(dependents="all").reloaded, ())


class DifferentialTest(Sandbox):
    """Random programs, random edits: after every reload, each value is a fresh start's.

    Six modules, each importing up to two earlier ones and using each in one
    way: reading a value, calling a function, subclassing a class, a ``from``
    import, registering into its list, calling a function that reads it,
    or only binding it (read at call time). Edits change a module's version
    (every value it defines), or only its bytes.
    """

    KINDS = ("value", "call", "subclass", "from", "register", "indirect", "bind")

    def run_program(self, seed: int, steps: int = 30) -> None:
        import random

        rng = random.Random(seed)
        count, prefix = 6, f"u_diff{seed}_m"
        deps = {i: sorted(rng.sample(range(i), k=min(i, rng.randint(0, 2)))) for i in range(count)}
        uses = {i: {j: rng.choice(self.KINDS) for j in deps[i]} for i in range(count)}
        version, padding = dict.fromkeys(range(count), 1), dict.fromkeys(range(count), 0)

        def source(i):
            lines = [f"import {prefix}{j}" for j in deps[i]]
            lines += [f"VERSION = {version[i]}", "REG = []", "def get():\n    return VERSION",
                      "def total():\n    return sum(REG) * 0 + VERSION",
                      "class K:\n    tag = VERSION\n    def m(self):\n        return VERSION"]
            parts = ["(VERSION,)"]
            for j in deps[i]:
                module, kind = f"{prefix}{j}", uses[i][j]
                if kind == "value":
                    parts.append(f"{module}.DERIVED")
                elif kind == "call":
                    parts.append(f"({module}.get(),)")
                elif kind == "subclass":
                    lines.append(f"class S{j}({module}.K):\n    pass")
                    parts.append(f"(S{j}.tag,)")
                elif kind == "from":
                    lines.append(f"from {module} import DERIVED as D{j}")
                    parts.append(f"D{j}")
                elif kind == "register":
                    lines.append(f"{module}.REG.append(VERSION)")
                elif kind == "indirect":
                    parts.append(f"({module}.total(),)")
                else:
                    lines.append(f"def late{j}():\n    return {module}.DERIVED")
            lines += ["DERIVED = " + " + ".join(parts), "#" * padding[i]]
            self.write(f"{prefix}{i}.py", "\n".join(lines) + "\n")

        def expected():
            values = {}
            for i in range(count):
                values[i] = (version[i],)
                for j in deps[i]:
                    if uses[i][j] in ("value", "from"):
                        values[i] += values[j]
                    elif uses[i][j] in ("call", "subclass", "indirect"):
                        values[i] += (version[j],)
            return values

        for i in range(count):
            source(i)
        modules = [importlib.import_module(f"{prefix}{i}") for i in range(count)]
        for step in range(steps):
            i = rng.randrange(count)
            change = rng.choice(("version", "bytes", "none"))
            if change == "version":
                version[i] += 1
            elif change == "bytes":
                padding[i] += 1
            source(i)
            vi.reload(f"{prefix}{i}")
            values = expected()
            for k, module in enumerate(modules):
                self.assertEqual(module.DERIVED, values[k], f"seed {seed}, step {step}, module {k}")
                for j in deps[k]:
                    if uses[k][j] == "bind":
                        self.assertEqual(getattr(module, f"late{j}")(), values[j])
                # Re-execution repeats side effects (a documented caveat): none may be lost.
                registrants = {version[r] for r in range(count) if uses[r].get(k) == "register"}
                self.assertLessEqual(registrants, set(module.REG), f"seed {seed}, step {step}, module {k}")

    def test_random_programs_match_a_fresh_start(self):
        self.install()
        for seed in range(6):
            with self.subTest(seed=seed):
                self.run_program(seed)


class UsesTest(unittest.TestCase):
    """The bytecode scan names what code loads, as ``dis`` reads it, on every supported version."""

    def test_the_scan_agrees_with_dis_on_real_modules(self):
        loads = ("LOAD_NAME", "LOAD_GLOBAL", "LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM", "LOAD_FROM_DICT_OR_GLOBALS",
                 "LOAD_SUPER_ATTR")

        def by_dis(code):
            found = set()
            for instruction in dis.get_instructions(code):
                if instruction.opname in loads:
                    value = instruction.argval
                    found.add(value[1] if isinstance(value, tuple) else value)
            for const in code.co_consts:
                if hasattr(const, "co_code"):
                    found |= by_dis(const)
            return found

        for module in (json, dis, importlib):
            with self.subTest(module=module.__name__):
                with open(module.__file__, encoding="utf-8") as stream:
                    code = compile(stream.read(), module.__file__, "exec")
                self.assertEqual(uses_of(code).everything, by_dis(code))

    def test_import_time_code_includes_what_is_passed_on_but_not_bound_functions(self):
        code = compile("import a\n@deco\ndef passed():\n    return a.IN_DECORATED\n"
                       "def bound():\n    return a.IN_BOUND\nclass C:\n    x = a.IN_CLASS_BODY\n"
                       "    def m(self):\n        return a.IN_METHOD\nL = [v.IN_COMPREHENSION for v in a.items]\n",
                       "<test>", "exec")
        uses = uses_of(code)
        self.assertTrue({"IN_DECORATED", "IN_CLASS_BODY", "IN_COMPREHENSION"} <= uses.import_time)
        self.assertFalse({"IN_BOUND", "IN_METHOD"} & uses.import_time)
        self.assertFalse(uses.dynamic)
        self.assertTrue(uses_of(compile("from a import *\n", "<test>", "exec")).dynamic)


if __name__ == "__main__":
    unittest.main()
