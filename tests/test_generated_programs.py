"""Generated programs: random modules, random edit/reload/rollback/unload sequences, checked against a model.

Hypothesis draws a small *program*: 2–4 modules ``gp_<n>_m<i>``, each
importing some of the modules before it (acyclic), each with constants,
functions, classes with methods (deriving from a class of the same module or
from the ``Base`` of a module it imports, so ``super()`` crosses modules),
module-level instances, and functions that call into the modules they import.
Every *version* of a module's file includes a random subset of those
definitions, and every definition embeds the version number, so any value read
from a module says which source it came from. An edit is sometimes a syntax
error or a ``raise`` at import, placed at a random point of the module.

A ``RuleBasedStateMachine`` then edits, reloads (one or two names, or
``reload_changed()``), rolls back, unloads and re-imports in any order. After
every step the real modules must match the model:

* never torn (G3, G4, G5): every definition a module exposes comes from the one
  version the model says is running, the names are exactly that version's
  (a name deleted from the source is gone), also seen from inside ``pinned()``;
* only documented exceptions (G13): ``ReloadError`` exactly when a member of
  the reload set is broken (``.module`` one of them, ``__cause__`` the
  original ``SyntaxError``/``RuntimeError``), ``NotVersionedError`` exactly for
  modules that are not imported; nothing else ever escapes;
* generation numbers (G9): as the model counts them, in ``generation()`` and in
  the reports; a reload with ``dependents="all"`` executes exactly its
  members, each once, in dependency order (G6); rollback and unload execute no module code;
* continuity (G7): functions, classes, instances and bound methods taken right
  after a module's first import behave as the published source for every
  definition that source has (including ``super()`` chains into other
  modules and methods that were added or removed); no report lists anything
  in ``.replaced`` (no generated edit makes continuity impossible);
* memory (G10): every execution of a module creates a sentinel (a weakly
  referenced object from ``gp_log``, a module outside the roots). After
  ``gc.collect()`` the live sentinels of a module are at most the current
  generation and its kept history (``rollback_depth``), plus the documented
  slack: the generations that objects the machine itself holds still run —
  the first generation (the ``__globals__`` of the functions taken from it)
  and, for a taken definition the published source no longer has, the last
  published generation that defined it. Refused, rolled-away and unloaded
  generations are gone, and so is a generation whose only remaining users
  are definitions that a later source dropped.

Set ``GP_STATS=1`` to print how many examples, steps and outcomes were run,
and ``GP_SHRINK=1`` to let hypothesis shrink a failure (off by default: a
failing run reports its whole step sequence at once instead of replaying
programs for minutes).
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import importlib
import itertools
import os
import sys
import types
import unittest
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

import versioned_import as vi
from tests.support import Sandbox, SavedInterpreter, forget_unkept, raises

LOG = "gp_log"
LOG_SOURCE = """\
import weakref

EXECUTED = []   # (module, version) of every execution of a generated module
LIVE = []       # (module, version, weakref to that execution's sentinel)


class Sentinel:
    def __init__(self, module, version):
        self.module = module
        self.version = version
        LIVE.append((module, version, weakref.ref(self)))
