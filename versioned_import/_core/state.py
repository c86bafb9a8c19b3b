"""The one state object: versioned modules, their generations, and who sees which.

Everything versioned_import knows lives in one ``State``; ``state`` below is
the process's, and tests build fresh ones. Two locks, each with one job:

* ``lock`` guards the records, the graph and the published world. It is only
  ever held briefly and never while user code runs, so a first import on one
  thread can always register itself while another thread is reloading.
* ``reload_lock`` serialises transactions (reload, rollback, unload); it *is*
  held while the new generations execute.
"""

from __future__ import annotations

import collections
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from .effects import GenerationEffects, Kept
from .graph import DependencyGraph
from .proxy import World, own_class, set_view_class
from .scope import Scope
from .source import Source

if TYPE_CHECKING:
    from .._report import ReloadReport

__all__ = ["Generation", "ModuleRecord", "Published", "ReportSink", "Settler", "StageHook", "StageRefusal", "State",
           "state"]


class ReportSink(Protocol):
    """Told of every report: a publish, a rollback or a refusal (``_runtime`` registers the log line and the caches)."""

    def __call__(self, report: ReloadReport, /) -> None: ...


class Settler(Protocol):
    """What continuity does when a module's views settle (``_continuity.functions.Lineages``)."""

    def settle(self, state: State, record: ModuleRecord) -> None: ...


class StageHook(Protocol):
    """A layer above taking part in every reload's transaction (``_integrations.serve`` builds app objects).

    ``stage(generations)`` runs on the reloading thread, inside the staging
    view, once the new generations executed and their ``__reload__`` hooks
    ran; ``generations`` (``id(proxy)`` -> generation) is what the published
    world will hold. Raising ``StageRefusal`` refuses the reload, as module
    code raising would. ``abandoned()`` follows a ``stage`` whose transaction
    did not publish (refused, abandoned, interrupted).
    """

    def stage(self, generations: Mapping[int, Generation], /) -> None: ...

    def abandoned(self) -> None: ...


class StageRefusal(Exception):
    """Raised by a ``StageHook`` to refuse the reload: the module and file to name, what to do; ``__cause__`` is why."""

    def __init__(self, module: str, path: str | None, remedy: str) -> None:
        super().__init__(module, path, remedy)
        self.module = module
        self.path = path
        self.remedy = remedy


@dataclass(eq=False)
class Generation:
    """One execution of a module's source in a fresh namespace.

    ``number`` is reassigned when a rollback republishes the generation.
    ``continuity`` is the plan ``_continuity`` made when it executed: which
    classes and functions it defines, so that publishing it (again) can carry
    objects taken earlier over to it.
    """

    number: int
    namespace: dict[str, Any]
    source: Source | None
    code: CodeType | None = None
    imports: frozenset[str] = frozenset()
    continuity: Any = None
    # The class its code gave the module (``sys.modules[__name__].__class__ = Sub``), kept across publishes.
    module_class: type = ModuleType
    # What its code registered in process-wide state, and what it asked of ``hot`` (G17).
    effects: GenerationEffects = field(default_factory=GenerationEffects)
    # What its code uses, read from the bytecode when a reload first asks (``_reload.uses``).
    uses: Any = None
    # The functions its import-time code called, when a reload executed it and could watch (``_reload.rerun``).
    called: Any = None

    def __repr__(self) -> str:
        return f"<generation {self.number} of {self.namespace.get('__name__')!r}>"


@dataclass(eq=False)
class ModuleRecord:
    """Everything known about one versioned module; its proxy never changes."""

    name: str
    proxy: ModuleType
    spec: ModuleSpec
    path: str
    current: Generation | None = None
    history: collections.deque[Generation] = field(default_factory=collections.deque)
    counter: int = 0
    # The stat key and racy flag of the last time the file's bytes were seen to
    # equal the current generation's (G8: stat is the pre-check, bytes the truth).
    seen_stat: tuple[int, int, int, int] | None = None
    seen_racy: bool = True
    # Across generations (G17): ``hot.data``, and the resources ``hot.keep`` made, by key.
    data: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, Kept] = field(default_factory=dict)
    # Digests of the sources a rollback moved this module away from (G9): a file holding
    # one of them is not a change, until a reload publishes the module again.
    held: frozenset[bytes] = frozenset()

    @property
    def generation(self) -> int:
        return self.current.number if self.current is not None else 0


@dataclass(eq=False)
class Published:
    """One reload's publish, as rollback undoes it (G9): each module it published, with the generation it replaced.

    ``imports`` are the modules the published generations imported: a later
    reload built on a module that a rollback takes back must go back too.
    A replaced generation that is no longer kept (``rollback_depth``) is None:
    the publish can no longer be undone past that module.
    """

    replaced: list[tuple[ModuleRecord, Generation | None]]
    imports: frozenset[str]

    def names(self) -> set[str]:
        return {record.name for record, _ in self.replaced}


