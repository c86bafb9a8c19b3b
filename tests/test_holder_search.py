"""The holder search of issue 18: an old registry costs one search of the whole heap, then it is known.

A reload finds the holders of its new objects among the objects it created;
an older container the new code filled (a route table, a model registry of a
module that is never edited) makes the counts ask for the whole heap once,
and is remembered: later reloads look there first. A remembered container
that nothing else holds any more is let go at the next reload. Held
functions take the new definition in the publishing pass itself when no pin
needs the old one.
"""

import gc
import importlib
import sys
import weakref

import versioned_import as vi
from tests.support import Sandbox
from versioned_import._core import state as _registry


class KnownHoldersTest(Sandbox):
    def setUp(self):
        super().setUp()
        self.install()

    def test_an_old_registry_costs_one_search_of_the_heap(self):
        self.write("hs_registry.py", "class Registry(list):\n    pass\nREGISTRY = Registry()\n")
        source = "import hs_registry\nclass Job:\n    v = {v}\nhs_registry.REGISTRY.append(Job)\n"
        self.write("hs_jobs.py", source.format(v=1))
        jobs = importlib.import_module("hs_jobs")
        Job = jobs.Job
        gc.collect()
        for version in (2, 3, 4):
            self.write("hs_jobs.py", source.format(v=version))
            vi.reload("hs_jobs")
        registry = sys.modules["hs_registry"]
        self.assertEqual(registry.REGISTRY, [Job] * 4)
        self.assertEqual(Job.v, 4)
        self.assertEqual(_registry.state.heap_searches, 1)
        # Dropped by the application: the next reload lets it go.
        dropped = weakref.ref(registry.REGISTRY)
        registry.REGISTRY = registry.Registry()
        self.write("hs_jobs.py", source.format(v=5))
        vi.reload("hs_jobs")
        gc.collect()
        self.assertIsNone(dropped())
        self.assertEqual(registry.REGISTRY, [Job])

    def test_a_frozen_application_stops_growing_its_frozen_set_once_its_registries_are_known(self):
        self.write("hs_frozen_registry.py", "REGISTRY = {}\n")
        source = "import hs_frozen_registry\nclass Task:\n    v = {v}\nhs_frozen_registry.REGISTRY['task'] = Task\n"
        self.write("hs_frozen_tasks.py", source.format(v=1))
        Task = importlib.import_module("hs_frozen_tasks").Task
        gc.freeze()
        self.addCleanup(gc.unfreeze)
        self.write("hs_frozen_tasks.py", source.format(v=2))
        vi.reload("hs_frozen_tasks")
        frozen = gc.get_freeze_count()
        for version in (3, 4, 5):
            self.write("hs_frozen_tasks.py", source.format(v=version))
            vi.reload("hs_frozen_tasks")
        self.assertEqual(_registry.state.heap_searches, 1)
        self.assertLessEqual(gc.get_freeze_count(), frozen)
        self.assertIs(sys.modules["hs_frozen_registry"].REGISTRY["task"], Task)
        self.assertEqual(Task.v, 5)


class TransplantInThePassTest(Sandbox):
    def setUp(self):
        super().setUp()
        self.install()

    def test_a_held_function_is_the_new_definition_right_after_the_publish(self):
        from versioned_import._continuity import TRANSPLANT

        self.write("hs_f.py", "def f():\n    return 1\n")
        module = importlib.import_module("hs_f")
        held = module.f
        code = held.__code__
        self.write("hs_f.py", "def f():\n    return 2\n")
        vi.reload("hs_f")
        self.assertEqual(held(), 2)
        self.assertIs(module.f, held)
        if TRANSPLANT:
            # No forwarder ran in between: the code is the new definition's own (a private copy of it).
            self.assertIsNot(held.__code__, code)
            self.assertEqual(held.__code__.co_consts, module.f.__code__.co_consts)
            self.assertIs(held.__globals__, module.__dict__)

    def test_a_pin_held_across_the_publish_keeps_the_old_body_until_it_ends(self):
        self.write("hs_g.py", "def g():\n    return 'old'\n")
        module = importlib.import_module("hs_g")
        held = module.g
        with vi.pinned():
            self.write("hs_g.py", "def g():\n    return 'new'\n")
            vi.reload("hs_g")
            self.assertEqual(held(), "old")
        self.assertEqual(held(), "new")
        self.assertIs(module.g, held)