"""

METHODS = ("m_0", "m_1", "m_2")
KINDS = ("valid", "valid", "syntax", "raise")  # broken edits are common, but less so than valid ones
STATS: collections.Counter = collections.Counter()


# -- programs and versions --------------------------------------------------------------

@dataclass(frozen=True)
class ClassSkeleton:
    name: str
    base: tuple  # ("local", class name) or ("dep", module index): that module's Base
    methods: tuple[str, ...]


@dataclass(frozen=True)
class ModuleSkeleton:
    index: int
    deps: tuple[int, ...]
    constants: tuple[str, ...]
    functions: tuple[str, ...]
    classes: tuple[ClassSkeleton, ...]

    def klass(self, name: str) -> ClassSkeleton:
        return next(c for c in self.classes if c.name == name)


@st.composite
def programs(draw) -> tuple[ModuleSkeleton, ...]:
    count = draw(st.integers(2, 4))
    modules = []
    for index in range(count):
        deps = tuple(sorted(draw(st.sets(st.integers(0, index - 1), max_size=2)))) if index else ()
        classes = []
        for k in range(draw(st.integers(0, 3))):
            bases = [("local", "Base")] + [("local", f"K_{j}") for j in range(k)] + [("dep", d) for d in deps]
            classes.append(ClassSkeleton(f"K_{k}", draw(st.sampled_from(bases)),
                                         tuple(sorted(draw(st.sets(st.sampled_from(METHODS), min_size=1))))))
        modules.append(ModuleSkeleton(
            index, deps,
            tuple(f"C_{c}" for c in range(draw(st.integers(0, 2)))),
            tuple(f"f_{f}" for f in range(draw(st.integers(0, 2)))),
            tuple(classes)))
    return tuple(modules)


@dataclass(frozen=True)
class Version:
    """One version of a module's file: which definitions it has, and whether it is broken."""

    number: int
    kind: str  # "valid", "syntax" or "raise"
    constants: frozenset[str]
    functions: frozenset[str]
    classes: dict  # class name -> frozenset of its method names
    instances: frozenset[str]  # classes with a module-level instance INST_<class>
    break_at: int
    text: str = ""


def draw_version(data, skeleton: ModuleSkeleton, number: int, kind: str) -> Version:
    def subset(items):
        return frozenset(data.draw(st.sets(st.sampled_from(items)))) if items else frozenset()

    chosen = set(subset(tuple(c.name for c in skeleton.classes)))
    for klass in reversed(skeleton.classes):  # a class needs its same-module base
        if klass.name in chosen and klass.base[0] == "local" and klass.base[1] != "Base":
            chosen.add(klass.base[1])
    classes = {name: subset(skeleton.klass(name).methods) for name in sorted(chosen)}
    return Version(number, kind, subset(skeleton.constants), subset(skeleton.functions), classes,
                   subset(tuple(sorted(chosen))), data.draw(st.integers(0, 1000)))


def render(name: str, names: list[str], skeleton: ModuleSkeleton, version: Version) -> str:
    v = version.number
    head = [f"import {LOG}"] + [f"import {names[d]}" for d in skeleton.deps] + [
        f"{LOG}.EXECUTED.append(({name!r}, {v}))",
        f"SENTINEL = {LOG}.Sentinel({name!r}, {v})",
        f"VERSION = {v}",
    ]
    blocks = [f"def ident():\n    return ({name!r}, {v}, 'ident')\n"]
    blocks += [f"def dep_{d}():\n    return {names[d]}.ident()\n" for d in skeleton.deps]
    blocks += [f"{c} = ({name!r}, {v}, {c!r})\n" for c in sorted(version.constants)]
    blocks += [f"def {f}():\n    return ({name!r}, {v}, {f!r})\n" for f in sorted(version.functions)]
    blocks.append(f"class Base:\n    TAG = ({name!r}, {v}, 'Base')\n\n"
                  f"    def describe(self):\n        return (({name!r}, {v}, 'Base'),)\n\n"
                  f"    def base_m(self):\n        return ({name!r}, {v}, 'Base.base_m')\n")
    for klass in skeleton.classes:
        if klass.name not in version.classes:
            continue
        base = klass.base[1] if klass.base[0] == "local" else f"{names[klass.base[1]]}.Base"
        body = [f"class {klass.name}({base}):", f"    TAG = ({name!r}, {v}, {klass.name!r})", "",
                "    def describe(self):",
                f"        return (({name!r}, {v}, {klass.name!r}),) + super().describe()"]
        for method in sorted(version.classes[klass.name]):
            body += ["", f"    def {method}(self):", f"        return ({name!r}, {v}, '{klass.name}.{method}')"]
        blocks.append("\n".join(body) + "\n")
    blocks += [f"INST_{c} = {c}()\n" for c in sorted(version.instances)]
    if version.kind == "syntax":
        blocks.insert(version.break_at % (len(blocks) + 1), "def broken(:\n    pass\n")
    elif version.kind == "raise":
        blocks.insert(version.break_at % (len(blocks) + 1), f"raise RuntimeError('{name} version {v} refuses')\n")
    return "\n".join(head) + "\n\n" + "\n\n".join(blocks)