class State:
    """All of versioned_import's process state."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything (tests call this after ``uninstall()``)."""
        self.lock = threading.RLock()
        self.reload_lock = threading.RLock()
        self.records: dict[str, ModuleRecord] = {}
        self.by_proxy: dict[int, ModuleRecord] = {}
        # Records whose module was imported again under its name (see ``displace``), by id(proxy): held
        # weakly, each kept alive by its own module for as long as that lives.
        self.displaced: weakref.WeakValueDictionary[int, ModuleRecord] = weakref.WeakValueDictionary()
        # Counts every change of which files the records are: the watcher watches their directories anew.
        self.layout = 0
        self.graph = DependencyGraph()
        self.world = World({})
        self.pinned_stale: set[World] = set()
        self.staging: set[int] = set()
        # Proxies of a transaction from its staging to its publish: their
        # functions' plan is being made, so nothing may settle them meanwhile.
        self.publishing: set[int] = set()
        self.detached: list[ModuleRecord] = []  # unloaded while a pinned reader still views them
        self.scope: Scope | None = None
        self.finder: Any = None
        self.rollback_depth = 1
        # The reloads published, oldest first, as far back as rollback can undo them (see ``Published``).
        self.published: list[Published] = []
        self.subscribers: list[Any] = []
        self.watcher: Any = None
        self.control: Any = None  # the control channel's server (_control), when install(control=True)
        self.reload_signal: Any = None  # the signal reloader (_signals), when install(reload_signal=...)
        self.lineages: Settler | None = None  # the continuity registry, created by _continuity on first use
        # Sinks the layers above register at install() (lower layers never import them):
        # told before the subscribers (framework caches), after them (the log line), and when a
        # reader pinned to an older world finishes (a framework cache it may have refilled).
        self.before_subscribers: list[ReportSink] = []
        self.after_subscribers: list[ReportSink] = []
        self.stale_reader_done: list[Callable[[], None]] = []
        # Take part in every reload, between its staging and its publish (app factories: G15).
        self.stage_hooks: list[StageHook] = []
        self.reloading_thread: int | None = None
        # Reloads whose search for holders of new classes had to see the whole heap (see _referrers).
        self.heap_searches = 0
        # The referrer scope of the transaction in progress: it paused the collector (see _fork).
        self.paused_scope: Any = None

    # -- records -------------------------------------------------------------------

    def record_for(self, module_or_name: object) -> ModuleRecord | None:
        """Return the record of a proxy (a displaced one included) or dotted name, or None."""
        if isinstance(module_or_name, str):
            return self.records.get(module_or_name)
        record = self.by_proxy.get(id(module_or_name)) or self.displaced.get(id(module_or_name))
        if record is not None and record.proxy is module_or_name:
            return record
        return None

    def add_record(self, record: ModuleRecord) -> None:
        with self.lock:
            previous = self.records.get(record.name)
            if previous is not None and previous.proxy is not record.proxy:
                self.displace(previous)
            self.records[record.name] = record
            self.by_proxy[id(record.proxy)] = record
            self.graph.add_module(record.name)
            self.layout += 1

    def move_record(self, record: ModuleRecord, spec: ModuleSpec) -> None:
        """Make ``spec`` where ``record``'s module lives (it became a package, or the reverse)."""
        with self.lock:
            record.spec, record.path = spec, spec.origin  # type: ignore[assignment]  # a versioned spec has a file
            self.layout += 1

    def remove_record(self, record: ModuleRecord) -> None:
        with self.lock:
            if self.records.get(record.name) is record:
                del self.records[record.name]
            if self.by_proxy.get(id(record.proxy)) is record:
                del self.by_proxy[id(record.proxy)]
            self.graph.forget(record.name)
            for entry in self.published:
                entry.replaced = [(r, g) for r, g in entry.replaced if r is not record]
            self.prune_published()
            self._set_world_entry(record, None)
            self.layout += 1

    # -- a name imported again: the module the program uses ------------------------

    def displace(self, record: ModuleRecord) -> None:
        """Set ``record`` aside: its module was taken out of ``sys.modules`` and the name imported again.

        A program (or a test isolating itself) may put it back: ``follow_sys_modules``
        then makes it its name's record again. Meanwhile the library holds it
        weakly; its own module's spec keeps it alive, so it lives exactly as
        long as something uses that module.
        """
        with self.lock:
            if self.records.get(record.name) is record:
                del self.records[record.name]
            if self.by_proxy.get(id(record.proxy)) is record:
                del self.by_proxy[id(record.proxy)]
            record.spec.__dict__[_KEPT_BY_ITS_MODULE] = record
            self.displaced[id(record.proxy)] = record
            self._set_world_entry(record, None)
            self.layout += 1

    def follow_sys_modules(self) -> None:
        """Make every name's record the one whose module ``sys.modules`` holds (a module put back after a re-import).

        Each transaction, change scan and name lookup starts here, so a
        reload always acts on the module the program uses.
        """
        if not self.displaced:
            return
        with self.lock:
            for record in list(self.displaced.values()):
                if sys.modules.get(record.name) is not record.proxy:
                    continue
                current = self.records.get(record.name)
                if current is not None:
                    self.displace(current)
                del self.displaced[id(record.proxy)]
                record.spec.__dict__.pop(_KEPT_BY_ITS_MODULE, None)
                self.records[record.name] = record
                self.by_proxy[id(record.proxy)] = record
                self.graph.replace_imports(record.name, record.current.imports if record.current else ())
                self._set_world_entry(record, record.current)
                self.layout += 1

    def forget_displaced(self, prefix: str) -> None:
        """Drop the displaced records of the module ``prefix`` and its submodules (an unload)."""
        with self.lock:
            for record in list(self.displaced.values()):
                if record.name == prefix or record.name.startswith(prefix + "."):
                    del self.displaced[id(record.proxy)]
                    record.spec.__dict__.pop(_KEPT_BY_ITS_MODULE, None)

    def _set_world_entry(self, record: ModuleRecord, generation: Generation | None) -> None:
        generations = dict(self.world.generations)
        if generation is None:
            generations.pop(id(record.proxy), None)
        else:
            generations[id(record.proxy)] = generation
        self.replace_world(World(generations))

    def set_history_depth(self, depth: int) -> None:
        with self.lock:
            self.rollback_depth = depth
            for record in self.records.values():
                while len(record.history) > depth:
                    record.history.popleft()
            self.prune_published()

    def prune_published(self) -> None:
        """Forget what rollback can no longer reach: generations out of the history, publishes with nothing left.

        The log never keeps a generation alive that the history let go (G10).
        """
        kept = []
        for entry in self.published:
            entry.replaced = [(record, generation if generation is not None and
                               any(g is generation for g in record.history) else None)
                              for record, generation in entry.replaced]
            if any(generation is not None for _, generation in entry.replaced):
                kept.append(entry)
        self.published = kept


    # -- worlds and views ----------------------------------------------------------

    def next_world(self, published: dict[int, Generation]) -> World:
        """Return the world after publishing ``published`` (id(proxy) -> generation)."""
        generations = dict(self.world.generations)
        generations.update(published)
        return World(generations)

    def replace_world(self, world: World) -> None:
        """Make ``world`` current outside a publish (an unload); caller holds ``lock``.

        Readers pinned to the old world keep it: it joins the stale worlds,
        so a later publish switches their modules to the view class.
        """
        if self.world.pins:
            self.pinned_stale.add(self.world)
        self.world = world

    def enter_pin(self) -> World:
        with self.lock:
            world = self.world
            world.pins += 1
            return world

    def exit_pin(self, world: World) -> None:
        with self.lock:
            world.pins -= 1
            stale = world is not self.world
            if world.pins == 0 and world in self.pinned_stale:
                self.pinned_stale.discard(world)
                self.refresh_views(list(self.records.values()) + self.detached)
                self.detached = [r for r in self.detached if self.needs_view(r)]
        if stale:
            # A reader of older code may have refilled a framework cache after the publish dropped it.
            self.notify_stale_reader_done()

    def notify_stale_reader_done(self) -> None:
        """Tell the sinks that a reader pinned to an older world finished (or will run on for long)."""
        for sink in self.stale_reader_done:
            sink()

    def needs_view(self, record: ModuleRecord, current: Generation | None = None) -> bool:
        """Whether some reader must see ``record`` through a view other than ``current`` (default: its published one)."""
        if id(record.proxy) in self.staging:
            return True
        current = record.current if current is None else current
        return any(w.generation(record.proxy) not in (None, current) for w in self.pinned_stale)

    def refresh_views(self, records: Any) -> None:
        """Switch each proxy to the view class exactly while some reader needs it.

        The functions of a module nobody views differently any more stop
        forwarding too (``Lineages.settle``).
        """
        with self.lock:
            for record in records:
                own: type = ModuleType
                if record.current is not None:
                    own = record.current.module_class = own_class(record.proxy, record.current.module_class)
                operation = set_view_class(record.proxy, self.needs_view(record), own)
                if operation is not None:
                    operation[0](*operation[1:])
                if self.lineages is not None and record.current is not None and \
                        id(record.proxy) not in self.publishing:
                    self.lineages.settle(self, record)



# The spec attribute through which a displaced record is kept alive by its own module (proxy, namespace, __spec__).
_KEPT_BY_ITS_MODULE = "_versioned_record"


state = State()
