"""Recording what a module's execution registers in process-wide state (G17).

Every execution of a versioned module (a first import, or a generation a
reload stages) runs inside a ``Recording``. Each known registry (an ``Entry``
of ``registries.ENTRIES``) takes part only when its library is imported and
the module's code names it (a ``marker``: a name its code, class bodies and
functions included, uses — ``addHandler``, ``atexit``, ``Counter`` — read
from the compiled code's ``co_names``, so that a module that registers
nothing pays one walk of its code objects). An entry either compares the registry before and after the execution,
or intercepts the registering call for the executing thread (``atexit``,
``signal.signal``, a metrics registry), and returns the ``Effect`` records the
generation keeps.

Executions nest (module code imports another versioned module): what an inner
execution recorded is claimed by it, and the outer one leaves it out.

During a reload, intercepting entries *defer*: the registering call is
recorded and answered as if it happened, and the publish applies it. A
refused reload therefore never touched those registries at all.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable, Hashable
from types import CodeType
from typing import Any, Protocol

from .._core.effects import Effect, GenerationEffects
from .._core.state import Generation, ModuleRecord

__all__ = ["Coordinated", "Entry", "Interception", "InterceptingEntry", "Recording", "Refusal", "code_names", "current",
           "executing"]


class Entry(Protocol):
    """A known registry of a library: how to see what a module's code registered in it."""

    @property
    def library(self) -> str:
        """The module that must already be imported for the entry to look (never imported by us); "" for none."""

    @property
    def markers(self) -> tuple[str, ...]:
        """Names the module's code must use (one of them), or the entry does not look at it."""

    def start(self, recording: Recording) -> object:
        """Before the code runs: take a snapshot, or start intercepting; return what ``finish`` needs."""

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        """After the code ran (or raised): return the effects it had, in order, claimed ones left out."""


