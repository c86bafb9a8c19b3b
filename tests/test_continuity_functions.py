"""G7 continuity for functions: every function object taken before a reload runs the newest code.

Each behaviour is checked twice: through the reloaded module (``cf_m.f``) and
through a reference held by a module that was *not* reloaded (``cf_holder``,
which did ``from cf_m import ...`` and is left at generation 1 by reloading with
``dependents=False``), or by a registry module that the reloaded module
imports.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import sys
import textwrap
import traceback
import unittest

import versioned_import as vi
from tests.support import Sandbox


class FunctionContinuity(Sandbox):
    """A sandbox with the finder installed and helpers for a module ``cf_m`` and its holder."""

    module = "cf_m"
    holder = "cf_holder"

    def setUp(self) -> None:
        super().setUp()
        self.install()

    def given(self, source: str, holder: str | None = None):
        """Write and import ``cf_m`` (and ``cf_holder`` if given); return the modules."""
        self.path = self.write(f"{self.module}.py", source)
        m = importlib.import_module(self.module)
        if holder is None:
            return m
        self.write(f"{self.holder}.py", holder)
        h = importlib.import_module(self.holder)
        self.assertEqual(vi.generation(self.holder), 1)
        return m, h

    def update(self, source: str) -> vi.ReloadReport:
        """Rewrite ``cf_m`` and reload it alone; the holder must not have been re-executed."""
        self.source = source
        self.path = self.write(f"{self.module}.py", source)
        before = vi.generation(self.module)
        report = vi.reload(self.module, dependents=False)
        self.assertEqual(report.reloaded, (self.module,))
        self.assertEqual(vi.generation(self.module), before + 1)
        if self.holder in sys.modules:
            self.assertEqual(vi.generation(self.holder), 1, "the holder must not be re-executed")
        return report


HOLDER_F = """
from cf_m import f
CALLBACKS = [f]
HANDLERS = {"f": f}
"""


class TakenFunctionsTest(FunctionContinuity):
    def test_from_import_runs_newest_body_globals_defaults_and_kwdefaults(self):
        m, h = self.given("""
            X = 1
            def f(a=1, *, k=2):
                return ("v1", X, a, k)
        """, HOLDER_F)
        stale = m.f
        self.assertEqual(h.f(), ("v1", 1, 1, 2))
        self.update("""
            X = 10
            def f(a=3, *, k=4):
                return ("v2", X, a, k)
        """)
        for taken in (m.f, stale, h.f, h.CALLBACKS[0], h.HANDLERS["f"]):
            self.assertEqual(taken(), ("v2", 10, 3, 4))
            self.assertEqual(taken(5, k=6), ("v2", 10, 5, 6))
        self.assertIs(m.f, h.f)  # one function per definition: the new one took the identity's place

    def test_three_generations_stale_reference_follows_each(self):
        m, h = self.given("def f():\n    return 1\n", HOLDER_F)
        for n in (2, 3, 4):
            self.update(f"def f():\n    return {n}\n")
            self.assertEqual(h.f(), n)
            self.assertEqual(h.CALLBACKS[0](), n)
            self.assertEqual(m.f(), n)

    def test_stale_function_reads_and_writes_newest_module_globals(self):
        m, h = self.given("""
            COUNT = 0
            def bump():
                global COUNT
                COUNT += 1
                return COUNT
        """, "from cf_m import bump\n")
        h.bump()
        self.update("""
            COUNT = 100
            def bump():
                global COUNT
                COUNT += 2
                return COUNT
        """)
        self.assertEqual(h.bump(), 102)
        self.assertEqual(m.COUNT, 102)
        self.assertEqual(m.bump(), 104)
        self.assertEqual(m.COUNT, 104)

    def test_stale_function_calls_newest_helpers(self):
        m, h = self.given("""
            def helper():
                return "h1"
            def f():
                return helper()
        """, HOLDER_F)
        self.update("""
            def helper():
                return "h2"
            def f():
                return "via " + helper()
        """)
        self.assertEqual(h.f(), "via h2")
        self.assertEqual(m.f(), "via h2")

    def test_registry_in_a_module_that_is_not_reloaded(self):
        self.write("cf_registry.py", """
            HANDLERS = {}
            CALLBACKS = []
            def handler(name):
                def register(function):
                    HANDLERS[name] = function
                    CALLBACKS.append(function)
                    return function
                return register
        """)
        m = self.given("""
            from cf_registry import handler
            @handler("greet")
            def greet(who):
                return "hello " + who
        """)
        registry = sys.modules["cf_registry"]
        first = registry.HANDLERS["greet"]
        self.update("""
            from cf_registry import handler
            @handler("greet")
            def greet(who):
                return "bonjour " + who
        """)
        self.assertEqual(vi.generation("cf_registry"), 1)
        self.assertEqual(first("ada"), "bonjour ada")
        self.assertEqual(registry.HANDLERS["greet"]("ada"), "bonjour ada")
        self.assertEqual([c("ada") for c in registry.CALLBACKS], ["bonjour ada", "bonjour ada"])
        self.assertEqual(m.greet("ada"), "bonjour ada")

    def test_bound_method_of_an_old_instance(self):
        m, h = self.given("""
            class C:
                def __init__(self):
                    self.n = 1
                def meth(self, k=1):
                    return ("v1", self.n, k)
        """, """
            from cf_m import C
            INSTANCE = C()
            BOUND = INSTANCE.meth
        """)
        local = m.C()
        bound_here = local.meth
        self.update("""
            class C:
                def __init__(self):
                    self.n = 2
                def meth(self, k=5):
                    return ("v2", self.n, k)
        """)
        self.assertEqual(h.BOUND(), ("v2", 1, 5))
        self.assertEqual(bound_here(), ("v2", 1, 5))
        self.assertEqual(h.INSTANCE.meth(), ("v2", 1, 5))
        self.assertEqual(m.C().meth(), ("v2", 2, 5))

    def test_static_and_class_methods_taken_out_of_the_class(self):
        m, h = self.given("""
            class C:
                @staticmethod
                def s():
                    return "s1"
                @classmethod
                def c(cls):
                    return ("c1", cls.__name__)
        """, """
            from cf_m import C
            S = C.s
            K = C.c
        """)
        self.update("""
            class C:
                @staticmethod
                def s():
                    return "s2"
                @classmethod
                def c(cls):
                    return ("c2", cls.__name__)
        """)
        self.assertEqual(h.S(), "s2")
        self.assertEqual(h.K(), ("c2", "C"))
        self.assertEqual(m.C.s(), "s2")
        self.assertEqual(m.C.c(), ("c2", "C"))


class FunctionKindsTest(FunctionContinuity):
    def test_async_function(self):
        m, h = self.given("""
            import asyncio
            X = 1
            async def f(a=1):
                await asyncio.sleep(0)
                return ("v1", X, a)
        """, HOLDER_F)
        self.assertEqual(asyncio.run(h.f()), ("v1", 1, 1))
        self.update("""
            import asyncio
            X = 2
            async def f(a=7):
                await asyncio.sleep(0)
                return ("v2", X, a)
        """)
        self.assertTrue(inspect.iscoroutinefunction(h.f))
        self.assertEqual(asyncio.run(h.f()), ("v2", 2, 7))
        self.assertEqual(asyncio.run(h.HANDLERS["f"](3)), ("v2", 2, 3))
        self.assertEqual(asyncio.run(m.f()), ("v2", 2, 7))

    def test_async_function_raising_through_stale_reference(self):
        m, h = self.given("""
            async def f():
                return 1
        """, HOLDER_F)
        self.update("""
            async def f():
                raise LookupError("v2")
        """)
        for taken in (h.f, m.f):
            with self.assertRaisesRegex(LookupError, "v2"):
                asyncio.run(taken())

    def test_generator_function(self):
        m, h = self.given("""
            def f(n=2):
                for i in range(n):
                    yield ("v1", i)
        """, HOLDER_F)
        self.assertEqual(list(h.f()), [("v1", 0), ("v1", 1)])
        self.update("""
            def f(n=3):
                for i in range(n):
                    received = yield ("v2", i)
                    if received is not None:
                        yield ("got", received)
                return "done"
        """)
        self.assertTrue(inspect.isgeneratorfunction(h.f))
        self.assertEqual(list(h.f()), [("v2", 0), ("v2", 1), ("v2", 2)])
        self.assertEqual(list(m.f(1)), [("v2", 0)])
        # send() and the return value pass through the stale generator.
        generator = h.f(1)
        self.assertEqual(next(generator), ("v2", 0))
        self.assertEqual(generator.send("x"), ("got", "x"))
        with self.assertRaises(StopIteration) as stop:
            next(generator)
        self.assertEqual(stop.exception.value, "done")

    def test_async_generator_function(self):
        m, h = self.given("""
            async def f(n=2):
                for i in range(n):
                    yield ("v1", i)
        """, HOLDER_F)

        async def collect(agen):
            return [item async for item in agen]

        self.assertEqual(asyncio.run(collect(h.f())), [("v1", 0), ("v1", 1)])
        self.update("""
            async def f(n=3):
                for i in range(n):
                    received = yield ("v2", i)
                    if received is not None:
                        yield ("got", received)
        """)
        self.assertTrue(inspect.isasyncgenfunction(h.f))
        self.assertEqual(asyncio.run(collect(h.f())), [("v2", 0), ("v2", 1), ("v2", 2)])
        self.assertEqual(asyncio.run(collect(m.f(1))), [("v2", 0)])

        async def send_through():
            agen = h.f(1)
            first = await agen.__anext__()
            second = await agen.asend("x")
            await agen.aclose()
            return first, second

        self.assertEqual(asyncio.run(send_through()), (("v2", 0), ("got", "x")))

    def test_closure_made_by_a_factory_after_the_reload(self):
        m, h = self.given("""
            def make(n):
                def inner(k=1):
                    return ("v1", n, k)
                return inner
        """, "from cf_m import make\n")
        self.update("""
            def make(n):
                def inner(k=2):
                    return ("v2", n, k)
                return inner
        """)
        self.assertEqual(h.make(5)(), ("v2", 5, 2))
        self.assertEqual(m.make(6)(3), ("v2", 6, 3))

    def test_kind_change_is_reported_and_stale_references_keep_old_code(self):
        m, h = self.given("""
            def f():
                return "sync v1"
            def g():
                return "g1"
        """, "from cf_m import f, g\n")
        report = self.update("""
            async def f():
                return "async v2"
            def g():
                return "g2"
        """)
        entries = [r for r in report.replaced if r.module == "cf_m" and r.qualname == "f"]
        self.assertEqual(len(entries), 1, report.replaced)
        self.assertIsInstance(entries[0].reason, str)
        self.assertIn("coroutine", entries[0].reason)
        self.assertNotIn("g", [r.qualname for r in report.replaced])
        self.assertEqual(h.f(), "sync v1")  # not a coroutine: the old code still runs
        self.assertEqual(asyncio.run(m.f()), "async v2")
        self.assertEqual(h.g(), "g2")
        # A further reload of the same kind does not disturb either.
        self.update("""
            async def f():
                return "async v3"
            def g():
                return "g3"
        """)
        self.assertEqual(h.f(), "sync v1")
        self.assertEqual(asyncio.run(m.f()), "async v3")
        self.assertEqual(h.g(), "g3")


class SourceTruthTest(FunctionContinuity):
    def raised(self, kind, function, *args):
        """Call ``function`` and return the ``kind`` it raised, traceback intact (assertRaises strips it)."""
        try:
            function(*args)
        except kind as error:
            return error
        self.fail(f"{function!r} did not raise {kind.__name__}")

    def assertFramesShowSource(self, tb, source: str, raising_line: str) -> None:
        lines = source.splitlines()
        # Below the test's own frames, every frame is in the module's file: the stale
        # function's frame is named and placed like the newest code, never "somewhere else".
        frames = [frame for frame in traceback.extract_tb(tb) if frame.filename != __file__]
        self.assertTrue(frames, traceback.format_tb(tb))
        self.assertEqual({frame.filename for frame in frames}, {self.path}, traceback.format_tb(tb))
        for frame in frames:
            self.assertEqual(frame.line, lines[frame.lineno - 1].strip(), frame)
        last = frames[-1]
        self.assertEqual(last.lineno, lines.index(raising_line) + 1)
        self.assertEqual(last.line, raising_line.strip())

    def test_traceback_from_stale_function_shows_new_source_lines(self):
        import textwrap

        m, h = self.given("""
            def f(x):
                return 1 / x
        """, HOLDER_F)
        new = textwrap.dedent("""
            # padding so that the lines move
            # padding
            # padding
            def helper(x):
                y = x * 2
                raise ValueError("boom from v2 %d" % y)
            def f(x):
                value = x + 1
                return helper(value)
        """)
        self.update(new)
        for taken in (h.f, h.CALLBACKS[0], m.f):
            error = self.raised(ValueError, taken, 1)
            self.assertIn("boom from v2 4", str(error))
            self.assertFramesShowSource(error.__traceback__, new, '    raise ValueError("boom from v2 %d" % y)')
            formatted = "".join(traceback.format_tb(error.__traceback__))
            self.assertNotIn("return 1 / x", formatted)

    def test_traceback_from_stale_method_and_generator(self):
        import textwrap

        _m, h = self.given("""
            class C:
                def meth(self):
                    return 1
            def gen():
                yield 1
        """, """
            from cf_m import C, gen
            BOUND = C().meth
        """)
        new = textwrap.dedent("""
            class C:

                def meth(self):
                    raise KeyError("meth v2")
            def gen():
                yield 1
                raise KeyError("gen v2")
        """)
        self.update(new)
        error = self.raised(KeyError, h.BOUND)
        self.assertFramesShowSource(error.__traceback__, new, '        raise KeyError("meth v2")')
        error = self.raised(KeyError, lambda: list(h.gen()))
        self.assertFramesShowSource(error.__traceback__, new, '    raise KeyError("gen v2")')

    RUNNING = "\n# generation 2\ndef f(x):\n    raise ValueError('v2 %d' % x)\n"

    def given_running_generation_2(self):
        m, h = self.given("def f(x):\n    return x\n", HOLDER_F)
        self.update(self.RUNNING)
        return m, h

    def assertShowsRunningSource(self, m, h) -> None:
        for taken in (h.f, m.f):
            error = self.raised(ValueError, taken, 1)
            self.assertFramesShowSource(error.__traceback__, self.RUNNING, "    raise ValueError('v2 %d' % x)")
        self.assertEqual(inspect.getsource(h.f), "def f(x):\n    raise ValueError('v2 %d' % x)\n")

    def test_traceback_after_an_edit_not_yet_reloaded_shows_the_running_source(self):
        m, h = self.given_running_generation_2()
        self.write("cf_m.py", "# edited on disk\n# but not reloaded\ndef f(x):\n    return x\n")
        self.assertEqual(vi.changed(), ["cf_m"])
        self.assertShowsRunningSource(m, h)

    def test_traceback_after_a_refused_reload_shows_the_running_source(self):
        m, h = self.given_running_generation_2()
        self.write("cf_m.py", "# a new first line\nX = 1\ndef f(x):\n    return x\nraise RuntimeError('refused')\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload(self.module, dependents=False)
        self.assertEqual(vi.generation(self.module), 2)
        self.assertShowsRunningSource(m, h)

    def test_inspect_getsource_of_stale_function_shows_new_source(self):
        m, h = self.given("""
            def f():
                return "v1"
        """, HOLDER_F)
        self.update("""
            # a comment moves the definition
            def f():
                # a new body
                return "v2"
        """)
        expected = 'def f():\n    # a new body\n    return "v2"\n'
        self.assertEqual(inspect.getsource(h.f), expected)
        self.assertEqual(inspect.getsource(m.f), expected)
        self.assertEqual(inspect.getsourcefile(h.f), self.path)
        self.assertEqual(inspect.getsourcelines(h.f)[1], 3)

    def test_inspect_getsource_of_stale_method_and_wrapper(self):
        m, h = self.given("""
            import functools
            def deco(function):
                @functools.wraps(function)
                def wrapper(*args):
                    return function(*args)
                return wrapper
            class C:
                def meth(self):
                    return "v1"
            @deco
            def f():
                return "v1"
        """, """
            from cf_m import C, f
            BOUND = C().meth
        """)
        self.update("""
            import functools
            def deco(function):
                @functools.wraps(function)
                def wrapper(*args):
                    return function(*args)
                return wrapper
            class C:
                def meth(self):
                    return "v2 method"
            @deco
            def f():
                return "v2 function"
        """)
        self.assertIn('return "v2 method"', inspect.getsource(h.BOUND))
        self.assertIn('return "v2 method"', inspect.getsource(m.C.meth))
        # inspect unwraps functools.wraps wrappers to the wrapped function.
        self.assertIn('return "v2 function"', inspect.getsource(h.f))
        self.assertIn('return "v2 function"', inspect.getsource(m.f))


class DecoratorsTest(FunctionContinuity):
    DECO = """
        import functools
        def deco(function):
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                return ("wrapped", function(*args, **kwargs))
            return wrapper
    """

    def test_functools_wraps_stale_wrapper_runs_new_inner_body(self):
        m, h = self.given(self.DECO + """
        X = 1
        @deco
        def f(a=1):
            return ("v1", X, a)
        """, HOLDER_F)
        self.assertEqual(h.f(), ("wrapped", ("v1", 1, 1)))
        self.update(self.DECO + """
        X = 2
        @deco
        def f(a=3):
            return ("v2", X, a)
        """)
        self.assertEqual(h.f(), ("wrapped", ("v2", 2, 3)))
        self.assertEqual(h.HANDLERS["f"](9), ("wrapped", ("v2", 2, 9)))
        self.assertEqual(m.f(), ("wrapped", ("v2", 2, 3)))
        self.assertEqual(h.f.__wrapped__(), ("v2", 2, 3))

    def test_functools_wraps_changed_wrapper_body_is_followed(self):
        m, h = self.given(self.DECO + """
        @deco
        def f():
            return "v1"
        """, HOLDER_F)
        self.update("""
            import functools
            def deco(function):
                @functools.wraps(function)
                def wrapper(*args, **kwargs):
                    return ("rewrapped", function(*args, **kwargs))
                return wrapper
            @deco
            def f():
                return "v2"
        """)
        self.assertEqual(h.f(), ("rewrapped", "v2"))
        self.assertEqual(m.f(), ("rewrapped", "v2"))

    def test_functools_wraps_decorator_from_a_module_not_reloaded(self):
        self.write("cf_decorators.py", self.DECO)
        m, h = self.given("""
            from cf_decorators import deco
            @deco
            def f():
                return "v1"
            @deco
            def g():
                return "g1"
        """, "from cf_m import f, g\n")
        self.update("""
            from cf_decorators import deco
            @deco
            def f():
                return "v2"
            @deco
            def g():
                return "g2"
        """)
        self.assertEqual(vi.generation("cf_decorators"), 1)
        self.assertEqual(h.f(), ("wrapped", "v2"))
        self.assertEqual(h.g(), ("wrapped", "g2"))  # wrappers are told apart by what they wrap
        self.assertEqual(m.f(), ("wrapped", "v2"))

    def test_lru_cache_serves_no_result_of_an_old_body(self):
        m, h = self.given("""
            import functools
            @functools.lru_cache(maxsize=None)
            def f(x):
                return ("v1", x)
        """, HOLDER_F)
        self.assertEqual(h.f(1), ("v1", 1))
        self.assertEqual(m.f(1), ("v1", 1))
        self.update("""
            import functools
            @functools.lru_cache(maxsize=None)
            def f(x):
                return ("v2", x)
        """)
        self.assertEqual(h.f(1), ("v2", 1))
        self.assertEqual(h.CALLBACKS[0](1), ("v2", 1))
        self.assertEqual(m.f(1), ("v2", 1))
        self.assertEqual(m.f(2), ("v2", 2))

    def test_lru_cache_of_a_stale_reference_across_two_reloads(self):
        m, h = self.given("""
            import functools
            @functools.cache
            def f(x):
                return ("v1", x)
        """, HOLDER_F)
        self.assertEqual(h.f(1), ("v1", 1))
        self.update("""
            import functools
            @functools.cache
            def f(x):
                return ("v2", x)
        """)
        # The generation-1 cache now fills with results of the v2 body...
        self.assertEqual(h.f(1), ("v2", 1))
        self.update("""
            import functools
            @functools.cache
            def f(x):
                return ("v3", x)
        """)
        # ...and must not serve them once the body changed again.
        self.assertEqual(m.f(1), ("v3", 1))
        self.assertEqual(h.f(1), ("v3", 1))

    def test_lru_cache_after_rollback_serves_no_result_of_the_newer_body(self):
        m, h = self.given("""
            import functools
            @functools.lru_cache(maxsize=None)
            def f(x):
                return ("v1", x)
        """, HOLDER_F)
        self.update("""
            import functools
            @functools.lru_cache(maxsize=None)
            def f(x):
                return ("v2", x)
        """)
        newer = m.f
        self.assertEqual(h.f(1), ("v2", 1))  # fills generation 1's cache through the forwarder
        self.assertEqual(newer(1), ("v2", 1))
        vi.rollback(self.module)
        self.assertEqual(m.f(1), ("v1", 1))
        self.assertEqual(h.f(1), ("v1", 1))
        self.assertEqual(newer(1), ("v1", 1))

    def test_lru_cache_method(self):
        m, h = self.given("""
            import functools
            class C:
                @functools.lru_cache(maxsize=8)
                def area(self, k):
                    return ("v1", k)
        """, """
            from cf_m import C
            INSTANCE = C()
        """)
        self.assertEqual(h.INSTANCE.area(2), ("v1", 2))
        self.update("""
            import functools
            class C:
                @functools.lru_cache(maxsize=8)
                def area(self, k):
                    return ("v2", k)
        """)
        self.assertEqual(h.INSTANCE.area(2), ("v2", 2))
        self.assertEqual(m.C().area(2), ("v2", 2))


class MatchingByDefinitionTest(FunctionContinuity):
    def test_rebinding_a_name_does_not_rewrite_the_old_function(self):
        m, h = self.given("""
            def foo():
                return "foo v1"
            def bar():
                return "bar v1"
            f = foo
        """, """
            from cf_m import f, foo, bar
        """)
        self.assertEqual(h.f(), "foo v1")
        self.update("""
            def foo():
                return "foo v2"
            def bar():
                return "bar v2"
            f = bar
        """)
        self.assertEqual(h.f(), "foo v2")  # it was foo, it stays foo's lineage
        self.assertEqual(h.foo(), "foo v2")
        self.assertEqual(h.bar(), "bar v2")
        self.assertEqual(m.f(), "bar v2")
        self.assertIs(m.f, m.bar)

    def test_alias_to_a_function_that_disappeared_never_runs_another_body(self):
        m, h = self.given("""
            def foo():
                return "foo v1"
            f = foo
        """, "from cf_m import f\n")
        self.update("""
            def bar():
                return "bar v2"
            f = bar
        """)
        self.assertEqual(m.f(), "bar v2")
        self.assertNotEqual(h.f(), "bar v2")
        self.assertEqual(h.f(), "foo v1")

    def test_swapping_two_names(self):
        m, h = self.given("""
            def a():
                return "a1"
            def b():
                return "b1"
            first, second = a, b
        """, "from cf_m import first, second\n")
        self.update("""
            def a():
                return "a2"
            def b():
                return "b2"
            first, second = b, a
        """)
        self.assertEqual((h.first(), h.second()), ("a2", "b2"))
        self.assertEqual((m.first(), m.second()), ("b2", "a2"))

    def test_lambdas_are_not_matched_by_their_shared_name(self):
        # Every lambda is called "<lambda>": a name shared by several definitions.
        m, h = self.given("""
            f = lambda: "f1"
            g = lambda: "g1"
        """, "from cf_m import f, g\n")
        self.update("""
            g = lambda: "g2"
            f = lambda: "f2"
        """)
        self.assertEqual(m.f(), "f2")
        self.assertEqual(m.g(), "g2")
        self.assertIn(h.f(), ("f1", "f2"))  # never g's body
        self.assertIn(h.g(), ("g1", "g2"))  # never f's body

    def test_function_became_a_class_is_reported(self):
        m, h = self.given("""
            def F():
                return "function v1"
        """, "from cf_m import F\n")
        report = self.update("""
            class F:
                def ping(self):
                    return "class v2"
        """)
        entries = [r for r in report.replaced if r.qualname == "F"]
        self.assertEqual(len(entries), 1, report.replaced)
        self.assertTrue(entries[0].reason)
        self.assertEqual(h.F(), "function v1")
        self.assertEqual(m.F().ping(), "class v2")

    def test_same_name_in_two_classes_are_separate_lineages(self):
        m, h = self.given("""
            class A:
                def run(self):
                    return "A1"
            class B:
                def run(self):
                    return "B1"
        """, """
            from cf_m import A, B
            RUN_A = A.run
            RUN_B = B.run
        """)
        self.update("""
            class A:
                def run(self):
                    return "A2"
            class B:
                def run(self):
                    return "B2"
        """)
        self.assertEqual(h.RUN_A(None), "A2")
        self.assertEqual(h.RUN_B(None), "B2")
        self.assertEqual(m.A().run(), "A2")


if __name__ == "__main__":
    unittest.main()


class StaleSignatureTest(FunctionContinuity):
    """Frameworks introspect the handlers they hold: a stale function reports the newest signature."""

    def test_inspect_signature_of_a_stale_function_is_the_newest(self):
        import inspect

        self.install()
        self.write("cf_sig.py", "def handler(request):\n    return ('v1', request)\n")
        module = importlib.import_module("cf_sig")
        stale = module.handler
        self.write("cf_sig.py", "def handler(request, *, user=None):\n    return ('v2', request, user)\n")
        vi.reload("cf_sig")
        self.assertEqual(str(inspect.signature(stale)), "(request, *, user=None)")
        self.assertEqual(stale("r", user="u"), ("v2", "r", "u"))
        self.assertIn("user=None", inspect.getsource(stale))
        vi.rollback("cf_sig")
        self.assertEqual(str(inspect.signature(stale)), "(request)")
        self.assertNotIn("__wrapped__", stale.__dict__)  # its own code again: nothing of ours left on it


TRANSPLANT = __import__("versioned_import._continuity.transplant", fromlist=["TRANSPLANT"]).TRANSPLANT
needs_transplant = unittest.skipUnless(TRANSPLANT, "portable mode: old functions forward (see how-it-works.md)")


class WrappersWithoutWrapsTest(FunctionContinuity):
    """Issue 10: wrappers, lambdas and partials held before a reload run the newest body."""

    def test_decorator_without_wraps_registered_in_a_route_table(self):
        self.write("cf_routes.py", """
            ROUTES = []
            def route(function):
                def wrapper(*args):
                    return ("routed", function(*args))
                ROUTES.append(wrapper)
                return wrapper
        """)
        m = self.given("""
            from cf_routes import route
            @route
            def index():
                return "v1"
        """)
        routes = sys.modules["cf_routes"].ROUTES
        first = routes[0]
        self.update("""
            from cf_routes import route
            @route
            def index():
                return "v2"
        """)
        self.assertEqual(vi.generation("cf_routes"), 1)
        self.assertEqual(first(), ("routed", "v2"))
        self.assertEqual([r() for r in routes], [("routed", "v2")] * 2)
        self.assertIs(m.index, first)

    def test_decorator_returning_a_lambda_and_an_inner_function(self):
        m, h = self.given("""
            def as_lambda(function):
                return lambda *args: ("lambda", function(*args))
            def as_inner(function):
                def inner(*args):
                    return ("inner v1", function(*args))
                return inner
            @as_lambda
            def f():
                return "f1"
            @as_inner
            def g():
                return "g1"
        """, "from cf_m import f, g\n")
        self.update("""
            def as_lambda(function):
                return lambda *args: ("lambda", function(*args))
            def as_inner(function):
                def inner(*args):
                    return ("inner v2", function(*args))
                return inner
            @as_lambda
            def f():
                return "f2"
            @as_inner
            def g():
                return "g2"
        """)
        self.assertEqual(h.f(), ("lambda", "f2"))
        self.assertEqual(h.g(), ("inner v2", "g2"))
        self.assertIs(h.f, m.f)
        self.assertIs(h.g, m.g)

    def test_module_level_lambda_and_partial_handed_to_a_caller(self):
        m = self.given("""
            import functools
            def greet(greeting, who):
                return ("v1", greeting, who)
            HANDLER = lambda who: ("lambda v1", who)
            HELLO = functools.partial(greet, "hello")
            TABLE = {"h": lambda: "table v1"}
        """)
        handler, hello, table_entry = m.HANDLER, m.HELLO, m.TABLE["h"]
        self.update("""
            import functools
            def greet(greeting, who):
                return ("v2", greeting, who)
            HANDLER = lambda who: ("lambda v2", who)
            HELLO = functools.partial(greet, "hello")
            TABLE = {"h": lambda: "table v2"}
        """)
        self.assertEqual(handler("ada"), ("lambda v2", "ada"))
        self.assertEqual(hello("ada"), ("v2", "hello", "ada"))
        self.assertIs(m.HANDLER, handler)
        self.assertEqual(table_entry(), "table v2")  # a slot in a module-level table

    def test_same_decorator_on_two_functions_is_told_apart_by_slot(self):
        _m, h = self.given("""
            def deco(function):
                def wrapper():
                    return function()
                return wrapper
            @deco
            def a():
                return "a1"
            @deco
            def b():
                return "b1"
        """, "from cf_m import a, b\n")
        self.update("""
            def deco(function):
                def wrapper():
                    return function()
                return wrapper
            @deco
            def b():
                return "b2"
            @deco
            def a():
                return "a2"
        """)
        self.assertEqual((h.a(), h.b()), ("a2", "b2"))

    def test_rollback_of_a_wrapper_without_wraps(self):
        m, h = self.given("""
            def deco(function):
                def wrapper():
                    return ("w1", function())
                return wrapper
            @deco
            def f():
                return "v1"
        """, HOLDER_F)
        self.update("""
            def deco(function):
                def wrapper():
                    return ("w2", function())
                return wrapper
            @deco
            def f():
                return "v2"
        """)
        self.assertEqual(h.f(), ("w2", "v2"))
        vi.rollback(self.module)
        self.assertEqual(h.f(), ("w1", "v1"))
        self.assertEqual(m.f(), ("w1", "v1"))


class IntrospectionTest(FunctionContinuity):
    """Issue 10: a held function describes the newest definition."""

    V1 = """
        def f(a: int, b: str = "x", *, k: float = 1.0) -> int:
            "v1 doc"
            return 1
    """
    V2 = """
        import decimal
        class Money:
            pass
        def f(a: "Money", c: bytes = b"y", *, q: decimal.Decimal = None) -> "Money":
            "v2 doc"
            return 2
    """

    def test_introspection_of_a_held_function(self):
        import typing

        m, h = self.given(self.V1, HOLDER_F)
        self.update(self.V2)
        held = h.f
        self.assertEqual(held.__doc__, "v2 doc")
        self.assertEqual(held.__defaults__, (b"y",))
        self.assertEqual(held.__kwdefaults__, {"q": None})
        self.assertEqual(held.__annotations__["c"], bytes)
        self.assertEqual(str(inspect.signature(held)), str(inspect.signature(m.f)))
        hints = typing.get_type_hints(held)
        self.assertIs(hints["a"], m.Money)
        self.assertIs(hints["return"], m.Money)

    @needs_transplant
    def test_getfullargspec_and_code_of_a_held_function(self):
        m, h = self.given(self.V1, HOLDER_F)
        self.update(self.V2)
        spec = inspect.getfullargspec(h.f)
        self.assertEqual(spec.args, ["a", "c"])
        self.assertEqual(spec.kwonlyargs, ["q"])
        self.assertEqual(h.f.__code__.co_varnames[:3], ("a", "c", "q"))
        self.assertIs(h.f.__globals__, m.__dict__)


class IdentityTest(FunctionContinuity):
    """Issue 10: functions taken before and after a reload compare as one function."""

    def test_identity_comparisons_across_a_reload(self):
        self.write("cf_callbacks.py", "CALLBACKS = []\n")
        m = self.given("""
            import cf_callbacks
            def handler():
                return "v1"
            cf_callbacks.CALLBACKS.append(handler)
        """)
        before = m.handler
        keyed = {before: "registered"}
        self.update("""
            import cf_callbacks
            def handler():
                return "v2"
            cf_callbacks.CALLBACKS.append(handler)
        """)
        after = m.handler
        self.assertIs(after, before)
        self.assertEqual(keyed[after], "registered")
        callbacks = sys.modules["cf_callbacks"].CALLBACKS
        callbacks.remove(before)
        callbacks.remove(after)
        self.assertEqual(callbacks, [])

    def test_class_attribute_assigned_from_a_module_function(self):
        # itsdangerous: Signer.default_digest_method = staticmethod(_lazy_sha1)
        m, h = self.given("""
            def _lazy_sha1():
                return "sha1 v1"
            class Signer:
                default_digest_method = staticmethod(_lazy_sha1)
                other = _lazy_sha1
        """, "from cf_m import _lazy_sha1, Signer\n")
        self.update("""
            def _lazy_sha1():
                return "sha1 v2"
            class Signer:
                default_digest_method = staticmethod(_lazy_sha1)
                other = _lazy_sha1
        """)
        self.assertTrue(h.Signer.default_digest_method == h._lazy_sha1)
        self.assertIs(m.Signer.default_digest_method, h._lazy_sha1)
        self.assertIs(m.Signer.other, h._lazy_sha1)
        self.assertEqual(h.Signer.default_digest_method(), "sha1 v2")

    def test_pickle_of_a_held_function_by_reference(self):
        import pickle

        m, h = self.given("def f():\n    return 'v1'\n", HOLDER_F)
        held = h.f
        self.update("def f():\n    return 'v2'\n")
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            data = pickle.dumps(held, protocol)
            self.assertIs(pickle.loads(data), m.f)
        self.assertEqual(pickle.loads(pickle.dumps(held))(), "v2")

    def test_a_held_function_goes_to_a_process_pool(self):
        import concurrent.futures
        import multiprocessing

        _m, h = self.given("def f(x):\n    return ('v1', x)\n", HOLDER_F)
        held = h.f
        self.update("def f(x):\n    return ('v2', x)\n")
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            self.assertEqual(pool.submit(held, 3).result(timeout=60), ("v2", 3))


SIGNAL = """
import weakref

