"""A model of reload, rollback and unload over three interdependent modules, checked by hypothesis.

``m0`` is independent, ``m1`` imports ``m0`` and derives a value from it,
``m2`` imports ``m1``. Hypothesis edits the files (a valid new version, a
syntax error, an exception at import), reloads, rolls back, unloads and
re-imports in any order; after every step the real modules must match a
small model: which source version each module runs (G3), its generation
number, what it derived from its dependency when it last executed (G6), which
reloads are refused (G4: exactly when a member of the reload set is broken,
and then nothing changed), what ``rollback`` restores (G9: the undo of the
last reload that published the module, with every module that reload
published and the later reloads built on them) and which modules
``changed()`` reports (G8: not the bytes a rollback moved away from).
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import unittest
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

import versioned_import as vi
from tests.support import Sandbox, SavedInterpreter, forget_unkept, raises

COUNT = 3  # m0 <- m1 <- m2 (each imports the one before it)
KINDS = ("valid", "syntax", "raise")


@dataclass
class Running:
    """What one generation of a module is: the source it ran and what it derived."""

    version: int
    derived: tuple[int, ...]
    text: str


@dataclass
class Model:
    """The model of one module: its file, and, while imported, its running generation and history."""

    kind: str
    version: int
    text: str
    present: bool = False
    generation: int = 0
    running: Running | None = None
    history: list[Running] = field(default_factory=list)
    proxy: object = None
    held: set[str] = field(default_factory=set)  # texts a rollback moved away from


@dataclass
class Publish:
    """One accepted reload, as a rollback undoes it: the generation each member replaced (None: no longer kept)."""

    replaced: dict[int, Running | None]
    imports: set[int]


class ReloadMachine(RuleBasedStateMachine):
    sandbox: Sandbox | None = None  # the test running the machine; gives the temporary root
    examples = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        # A fresh directory and module prefix per example, and the interpreter state to put back.
        number = next(self.examples)
        self.directory = os.path.join(self.sandbox.root, f"example{number}")
        os.makedirs(self.directory)
        self.prefix = f"mdl_{number}_"
        self.names = [f"{self.prefix}m{i}" for i in range(COUNT)]
        self.saved = SavedInterpreter(self.directory)
        sys.path.insert(0, self.directory)
        self.versions = itertools.count(1)
        self.depth = 1
        self.models: list[Model] = []
        self.published: list[Publish] = []

    def teardown(self) -> None:
        self.saved.restore()

    # -- files -----------------------------------------------------------------------

    def source(self, index: int, kind: str, version: int) -> str:
        if index == 0:
            text = f"VERSION = {version}\nDERIVED = ({version},)\n"
        else:
            dependency = self.names[index - 1]
            text = f"import {dependency}\nVERSION = {version}\nDERIVED = {dependency}.DERIVED + ({version},)\n"
        if kind == "syntax":
            text += "BROKEN = (\n"
        elif kind == "raise":
            text += f"raise RuntimeError('version {version} refuses to load')\n"
        return text

    def write(self, index: int, kind: str) -> None:
        version = next(self.versions)
        text = self.source(index, kind, version)
        with open(os.path.join(self.directory, self.names[index] + ".py"), "w", encoding="utf-8") as stream:
            stream.write(text)
        importlib.invalidate_caches()
        if self.models[index:index + 1]:
            self.models[index].kind, self.models[index].version, self.models[index].text = kind, version, text
        else:
            self.models.append(Model(kind, version, text))

    def executed(self, index: int) -> Running:
        """What module ``index`` computes when it executes now (its dependency's running state)."""
        model = self.models[index]
        prefix = self.models[index - 1].running.derived if index else ()
        return Running(model.version, prefix + (model.version,), model.text)

    def import_missing(self) -> None:
        """Import the top module; model the first imports that happen on the way down."""
        fresh: list[int] = []

        def first_import(index: int) -> bool:
            # Mirrors a first import of module ``index``: compile, import its dependency, run the rest.
            model = self.models[index]
            if model.present:
                return True
            if model.kind == "syntax":
                return False
            if index and not first_import(index - 1):
                return False
            if model.kind == "raise":
                return False
            model.present, model.generation, model.history = True, 1, []
            model.running = self.executed(index)
            fresh.append(index)
            return True

        expected = first_import(COUNT - 1)
        try:
            importlib.import_module(self.names[-1])
        except (SyntaxError, RuntimeError):
            assert not expected, "a valid first import failed"
        else:
            assert expected, "a broken module was imported"
        for index in fresh:
            proxy = sys.modules[self.names[index]]
            assert all(proxy is not m.proxy for m in self.models), "a fresh import reused a proxy"
            self.models[index].proxy = proxy

    # -- rules -----------------------------------------------------------------------

    @initialize(depth=st.integers(min_value=0, max_value=2))
    def start(self, depth: int) -> None:
        self.depth = depth
        vi.install(roots=[self.directory], rollback_depth=depth)
        for index in range(COUNT):
            self.write(index, "valid")
        self.import_missing()

    @rule(index=st.integers(0, COUNT - 1), kind=st.sampled_from(KINDS))
    def edit(self, index: int, kind: str) -> None:
        self.write(index, kind)

    @rule(index=st.integers(0, COUNT - 1))
    def edit_and_reload(self, index: int) -> None:
        # The everyday step (a fixed file, then a reload), so that histories grow and rollbacks succeed.
        self.write(index, "valid")
        self.reload(index)

    @rule(index=st.integers(0, COUNT - 1))
    def reload(self, index: int) -> None:
        name = self.names[index]
        if not self.models[index].present:
            with raises(vi.NotVersionedError):
                vi.reload(name)
            return
        members = [i for i in range(index, COUNT) if self.models[i].present]
        broken = [i for i in members if self.models[i].kind != "valid"]
        if broken:
            try:
                vi.reload(name)
            except vi.ReloadError as exc:
                assert exc.module in {self.names[i] for i in broken}, (exc.module, broken)
                assert isinstance(exc.__cause__, (SyntaxError, RuntimeError)), repr(exc.__cause__)
                return  # the invariants check that nothing changed
            raise AssertionError(f"reload of {name} published although {[self.names[i] for i in broken]} is broken")
        report = vi.reload(name)
        replaced = {}
        for index_ in members:
            model = self.models[index_]
            replaced[index_] = model.running
            model.history.append(model.running)
            del model.history[:max(0, len(model.history) - self.depth)]
            model.running = self.executed(index_)
            model.generation += 1
            model.held = set()
        self.published.append(Publish(replaced, {i - 1 for i in members if i}))
        self.prune()
        assert report.reloaded == tuple(self.names[i] for i in members), report.reloaded
        assert report.generations == {self.names[i]: self.models[i].generation for i in members}, report.generations

    def prune(self) -> None:
        """What the library forgets: replaced generations out of the history, publishes with nothing left."""
        self.published = forget_unkept(self.published, lambda index: self.models[index].history)

    @rule(index=st.integers(0, COUNT - 1))
    def rollback(self, index: int) -> None:
        name, model = self.names[index], self.models[index]
        starts = [i for i, entry in enumerate(self.published) if index in entry.replaced]
        if not model.present or not starts:
            with raises(vi.ReloadError):
                vi.rollback(name)
            return
        undone = [self.published[starts[-1]]]
        members = set(undone[0].replaced)
        for entry in self.published[starts[-1] + 1:]:
            if members & (set(entry.replaced) | entry.imports):
                undone.append(entry)
                members |= set(entry.replaced)
        targets: dict[int, Running | None] = {}
        for entry in reversed(undone):
            targets.update(entry.replaced)
        if any(before is None for before in targets.values()):
            with raises(vi.ReloadError):
                vi.rollback(name)
            return
        reports: list = []
        unsubscribe = vi.on_reload(reports.append)
        try:
            number = vi.rollback(name)
        finally:
            unsubscribe()
        for index_ in sorted(targets):
            model_, target = self.models[index_], targets[index_]
            away = [model_.running]
            while model_.history and model_.history[-1] is not target:
                away.append(model_.history.pop())
            model_.history.pop()
            model_.held |= {r.text for r in away} - {target.text}
            model_.running = target
            model_.generation += 1
        self.published = [e for e in self.published if not any(e is u for u in undone)]
        assert number == model.generation, (number, model.generation)
        (report,) = reports
        assert report.reloaded == tuple(self.names[i] for i in sorted(targets)), report.reloaded
        assert report.generations == {self.names[i]: self.models[i].generation for i in targets}

    @rule(index=st.integers(0, COUNT - 1))
    def unload_and_reimport(self, index: int) -> None:
        # Unload the module and every module that imports it (so no survivor holds a forgotten proxy),
        # then import the top again: the unloaded ones start over at generation 1.
        for later in reversed(range(index, COUNT)):
            model = self.models[later]
            if model.present:
                vi.unload(self.names[later])
                model.present, model.generation, model.running, model.history, model.proxy = False, 0, None, [], None
                model.held = set()
                for entry in self.published:
                    entry.replaced.pop(later, None)
        self.prune()
        self.import_missing()

    @precondition(lambda self: not all(m.present for m in self.models))
    @rule()
    def import_again(self) -> None:
        self.import_missing()

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def modules_match_the_model(self) -> None:
        if not self.models:
            return
        for name, model in zip(self.names, self.models):
            if not model.present:
                assert name not in sys.modules, name
                with raises(vi.NotVersionedError):
                    vi.generation(name)
                continue
            module = sys.modules[name]
            assert module is model.proxy, f"{name}: the proxy changed"
            assert vi.generation(name) == model.generation, (name, vi.generation(name), model.generation)
            assert module.VERSION == model.running.version, (name, module.VERSION, model.running.version)
            assert module.DERIVED == model.running.derived, (name, module.DERIVED, model.running.derived)
            assert not hasattr(module, "BROKEN"), name

    @invariant()
    def changed_compares_content(self) -> None:
        if not self.models:
            return
        expected = {name for name, model in zip(self.names, self.models)
                    if model.present and model.text != model.running.text and model.text not in model.held}
        assert set(vi.changed()) == expected, (vi.changed(), expected)




class ModelTest(Sandbox):
    def test_reload_rollback_unload_follow_the_model(self):
        ReloadMachine.sandbox = self
        self.addCleanup(setattr, ReloadMachine, "sandbox", None)
        run_state_machine_as_test(ReloadMachine, settings=settings(
            max_examples=40, stateful_step_count=25, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))


if __name__ == "__main__":
    unittest.main()