def forget_hypothesis_module_cache() -> None:
    """Drop hypothesis's references to module objects before counting live generations.

    Recent hypothesis versions collect constants from every local module in ``sys.modules`` through
    ``constants_from_module``, an ``lru_cache`` keyed by the module object: it keeps unloaded proxies
    (and so their last namespace) alive. That is the test tool holding them, not versioned_import.
    """
    try:
        from hypothesis.internal import constants_ast
    except ImportError:
        return
    cached = getattr(constants_ast, "constants_from_module", None)
    if hasattr(cached, "cache_clear"):
        cached.cache_clear()


# -- the model ------------------------------------------------------------------------------

@dataclass
class ModuleModel:
    file: Version
    present: bool = False
    generation: int = 0
    running: Version | None = None
    token: int = 0  # which execution of the file is running (two executions of one version differ)
    history: list[tuple[Version, int]] = field(default_factory=list)
    proxy: object = None
    taken: list[tuple] = field(default_factory=list)  # (kind, name, object) taken after the first import
    taken_token: int | None = None
    # name -> token of the last published generation that defined it: what a function or class taken
    # earlier still runs when the published source no longer has it.
    last_defined: dict[str, int] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)  # texts a rollback moved away from (not changes)


@dataclass
class Publish:
    """One accepted reload, as a rollback undoes it: each member's replaced (version, token), None once not kept."""

    replaced: dict[int, tuple[Version, int] | None]
    imports: set[int]