class Signal:
    '''A receiver list holding receivers weakly, as Django's signals and blinker do by default.'''

    def __init__(self):
        self.receivers = []

    def connect(self, receiver):
        self.receivers.append(weakref.ref(receiver))

    def send(self):
        return [receiver() for receiver in [r() for r in self.receivers] if receiver is not None]

SAVED = Signal()
"""


class WeakCallbacksTest(FunctionContinuity):
    """Issue 10: a receiver connected weakly at import fires once per signal, after any number of reloads."""

    def receiver(self, n):
        return f"""
            from cf_signals import SAVED
            def on_saved():
                return "v{n}"
            SAVED.connect(on_saved)
        """

    def test_weak_receiver_fires_once_after_reloads_and_rollback(self):
        self.write("cf_signals.py", SIGNAL)
        self.given(self.receiver(1))
        signal = sys.modules["cf_signals"].SAVED
        self.assertEqual(signal.send(), ["v1"])
        for n in range(2, 6):
            self.update(self.receiver(n))
            self.assertEqual(signal.send(), [f"v{n}"])
        vi.rollback(self.module)
        self.assertEqual(signal.send(), ["v4"])
        self.update(self.receiver(6))
        self.assertEqual(signal.send(), ["v6"])


class FramesTest(FunctionContinuity):
    """Issue 10 / G16: no frame of ours between a caller and a held function."""

    SOURCE = """
        import sys
        import warnings
        def caller_name(tag):
            return (tag, sys._getframe(1).f_code.co_name, sys._getframe(1).f_globals.get("__name__"))
        def deprecated(tag):
            warnings.warn(tag, DeprecationWarning, stacklevel=2)
    """

    @needs_transplant
    def test_getframe_and_warning_stacklevel_through_a_held_function(self):
        _m, h = self.given(self.SOURCE.replace("tag,", "'v1',"), """
            from cf_m import caller_name, deprecated
            def ask():
                return caller_name("x")
            def warn():
                deprecated("old api")
        """)
        self.update(self.SOURCE.replace("(tag,", "('v2',"))
        self.assertEqual(h.ask(), ("v2", "ask", "cf_holder"))
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h.warn()
        self.assertEqual([w.filename for w in caught], [h.__file__])

    @needs_transplant
    def test_speed_and_frames_do_not_depend_on_how_many_reloads(self):
        _m, h = self.given("import sys\ndef depth():\n    return sys._getframe(1).f_code.co_name\n",
                          "from cf_m import depth\ndef ask():\n    return depth()\n")
        for n in range(2, 5):
            self.update(f"import sys\ndef depth():\n    return (sys._getframe(1).f_code.co_name, {n})\n")
            self.assertEqual(h.ask(), ("ask", n))

    def test_inside_a_stale_pin_the_held_function_runs_the_pinned_body(self):
        import threading

        m, h = self.given("def f():\n    return 'v1'\n", HOLDER_F)
        with vi.pinned():
            self.write(f"{self.module}.py", "def f():\n    return 'v2'\n")
            thread = threading.Thread(target=vi.reload, args=(self.module,), kwargs={"dependents": False})
            thread.start()
            thread.join(60)
            self.assertEqual(vi.generation(self.module), 2)
            self.assertEqual(h.f(), "v1")
        self.assertEqual(h.f(), "v2")
        self.assertIs(h.f, m.f)
        if TRANSPLANT:  # once the pin ended it is the definition itself, not a forwarder (*args, **kwargs)
            self.assertEqual(h.f.__code__.co_varnames, ())


class FramesOutliveTheirCodeTest(FunctionContinuity):
    """A frame borrows its function's globals: frames kept past any number of reloads still read their own.

    In CPython a frame does not own its globals; a function that takes the
    newest definition in place must keep the namespace it leaves for as long
    as a frame of the code it ran may exist. Each check reads the frame's
    globals after the old generations are gone and their memory is reused.
    """

    SOURCE = """
        X = {n}
        def fail():
            raise ValueError(X)
        def count():
            yield X
            yield X
    """

    def reload_away(self, times: int = 4) -> None:
        for n in range(2, 2 + times):
            self.update(textwrap.dedent(self.SOURCE).format(n=n) + "\n" * n)
        gc.collect()
        self.churn = [{"key": i} for i in range(50_000)]  # reuse what was freed

    def test_a_traceback_keeps_the_globals_its_frame_ran_with(self):
        _m, h = self.given(textwrap.dedent(self.SOURCE).format(n=1), "from cf_m import fail\n")
        try:
            h.fail()
        except ValueError as exc:  # not assertRaises: it drops the traceback
            frame = exc.__traceback__.tb_next.tb_frame
        self.assertEqual(frame.f_code.co_name, "fail")
        self.reload_away()
        self.assertEqual((frame.f_globals["__name__"], frame.f_globals["X"]), ("cf_m", 1))
        with self.assertRaises(ValueError) as again:
            h.fail()
        self.assertEqual(again.exception.args, (5,))  # the held function runs the newest code

    def test_a_suspended_generator_finishes_with_its_own_globals(self):
        _m, h = self.given(textwrap.dedent(self.SOURCE).format(n=1), "from cf_m import count\n")
        counter = h.count()
        self.assertEqual(next(counter), 1)
        self.reload_away()
        self.assertEqual(next(counter), 1)
        self.assertEqual(list(h.count()), [5, 5])

    def test_a_thread_still_inside_reads_its_own_globals_when_it_wakes(self):
        import threading

        source = """
            import threading
            GO = threading.Event()
            INSIDE = threading.Event()
            X = {n}
            def wait_then_read():
                INSIDE.set()
                GO.wait(60)
                return X
            def __reload__(old):
                global GO, INSIDE
                GO, INSIDE = old.GO, old.INSIDE
        """
        m, h = self.given(textwrap.dedent(source).format(n=1), "from cf_m import wait_then_read\n")
        results = []
        worker = threading.Thread(target=lambda: results.append(h.wait_then_read()))
        worker.start()
        self.assertTrue(m.INSIDE.wait(60))
        self.SOURCE = source
        self.reload_away()
        m.GO.set()
        worker.join(60)
        self.assertEqual(results, [1])


class RunningCodeTest(FunctionContinuity):
    """Issue 10: code still running across a reload keeps its generation; __reload__ carries shared state."""

    def test_a_worker_loop_stops_through_a_shared_event(self):
        import threading

        source = """
            import threading
            STOP = threading.Event()
            STARTED = threading.Event()
            def work():
                STARTED.set()
                while not STOP.wait(0.001):
                    pass
                return "stopped"
            def stop():
                STOP.set()
            def __reload__(old):
                global STOP, STARTED
                STOP, STARTED = old.STOP, old.STARTED  # the running loop reads the old generation's globals
        """
        m = self.given(source)
        results = []
        worker = threading.Thread(target=lambda: results.append(m.work()))
        worker.start()
        self.assertTrue(m.STARTED.wait(60))
        self.update(source.replace('"stopped"', '"stopped v2"'))
        m.stop()  # the new generation's stop() sets the very event the old loop waits on
        worker.join(60)
        self.assertFalse(worker.is_alive())
        self.assertEqual(results, ["stopped"])  # the loop ran its own generation's code to the end