class Coordinated(Protocol):
    """An entry whose registrations tie modules together, or that needs a step around the publish.

    A registry whose objects refer to one another across modules (a mapper's
    relationship to another module's class, a model's foreign key) cannot
    take a new definition of one side alone; and some libraries finish their
    registrations lazily (SQLAlchemy configures mappers at the first query),
    where a reload must finish them before it publishes, so that a broken
    mapping refuses the reload instead of failing later.
    """

    def related(self, records: dict[str, ModuleRecord], names: set[str]) -> set[str]:
        """Return the modules whose current registrations refer to those of ``names`` (or are referred to).

        A reload of ``names`` re-executes them too, as it does dependents.
        """

    def staged(self, recordings: list[Recording]) -> None:
        """Every new generation executed, nothing published yet: finish or check; raise ``Refusal`` to refuse."""

    def publishing(self, recordings: list[Recording], unfreeze: Callable[[], None]) -> tuple[
            list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Return operations to apply in the publish's one atomic pass, and their undos (same length).

        Each is ``(C function, *arguments)``, as continuity's are: objects held
        from before the reload (instances of continued classes) move to the new
        definitions in the same step as the classes, so that no other thread
        sees an old instance next to a new mapper. ``unfreeze()`` lets a search
        of referrers see the whole heap (the reload froze what existed before it).
        """

    def settled(self, records: list[ModuleRecord]) -> None:
        """``records`` have published generations (a reload or a rollback), the collector runs again.

        For objects held from before the publish (instances of continued
        classes) that must be brought to the published definitions. Failures
        are logged, not raised: the publish happened.
        """


class Refusal(Exception):
    """An entry refuses the reload before anything is published: ``error`` in module ``module``, and what to do."""

    def __init__(self, module: str, error: BaseException, remedy: str) -> None:
        super().__init__(module, error, remedy)
        self.module = module
        self.error = error
        self.remedy = remedy


class Recording:
    """One execution of one generation of a module, and what it registered."""

    def __init__(self, record: ModuleRecord, generation: Generation, previous: Generation | None,
                 reloading: bool, names: frozenset[str], entries: list[Entry]) -> None:
        self.record = record
        self.generation = generation
        self.previous = previous
        # True inside a reload's transaction: intercepting entries defer to the publish.
        self.reloading = reloading
        self.parent: Recording | None = current.get()
        # Keys of effects inner executions recorded: theirs, not this one's.
        self.claimed: set[Hashable] = set()
        self._entries = [entry for entry in entries
                         if (not entry.library or entry.library in sys.modules
                             or entry.library.partition(".")[0] in names)  # the module imports it now
                         and not names.isdisjoint(entry.markers)]
        self._started: list[tuple[Entry, object]] = []
        # The previous generation's effects taken out before this execution (``lifecycle.begin``).
        self.retracted: list[Effect] = []
        # Registering calls intercepted in this execution (see ``Interception``), in order.
        self.intercepted: list[Effect] = []
        # id(new object) -> (new object, the previous generation's object it is bound as instead).
        self.adopted: dict[int, tuple[Any, Any]] = {}
        self._token: contextvars.Token[Recording | None] | None = None

    @property
    def effects(self) -> GenerationEffects:
        return self.generation.effects

    def start(self) -> Recording:
        """Start every entry; if one raises (``Refusal``), the ones already started are stopped again."""
        self._token = current.set(self)
        try:
            for entry in self._entries:
                self._started.append((entry, entry.start(self)))
        except BaseException:
            try:
                for entry, started in reversed(self._started):
                    entry.finish(self, started)
            finally:
                self._started.clear()
                current.reset(self._token)
                self._token = None
            raise
        return self

    def finish(self) -> list[Effect]:
        """Stop recording; return the effects (also kept on the generation)."""
        found: list[Effect] = list(self.intercepted)
        try:
            for entry, started in reversed(self._started):
                found.extend(effect for effect in entry.finish(self, started) if effect.key not in self.claimed)
        finally:
            if self._token is not None:
                current.reset(self._token)
                self._token = None
        self.generation.effects.effects.extend(found)
        keys = {effect.key for effect in found} | self.claimed
        ancestor = self.parent
        while ancestor is not None:
            ancestor.claimed.update(keys)
            ancestor = ancestor.parent
        return found

    def previous_effects(self) -> list[Effect]:
        """The effects of the generation this one replaces (none at a first import)."""
        return self.previous.effects.effects if self.previous is not None else []


def code_names(code: CodeType | None) -> frozenset[str]:
    """Return every name ``code`` and the code objects inside it (classes, functions) use."""
    if code is None:
        return frozenset()
    found = set(code.co_names)
    pending = [code]
    while pending:  # runs at every first import: plain loops, exact type checks
        for const in pending.pop().co_consts:
            if type(const) is CodeType:
                found.update(const.co_names)
                pending.append(const)
    return frozenset(found)


# The innermost execution being recorded in this thread or task.
current: contextvars.ContextVar[Recording | None] = contextvars.ContextVar("versioned_import.recording", default=None)


def executing(name: str) -> Recording | None:
    """Return the recording of ``name``'s execution in progress in this context, if any."""
    recording = current.get()
    while recording is not None:
        if recording.record.name == name:
            return recording
        recording = recording.parent
    return None


class Interception:
    """A registering function replaced by a recording one while at least one execution that mentions it runs.

    Other threads calling it meanwhile reach the original (the recording
    function looks for a recording in its own context); once the last such
    execution ends, the original is back in place.
    """

    def __init__(self, owner: Any, name: str, replacement: Any) -> None:
        self.owner = owner
        self.name = name
        self.original = getattr(owner, name)
        self.replacement = replacement
        self._users = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                setattr(self.owner, self.name, self.replacement)

    def exit(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                setattr(self.owner, self.name, self.original)


class InterceptingEntry:
    """An entry that only intercepts: while an execution runs, its ``interception`` records the calls.

    What it records is on the recording (``Recording.intercepted``), so
    ``finish`` adds nothing of its own.
    """

    interception: Interception

    def start(self, recording: Recording) -> object:
        self.interception.enter()
        return None

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        self.interception.exit()
        return []