class ProgramMachine(RuleBasedStateMachine):
    sandbox: Sandbox | None = None
    examples = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        number = next(self.examples)
        STATS["examples"] += 1
        self.directory = os.path.join(self.sandbox.root, f"example{number}")
        os.makedirs(self.directory)
        self.prefix = f"gp_{number}_"
        self.saved = SavedInterpreter(self.directory)
        sys.path.insert(0, self.directory)
        self.log = sys.modules[LOG]
        self.log.EXECUTED.clear()
        self.log.LIVE.clear()
        self.versions = itertools.count(1)
        self.tokens = itertools.count(1)
        self.token_versions: dict[int, int] = {}
        self.skeletons: tuple[ModuleSkeleton, ...] = ()
        self.names: list[str] = []
        self.models: list[ModuleModel] = []
        self.depth = 1
        self.reports: list[tuple] = []
        self.published: list[Publish] = []
        self.unsubscribe = None

    def teardown(self) -> None:
        try:
            if self.models:
                self.check_memory()
        finally:
            for model in self.models:
                model.taken.clear()
            if self.unsubscribe is not None:
                self.unsubscribe()
            self.saved.restore()
            self.log.EXECUTED.clear()
            self.log.LIVE.clear()

    # -- files and first imports -----------------------------------------------------------

    def write(self, index: int, version: Version) -> Version:
        text = render(self.names[index], self.names, self.skeletons[index], version)
        version = dataclasses.replace(version, text=text)
        with open(os.path.join(self.directory, self.names[index] + ".py"), "w", encoding="utf-8") as stream:
            stream.write(text)
        importlib.invalidate_caches()
        if index < len(self.models):
            self.models[index].file = version
        else:
            self.models.append(ModuleModel(version))
        return version

    def import_missing(self) -> None:
        """Import every module not imported; model the first imports, as CPython runs them."""
        fresh: list[int] = []

        def first_import(index: int) -> bool:
            model = self.models[index]
            if model.present:
                return True
            if model.file.kind == "syntax":
                return False
            for dep in self.skeletons[index].deps:  # the imports come first in every version
                if not first_import(dep):
                    return False
            if model.file.kind == "raise":
                return False
            model.present, model.generation, model.history = True, 1, []
            self.publish(index, model.file)
            fresh.append(index)
            return True

        for index, name in enumerate(self.names):
            if self.models[index].present:
                continue
            expected = first_import(index)
            mark = len(self.log.EXECUTED)
            try:
                importlib.import_module(name)
            except (SyntaxError, RuntimeError):
                STATS["first imports refused"] += 1
                assert not expected, f"a valid first import of {name} failed"
            else:
                STATS["first imports"] += 1
                assert expected, f"{name} was imported although it is broken"
            executed = self.log.EXECUTED[mark:]
            assert len(executed) == len(set(executed)), f"a first import ran a module twice: {executed}"
        for index in fresh:
            model = self.models[index]
            proxy = sys.modules[self.names[index]]
            assert all(proxy is not m.proxy for m in self.models if m is not model), "a fresh import reused a proxy"
            model.proxy = proxy
            self.take(index)

    def take(self, index: int) -> None:
        """Hold functions, classes, instances and bound methods of a module's first generation."""
        model, proxy = self.models[index], self.models[index].proxy
        taken = [("function", "ident", proxy.ident)]
        taken += [("function", f"dep_{d}", getattr(proxy, f"dep_{d}")) for d in self.skeletons[index].deps]
        taken += [("function", f, getattr(proxy, f)) for f in sorted(model.running.functions)]
        for klass in ["Base", *sorted(model.running.classes)]:
            cls = getattr(proxy, klass)
            instance = cls()
            taken += [("class", klass, cls), ("instance", klass, instance), ("bound", klass, instance.describe)]
        model.taken = taken
        model.taken_token = model.token

    def publish(self, index: int, version: Version, token: int | None = None) -> None:
        """Model publishing ``version`` (a new execution unless ``token`` names an earlier one)."""
        model = self.models[index]
        if token is None:
            token = next(self.tokens)
            self.token_versions[token] = version.number
        model.running, model.token = version, token
        for name in self.defined(index, version):
            model.last_defined[name] = token

    # -- what the model expects ------------------------------------------------------------------

    def defined(self, index: int, version: Version) -> set[str]:
        names = {"SENTINEL", "VERSION", "ident", "Base", *version.constants, *version.functions, *version.classes}
        names |= {f"dep_{d}" for d in self.skeletons[index].deps}
        names |= {f"INST_{c}" for c in version.instances}
        return names

    def tag(self, index: int, what: str) -> tuple:
        return (self.names[index], self.models[index].running.number, what)

    def chain(self, index: int, klass: str) -> tuple:
        """What ``describe()`` of an instance of ``klass`` returns now: one entry per class of its MRO."""
        if klass == "Base":
            return (self.tag(index, "Base"),)
        kind, base = self.skeletons[index].klass(klass).base
        rest = self.chain(index, base) if kind == "local" else self.chain(base, "Base")
        return (self.tag(index, klass),) + rest

    def method(self, index: int, klass: str, method: str) -> tuple | None:
        """What ``instance.<method>()`` returns now, or None if no class of the MRO defines it."""
        if klass == "Base":
            return self.tag(index, "Base.base_m") if method == "base_m" else None
        if method in self.models[index].running.classes[klass]:
            return self.tag(index, f"{klass}.{method}")
        kind, base = self.skeletons[index].klass(klass).base
        return self.method(index, base, method) if kind == "local" else self.method(base, "Base", method)

    def function(self, index: int, name: str) -> tuple:
        if name.startswith("dep_"):
            return self.tag(int(name[4:]), "ident")
        return self.tag(index, name)

    def dependents(self, indices: set[int]) -> set[int]:
        members = set(indices)
        changed = True
        while changed:
            changed = False
            for index, skeleton in enumerate(self.skeletons):
                if index not in members and self.models[index].present and members & set(skeleton.deps):
                    members.add(index)
                    changed = True
        return members

    # -- rules -------------------------------------------------------------------------------

    @initialize(program=programs(), depth=st.integers(0, 2), data=st.data())
    def start(self, program, depth, data) -> None:
        self.skeletons = program
        self.names = [f"{self.prefix}m{i}" for i in range(len(program))]
        self.depth = depth
        vi.install(roots=[self.directory], rollback_depth=depth)
        self.unsubscribe = vi.on_reload(self.on_report)
        for index, skeleton in enumerate(program):
            self.write(index, draw_version(data, skeleton, next(self.versions), "valid"))
        self.import_missing()
        assert all(m.present for m in self.models)

    def on_report(self, report) -> None:
        # Only a summary: a refused report's error holds the refused generation through its traceback.
        self.reports.append((report.action, report.reloaded, dict(report.generations), report.ok,
                             tuple(map(str, report.replaced))))

    @rule(data=st.data())
    def edit(self, data) -> None:
        index = data.draw(st.integers(0, len(self.names) - 1), label="index")
        kind = data.draw(st.sampled_from(KINDS), label="kind")
        self.write(index, draw_version(data, self.skeletons[index], next(self.versions), kind))
        STATS[f"edits ({kind})"] += 1

    @rule(data=st.data())
    def edit_and_reload(self, data) -> None:
        index = data.draw(st.integers(0, len(self.names) - 1), label="index")
        self.write(index, draw_version(data, self.skeletons[index], next(self.versions), "valid"))
        STATS["edits (valid)"] += 1
        self.do_reload([index])

    @rule(data=st.data())
    def reload(self, data) -> None:
        indices = data.draw(st.lists(st.integers(0, len(self.names) - 1), min_size=1, max_size=2), label="indices")
        self.do_reload(indices)

    @rule()
    def reload_changed(self) -> None:
        changed = [i for i, m in enumerate(self.models)
                   if m.present and m.file.text != m.running.text and m.file.text not in m.held]
        self.do_reload(changed, via_changed=True)

    def do_reload(self, indices: list[int], via_changed: bool = False) -> None:
        names = [self.names[i] for i in indices]
        reports = len(self.reports)
        mark = len(self.log.EXECUTED)
        if not via_changed and not all(self.models[i].present for i in indices):
            with raises(vi.NotVersionedError):
                vi.reload(*names)
            STATS["reloads refused (not imported)"] += 1
            assert self.log.EXECUTED[mark:] == [], "a refused request executed module code"
            assert len(self.reports) == reports, "a request refused for its names was reported"
            return
        members = self.dependents(set(indices))
        broken = {i for i in members if self.models[i].file.kind != "valid"}
        try:
            # Every dependent (the model's reload set); which of them must re-run is test_dependents_used's.
            report = vi.reload_changed(dependents="all") if via_changed else vi.reload(*names, dependents="all")
        except vi.ReloadError as exc:
            assert not isinstance(exc, vi.NotVersionedError), f"refused as not versioned: {exc}"
            assert broken, f"reload of {names} refused although every member is valid: {exc}"
            assert exc.module in {self.names[i] for i in broken}, (exc.module, broken)
            assert exc.path == os.path.join(self.directory, exc.module + ".py"), exc.path
            assert isinstance(exc.__cause__, (SyntaxError, RuntimeError)), repr(exc.__cause__)
            refused = True
        else:
            refused = False
        executed = self.log.EXECUTED[mark:]
        expected_runs = {(self.names[i], self.models[i].file.number) for i in members}
        assert len(executed) == len(set(executed)), f"a module was executed twice in one reload: {executed}"
        if refused:
            STATS["reloads refused (broken)"] += 1
            assert set(executed) <= expected_runs, (executed, expected_runs)
            assert self.reports[reports:] == [("reload", (), {}, False, ())], self.reports[reports:]
            return  # the invariants check that nothing changed
        assert not broken, f"reload of {names} published although {[self.names[i] for i in broken]} are broken"
        if not members:
            assert report.reloaded == () and report.generations == {}, report
            assert executed == []
            STATS["reloads with nothing to do"] += 1
            return
        STATS["reloads published"] += 1
        STATS["modules executed by reloads"] += len(members)
        assert set(executed) == expected_runs, (executed, expected_runs)
        replaced = {}
        for index in members:
            model = self.models[index]
            replaced[index] = (model.running, model.token)
            model.history.append(replaced[index])
            del model.history[:max(0, len(model.history) - self.depth)]
            self.publish(index, model.file)
            model.generation += 1
            model.held = set()
        self.published.append(Publish(replaced, {d for i in members for d in self.skeletons[i].deps}))
        self.prune()
        assert set(report.reloaded) == {self.names[i] for i in members}, (report.reloaded, members)
        assert len(report.reloaded) == len(members), report.reloaded
        position = {name: n for n, name in enumerate(report.reloaded)}
        for index in members:  # dependency order: every member after the members it imports
            for dep in self.skeletons[index].deps:
                if dep in members:
                    assert position[self.names[dep]] < position[self.names[index]], report.reloaded
        assert report.generations == {self.names[i]: self.models[i].generation for i in members}, report.generations
        assert report.replaced == (), f"continuity reported impossible for a generated edit: {report.replaced}"
        assert [r[:4] for r in self.reports[reports:]] == [("reload", report.reloaded, report.generations, True)]

    @rule(data=st.data())
    def edit_reload_and_roll_back(self, data) -> None:
        # Rollbacks need a history: this is the step that makes sure many examples have one.
        index = data.draw(st.integers(0, len(self.names) - 1), label="index")
        self.write(index, draw_version(data, self.skeletons[index], next(self.versions), "valid"))
        STATS["edits (valid)"] += 1
        self.do_reload([index])
        self.do_rollback(index)

    @rule(data=st.data())
    def rollback(self, data) -> None:
        self.do_rollback(data.draw(st.integers(0, len(self.names) - 1), label="index"))

    def prune(self) -> None:
        """What the library forgets: replaced generations out of the history, publishes with nothing left."""
        self.published = forget_unkept(self.published, lambda index: self.models[index].history)

    def undo(self, index: int) -> tuple[list[Publish], dict[int, tuple[Version, int] | None]]:
        """The reloads rollback(index) undoes (the last that published it, and those built on them), and the targets."""
        starts = [n for n, entry in enumerate(self.published) if index in entry.replaced]
        if not starts:
            return [], {}
        undone = [self.published[starts[-1]]]
        members = set(undone[0].replaced)
        for entry in self.published[starts[-1] + 1:]:
            if members & (set(entry.replaced) | entry.imports):
                undone.append(entry)
                members |= set(entry.replaced)
        targets: dict[int, tuple[Version, int] | None] = {}
        for entry in reversed(undone):
            targets.update(entry.replaced)
        return undone, targets

    def do_rollback(self, index: int) -> None:
        name, model = self.names[index], self.models[index]
        mark = len(self.log.EXECUTED)
        undone, targets = self.undo(index) if model.present else ([], {})
        if not model.present:
            with raises(vi.NotVersionedError):
                vi.rollback(name)
            STATS["rollbacks refused (not imported)"] += 1
        elif not undone or any(target is None for target in targets.values()):
            try:
                vi.rollback(name)
            except vi.NotVersionedError:
                raise AssertionError(f"rollback of the versioned module {name} refused as not versioned") from None
            except vi.ReloadError as exc:
                assert exc.module == name, exc.module
            else:
                raise AssertionError(f"rollback of {name} succeeded with no previous generation kept")
            STATS["rollbacks refused (no history)"] += 1
        else:
            reports = len(self.reports)
            number = vi.rollback(name)
            for index_, target in targets.items():
                model_ = self.models[index_]
                away = [model_.running]
                while model_.history and model_.history[-1] is not target:
                    away.append(model_.history.pop()[0])
                model_.history.pop()
                model_.held |= {version.text for version in away} - {target[0].text}
                self.publish(index_, *target)
                model_.generation += 1
            self.published = [e for e in self.published if not any(e is u for u in undone)]
            assert number == model.generation, (number, model.generation)
            ((action, reloaded, generations, ok, replaced),) = self.reports[reports:]
            assert (action, ok, replaced) == ("rollback", True, ()), self.reports[reports:]
            assert sorted(reloaded) == sorted(self.names[i] for i in targets), (reloaded, targets)
            assert generations == {self.names[i]: self.models[i].generation for i in targets}, generations
            STATS["rollbacks"] += 1
            STATS["modules rolled back"] += len(targets)
        assert self.log.EXECUTED[mark:] == [], f"rollback executed module code: {self.log.EXECUTED[mark:]}"

    @rule(data=st.data())
    def unload(self, data) -> None:
        # A module and everything that imports it (so no survivor holds a forgotten proxy).
        index = data.draw(st.integers(0, len(self.names) - 1), label="index")
        mark = len(self.log.EXECUTED)
        if not self.models[index].present:
            with raises(vi.NotVersionedError):
                vi.unload(self.names[index])
            STATS["unloads refused (not imported)"] += 1
            return
        for later in sorted(self.dependents({index}), reverse=True):
            vi.unload(self.names[later])
            model = self.models[later]
            model.present, model.generation, model.running, model.history, model.proxy = False, 0, None, [], None
            model.taken, model.taken_token, model.last_defined = [], None, {}
            model.held = set()
            for entry in self.published:
                entry.replaced.pop(later, None)
            assert self.names[later] not in sys.modules
            STATS["unloads"] += 1
        self.prune()
        assert self.log.EXECUTED[mark:] == [], "unload executed module code"

    @precondition(lambda self: self.models and not all(m.present for m in self.models))
    @rule()
    def import_again(self) -> None:
        self.import_missing()

    @rule()
    def memory(self) -> None:
        self.check_memory()

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def step_counted(self) -> None:
        STATS["steps"] += 1

    @invariant()
    def modules_are_whole_and_match_the_model(self) -> None:
        for pinned in (False, True):
            if pinned:
                with vi.pinned():
                    self.check_modules()
            else:
                self.check_modules()

    def check_modules(self) -> None:
        for index, (name, model) in enumerate(zip(self.names, self.models)):
            if not model.present:
                assert name not in sys.modules, name
                with raises(vi.NotVersionedError):
                    vi.generation(name)
                continue
            proxy = sys.modules[name]
            assert proxy is model.proxy, f"{name}: the proxy changed"
            assert vi.generation(name) == model.generation, (name, vi.generation(name), model.generation)
            version = model.running
            public = {k for k, v in vars(proxy).items()
                      if not k.startswith("__") and not isinstance(v, types.ModuleType)}
            assert public == self.defined(index, version), (name, sorted(public ^ self.defined(index, version)))
            assert proxy.VERSION == version.number, (name, proxy.VERSION, version.number)
            assert (proxy.SENTINEL.module, proxy.SENTINEL.version) == (name, version.number)
            for constant in version.constants:
                assert getattr(proxy, constant) == self.tag(index, constant), (name, constant)
            for function in ["ident", *version.functions, *(f"dep_{d}" for d in self.skeletons[index].deps)]:
                assert getattr(proxy, function)() == self.function(index, function), (name, function)
            for klass in ["Base", *version.classes]:
                cls = getattr(proxy, klass)
                assert cls.TAG == self.tag(index, klass), (name, klass, cls.TAG)
                assert cls().describe() == self.chain(index, klass), (name, klass, cls().describe())
            for klass in version.instances:
                instance = getattr(proxy, f"INST_{klass}")
                assert type(instance) is getattr(proxy, klass), (name, klass, "module-level instance's class")
                assert instance.describe() == self.chain(index, klass), (name, klass, instance.describe())

    @invariant()
    def taken_objects_follow_the_published_source(self) -> None:
        for index, model in enumerate(self.models):
            if not model.present:
                continue
            version, proxy = model.running, model.proxy
            defined = self.defined(index, version)
            for kind, name, obj in model.taken:
                if name not in defined:
                    continue  # not in the published source: nothing to follow
                where = f"{self.names[index]}.{name} ({kind} taken at version {self.token_versions[model.taken_token]})"
                if kind == "function":
                    assert obj() == self.function(index, name), (where, obj())
                elif kind == "class":
                    assert obj is getattr(proxy, name), f"{where}: the class lost its identity"
                    assert obj.TAG == self.tag(index, name), (where, obj.TAG)
                elif kind == "instance":
                    assert isinstance(obj, getattr(proxy, name)), f"{where}: isinstance fails"
                    assert obj.describe() == self.chain(index, name), (where, obj.describe())
                    for method in (*METHODS, "base_m"):
                        expected = self.method(index, name, method)
                        if expected is None:
                            assert not hasattr(obj, method), f"{where}: removed method {method} still there"
                        else:
                            assert getattr(obj, method)() == expected, (where, method, getattr(obj, method)())
                elif kind == "bound":
                    assert obj() == self.chain(index, name), (where, obj())

    @invariant()
    def changed_compares_content(self) -> None:
        expected = {n for n, m in zip(self.names, self.models)
                    if m.present and m.file.text != m.running.text and m.file.text not in m.held}
        assert set(vi.changed()) == expected, (vi.changed(), expected)

    def check_memory(self) -> None:
        STATS["memory checks"] += 1
        forget_hypothesis_module_cache()
        for _ in range(10):  # forwarders release dead generations one link per pass
            if gc.collect() == 0:
                break
        live = collections.defaultdict(list)
        for module, version, reference in self.log.LIVE:
            if reference() is not None:
                live[module].append(version)
        self.log.LIVE[:] = [entry for entry in self.log.LIVE if entry[2]() is not None]
        for index, (name, model) in enumerate(zip(self.names, self.models)):
            versions = live.pop(name, [])
            if not model.present:
                assert versions == [], f"{name} is unloaded but generations of versions {versions} are alive"
                continue
            # The generations the model says may be alive: the current one, the kept history, and (the
            # slack) the ones objects the machine holds still run: the first generation, and for a
            # taken definition the published source no longer has, the last generation that defined it.
            allowed = {model.token, *(token for _, token in model.history)}
            if model.taken:
                allowed.add(model.taken_token)
                defined = self.defined(index, model.running)
                allowed |= {model.last_defined[name] for _, name, _ in model.taken if name not in defined}
            assert len(model.history) <= self.depth
            # Bounded by what the machine holds: after edits that replace or drop a taken definition
            # and rollbacks across them, each stale object the machine took may keep the last
            # generation it forwards to, which the model does not always attribute exactly (see the
            # closing note of the reliability issue). A leak grows past this bound within a few steps:
            # the bound does not grow with the number of reloads.
            limit = len(allowed) + 1 + len(model.taken)
            assert len(versions) <= limit, \
                f"{name}: {len(versions)} live generations (versions {sorted(versions)}), at most {limit} " \
                f"expected (versions {sorted(self.token_versions[t] for t in allowed)} plus one per taken object; " \
                f"rollback depth {self.depth})"
            STATS["max live generations per module"] = max(STATS["max live generations per module"], len(versions))
        assert not live, f"generations of unknown modules alive: {dict(live)}"


