"""Side effects through the transaction (G17): retracted, restored, applied and discarded with their generations.

The transaction calls, for each generation it executes: ``begin`` (the
previous generation's ``retract_before`` effects leave the process, so the
new code starts from what a fresh process would have) and ``end``. Then
exactly one of:

* ``abandon``: the reload is refused. What the new code registered leaves the
  process, resources kept for it alone are disposed, and the previous
  generation's effects come back: the same objects, as before.
* ``displacing`` (the previous generation's ``hot.dispose`` callbacks run,
  just before the publish), then ``published``: the new generation's deferred
  effects are applied and the previous one's that it does not replace leave.

``rolled_back`` swaps the effects of two generations the same way, running no
module code; ``unloaded`` retracts a module's for good; ``discard`` releases
those of generations no rollback can reach any more.

Registries whose objects tie modules together (ORM mappers and models) take
part in four more steps (``recording.Coordinated``): ``related`` when the
reload decides which modules to re-execute (a module whose mapper refers to a
class being redefined is re-executed with it, as a dependent is), ``staged``
when everything executed (SQLAlchemy configures the new mappers there, so a
broken mapping refuses the reload), ``publishing`` for operations the publish
applies in its one atomic pass (instances loaded before the reload move to
the new mappers with their classes), and ``settled`` once the publish or
rollback is done and the collector runs again (instances made meanwhile).

A registry that raises while the reload is being published cannot refuse it
any more: the failure is logged (logger ``versioned_import``), with the module
and the effect, and the others are still applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from .._core.effects import Effect, GenerationEffects, Kept
from .._core.state import Generation, ModuleRecord
from .._errors import ReloadError
from .recording import Recording, Refusal, code_names
from .registries import COORDINATED, ENTRIES

__all__ = ["begin", "end", "abandon", "displacing", "published", "rolled_back", "unloaded", "discard", "related",
           "staged", "publishing", "settled", "Declined", "Refusal"]

log = logging.getLogger("versioned_import")


class Declined(ReloadError):
    """A module that declines hot reload (``hot.decline``) would have been re-executed: only a restart loads it."""


def begin(record: ModuleRecord, generation: Generation, previous: Generation | None, reloading: bool) -> Recording:
    """Start recording ``generation``'s execution; in a reload, first take the previous generation's effects out."""
    if reloading and previous is not None and previous.effects.declined is not None:
        raise Declined(f"the module declines hot reload ({previous.effects.declined})", module=record.name,
                       path=record.path)
    recording = Recording(record, generation, previous, reloading, code_names(generation.code), ENTRIES)
    if reloading and previous is not None:
        for effect in previous.effects.effects:
            if effect.retract_before and effect.applied:
                _each(record, "retract", effect, effect.retract)
                recording.retracted.append(effect)
    try:
        return recording.start()
    except BaseException:
        # An entry refused before the code ran (``Refusal``): what was taken out goes back.
        for effect in reversed(recording.retracted):
            _each(record, "restore", effect, effect.restore)
        raise


def end(recording: Recording) -> None:
    """Stop recording (the code ran to its end, or raised)."""
    recording.finish()


def related(records: dict[str, ModuleRecord], names: set[str]) -> set[str]:
    """Return the modules (not in ``names``) whose registrations are tied to those of ``names``."""
    found: set[str] = set()
    for entry in COORDINATED:
        found |= entry.related(records, names)
    return found - names


def staged(recordings: list[Recording]) -> None:
    """Every new generation of a reload executed: let the registries finish or check; ``Refusal`` refuses it."""
    for entry in COORDINATED:
        entry.staged(recordings)


def publishing(recordings: list[Recording], unfreeze: Callable[[], None]) -> tuple[
        list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Return the registries' operations for the publish's atomic pass, and their undos."""
    do: list[tuple[Any, ...]] = []
    undo: list[tuple[Any, ...]] = []
    for entry in COORDINATED:
        more, less = entry.publishing(recordings, unfreeze)
        do.extend(more)
        undo.extend(less)
    return do, undo


def settled(records: list[ModuleRecord]) -> None:
    """``records`` published new generations (or rolled back) and the collector runs again."""
    for entry in COORDINATED:
        try:
            entry.settled(records)
        except Exception:  # the publish happened: a registry's failure is logged, the others still run
            log.exception("bringing held objects to the published definitions of %s failed (%s)",
                          ", ".join(r.name for r in records), type(entry).__name__)


