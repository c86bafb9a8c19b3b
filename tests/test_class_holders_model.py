"""Generated programs for G7: classes and Enum members held in randomly chosen holder kinds (issue 9).

Each example writes a module defining classes and an Enum, and stores each
of them in a holder of a randomly chosen kind (tuples, frozensets, dict
subclasses, deques, unions, aliases, partials, weak containers, slots,
closures, defaults, NamedTuples, ...). After reloading an edited version, every
holder must give back the very object taken before the reload, instances must
still be ``isinstance`` of their class, and Enum members must compare equal
and be found in sets.
"""

from __future__ import annotations

import gc
import importlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import versioned_import as vi
from tests.support import Sandbox

# kind -> (statement building holder H from the held value X, expression giving X back from H)
KINDS = {
    "list": ("H = [0, X]", "H[1]"),
    "tuple": ("H = (X, 1)", "H[0]"),
    "nested tuple": ("H = ((1, (X,)),)", "H[0][1][0]"),
    "frozenset": ("H = frozenset({X})", "next(iter(H))"),
    "set": ("H = {X}", "next(iter(H))"),
    "dict value": ("H = {'k': X}", "H['k']"),
    "dict key": ("H = {X: 1}", "next(iter(H))"),
    "OrderedDict": ("H = collections.OrderedDict(k=X)", "H['k']"),
    "defaultdict": ("H = collections.defaultdict(list, k=X)", "H['k']"),
    "user dict": ("class _D(dict):\n    pass\nH = _D(k=X)", "H['k']"),
    "deque": ("H = collections.deque([X])", "H[0]"),
    "partial args": ("H = functools.partial(print, X)", "H.args[0]"),
    "partial keywords": ("H = functools.partial(print, sep=X)", "H.keywords['sep']"),
    "NamedTuple": ("class _P(typing.NamedTuple):\n    v: object\nH = _P(X)", "H.v"),
    "attribute": ("class _O:\n    pass\nH = _O()\nH.v = X", "H.v"),
    "slot": ("class _S:\n    __slots__ = ('v',)\nH = _S()\nH.v = X", "H.v"),
    "closure": ("def _make(v):\n    return lambda: v\nH = _make(X)", "H()"),
    "default": ("def H(v=X):\n    return v", "H()"),
    "bound method": ("class _B:\n    def m(self):\n        pass\nH = {'m': _B().m, 'x': X}", "H['x']"),
}
CLASS_KINDS = {
    "union": ("H = X | int", "H.__args__[0]"),
    "alias": ("H = list[X]", "H.__args__[0]"),
    "Optional": ("H = typing.Optional[X]", "typing.get_args(H)[0]"),
    "WeakSet": ("H = weakref.WeakSet([X])", "next(iter(H))"),
    "WeakValueDictionary": ("H = weakref.WeakValueDictionary(k=X)", "H['k']"),
    "WeakKeyDictionary": ("H = weakref.WeakKeyDictionary({X: 1})", "next(iter(H))"),
}

HEADER = """
import collections, enum, functools, typing, weakref

class Color(enum.Enum):
    RED = 1
    GREEN = 2

class Base:
    def who(self):
        return "base{v}"

class Shape(Base):
    sides = {v}

class Square(Shape):
    pass

INSTANCE = Square()
"""

HELD = {"Shape": "Shape", "Square": "Square", "Color": "Color", "RED": "Color.RED", "INSTANCE": "INSTANCE"}
CLASSES = {"Shape", "Square", "Color"}


def holder_plans():
    def plan_for(held):
        kinds = sorted(KINDS) + (sorted(CLASS_KINDS) if held in CLASSES else [])
        return st.tuples(st.just(held), st.sampled_from(kinds))
    return st.lists(st.sampled_from(sorted(HELD)).flatmap(plan_for), min_size=1, max_size=8)


def source(version: int, plan) -> str:
    parts = [HEADER.format(v=version)]
    for index, (held, kind) in enumerate(plan):
        statement, _ = KINDS.get(kind) or CLASS_KINDS[kind]
        parts.append(statement.replace("_D", f"_D{index}").replace("_P", f"_P{index}").replace("_O", f"_O{index}")
                     .replace("_S", f"_S{index}").replace("_B", f"_B{index}").replace("_make", f"_make{index}")
                     .replace("H", f"H{index}").replace("X", HELD[held]))
    return "\n".join(parts) + "\n"


class HolderModel(Sandbox):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(plan=holder_plans(), reloads=st.integers(min_value=1, max_value=3))
    def test_every_holder_gives_back_the_identity(self, plan, reloads):
        import sys

        name = "hm_mod"
        sys.modules.pop(name, None)
        vi.uninstall()
        from versioned_import._core import state as _registry
        _registry.state.reset()
        self.install()
        self.write(f"{name}.py", source(1, plan))
        m = importlib.import_module(name)
        try:
            taken = {held: eval(HELD[held], vars(m)) for held in HELD}
            for version in range(2, 2 + reloads):
                self.write(f"{name}.py", source(version, plan))
                report = vi.reload(name)
                self.assertEqual(report.replaced, ())
            gc.collect()
            for index, (held, kind) in enumerate(plan):
                _, extract = KINDS.get(kind) or CLASS_KINDS[kind]
                namespace = dict(vars(m), H=getattr(m, f"H{index}"))
                value = eval(extract, namespace)
                if held == "INSTANCE":  # made anew by every generation: the holder has the current one
                    self.assertIs(value, m.INSTANCE, f"{kind} holding {held}")
                    self.assertIs(type(value), taken["Square"], f"{kind} holding {held}")
                else:
                    self.assertIs(value, taken[held], f"{kind} holding {held}")
            self.assertIsInstance(taken["INSTANCE"], m.Square)
            self.assertIs(type(m.INSTANCE), taken["Square"])
            self.assertIsInstance(m.INSTANCE, taken["Shape"])
            self.assertEqual(taken["RED"], m.Color.RED)
            self.assertIn(taken["RED"], {m.Color.RED})
            self.assertEqual(taken["Square"]().who(), f"base{1 + reloads}")
        finally:
            sys.modules.pop(name, None)