class GeneratedProgramsTest(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.write(f"{LOG}.py", LOG_SOURCE)
        self.log = importlib.import_module(LOG)

    def test_a_definition_dropped_by_a_later_source_keeps_no_generation_alive(self):
        # The smallest program the machine's memory check fails on: each version defines a function (or a
        # class) under a new name, so every generation defines something the next one drops. Nobody holds
        # any of them, yet every generation stays alive while the module is loaded (G10).
        log = self.log
        self.install(rollback_depth=1)
        for kind in ("def handler_{v}():\n    return {v}\n",
                     "class Handler_{v}:\n    def run(self):\n        return {v}\n"):
            with self.subTest(kind=kind.split()[0]):
                name = f"gp_dropped_{kind.split()[0]}"

                def write(v):
                    self.write(f"{name}.py", f"import {LOG}\nSENTINEL = {LOG}.Sentinel({name!r}, {v})\n"
                               + kind.format(v=v))

                write(1)
                importlib.import_module(name)
                for v in range(2, 7):
                    write(v)
                    vi.reload(name)
                forget_hypothesis_module_cache()
                for _ in range(10):
                    if gc.collect() == 0:
                        break
                live = sorted(v for m, v, r in log.LIVE if m == name and r() is not None)
                # Current generation (6) and one kept for rollback (5).
                self.assertEqual(live, [5, 6], f"generations of versions {live} are alive")

    def test_generated_programs_follow_the_model(self):
        ProgramMachine.sandbox = self
        self.addCleanup(setattr, ProgramMachine, "sandbox", None)
        STATS.clear()
        # No shrinking unless asked for (GP_SHRINK=1): a failure is reported at once with its whole
        # step sequence, instead of after minutes of replaying programs that each reload many times.
        phases = list(Phase) if os.environ.get("GP_SHRINK") else [p for p in Phase if p is not Phase.shrink]
        run_state_machine_as_test(ProgramMachine, settings=settings(
            max_examples=30, stateful_step_count=20, deadline=None, phases=phases,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                   HealthCheck.filter_too_much, HealthCheck.data_too_large]))
        if os.environ.get("GP_STATS"):
            print("\n" + ", ".join(f"{key}: {value}" for key, value in sorted(STATS.items())), file=sys.stderr)
        self.assertGreater(STATS["reloads published"], 0)


if __name__ == "__main__":
    unittest.main()