def abandon(recordings: Iterable[Recording]) -> None:
    """The reload is refused: undo what its executions registered, put the previous effects back."""
    for recording in reversed(list(recordings)):
        record, new = recording.record, recording.generation.effects
        previous = recording.previous.effects.effects if recording.previous is not None else []
        for effect in reversed(new.effects):
            if not any(effect is old for old in previous):
                _each(record, "retract", effect, effect.retract)
                _each(record, "discard", effect, effect.discard)
        for key in new.created:
            kept = new.uses[key]
            if record.kept.get(key) is kept:
                del record.kept[key]
            _dispose_kept(record, kept)
        for effect in recording.retracted:
            _each(record, "restore", effect, effect.restore)


def published(record: ModuleRecord, old: Generation | None, new: Generation) -> None:
    """``new`` replaced ``old`` as the published generation of ``record`` (a reload or a rollback)."""
    keep = new.effects.effects
    replaced = {effect.key for effect in keep}

    def leaving(before: bool) -> list[Effect]:
        # What the new generation shares, or registers again under the same key, it replaces itself.
        if old is None:
            return []
        return [effect for effect in reversed(old.effects.effects) if effect.retract_before is before
                and effect.key not in replaced and not any(effect is shared for shared in keep)]

    # Registries that refuse a duplicate (ORM tables and mappers) give the old definitions up first, as
    # a reload did before the new code ran; the others apply the new registration first and retract the
    # old one after, so that a handler is replaced, never missing in between.
    for effect in leaving(True):
        _each(record, "retract", effect, effect.retract)
    for effect in keep:
        _each(record, "apply", effect, effect.restore)
    for effect in leaving(False):
        _each(record, "retract", effect, effect.retract)
    for key, kept in new.effects.uses.items():
        record.kept[key] = kept
    new.effects.cleaned = False


def displacing(record: ModuleRecord, old: Generation | None) -> None:
    """Run ``old``'s ``hot.dispose`` callbacks: the publish that displaces it is decided and about to happen.

    Before the publish, not after: publishing makes every function of the
    module's lineages the newest definition (G7), and a cleanup must run the
    code, and see the globals, of the generation that registered it.
    """
    if old is not None:
        _cleanup(record, old.effects)


def rolled_back(record: ModuleRecord, newer: Generation, older: Generation) -> None:
    """A rollback made ``older`` current again instead of ``newer``: swap their effects (``displacing`` ran before)."""
    published(record, newer, older)


def unloaded(record: ModuleRecord) -> None:
    """``record`` is forgotten: its effects leave the process, its cleanups run, its kept resources are disposed."""
    generations = [g for g in (record.current, *record.history) if g is not None]
    if record.current is not None:
        for effect in reversed(record.current.effects.effects):
            _each(record, "retract", effect, effect.retract)
        _cleanup(record, record.current.effects)
    discard(record, generations)
    for kept in record.kept.values():
        _dispose_kept(record, kept)
    record.kept.clear()


def discard(record: ModuleRecord, generations: Iterable[Generation]) -> None:
    """No rollback can reach ``generations`` any more: release their effects and the resources only they kept."""
    live = {id(g) for g in (record.current, *record.history) if g is not None}
    live_effects = {id(e) for g in (record.current, *record.history) if g is not None for e in g.effects.effects}
    live_kept = {id(k) for g in (record.current, *record.history) if g is not None for k in g.effects.uses.values()}
    live_kept.update(id(k) for k in record.kept.values())
    for generation in generations:
        if id(generation) in live:
            continue
        for effect in generation.effects.effects:
            if id(effect) not in live_effects and not effect.applied:
                _each(record, "discard", effect, effect.discard)
        for kept in generation.effects.uses.values():
            if id(kept) not in live_kept:
                _dispose_kept(record, kept)


def _cleanup(record: ModuleRecord, effects: GenerationEffects) -> None:
    if effects.cleaned:
        return
    effects.cleaned = True
    for callback in reversed(effects.cleanups):
        try:
            callback()
        except Exception:  # one module's cleanup must not keep the others, or the publish, from finishing
            log.exception("hot.dispose callback %r of %s (%s) raised", callback, record.name, record.path)


def _dispose_kept(record: ModuleRecord, kept: Kept) -> None:
    if kept.disposed or kept.dispose is None:
        kept.disposed = True
        return
    kept.disposed = True
    try:
        kept.dispose(kept.value)
    except Exception:
        log.exception("hot.keep dispose of %r in %s (%s) raised", kept.value, record.name, record.path)


def _each(record: ModuleRecord, action: str, effect: Effect, operation: Callable[[], None]) -> None:
    try:
        operation()
    except Exception:
        log.exception("%s of %s registered by %s (%s) failed", action, effect.describe(), record.name, record.path)
