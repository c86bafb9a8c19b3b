"""Which dependents join a reload's set: the upfront modules' companions first, then the others one by one (G6).

A reload runs the modules it must (named, changed on disk, tied by
registrations: *upfront*) and, of their dependents, only those whose
import-time code used something that changed (``rerun.Dependents``).
``Admission`` keeps the dependents not decided yet and lets the staging
(``staging.Transaction``) take them in:

* before anything runs, ``close`` admits what a fresh import of the new
  sources would run with the upfront modules: the rest of their import
  cycles, their packages, the modules their new code imports (a new cycle is
  entered where the program entered it) and the importers of a module whose
  file is gone (they must stop importing it, or the reload is refused);
* after the upfront modules ran, ``visit`` walks the dependents left in
  execution order, dependencies first, and admits each whose decision says
  it must run; one decided against keeps its generation;
* a dependent that new code touches before its turn runs right there, as a
  first import would run it (``Transaction.run_touched``).

The decisions look at modules as published (``_published_view``): touching a
staged module's proxy there runs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .._core.frames import reload_machinery
from .._core.proxy import view
from .._core.state import ModuleRecord
from .rerun import Dependents
from .uses import imported_modules

__all__ = ["Admission"]


class Admission:
    """The dependents of one reload still to decide, and who decides."""

    def __init__(self, decisions: Dependents, groups: list[list[ModuleRecord]], undecided: list[ModuleRecord]) -> None:
        self.decisions = decisions
        self.groups = groups  # import cycles and single modules, in execution order
        self.undecided = {id(record.proxy): record for record in undecided}  # proxy id -> record

    def taken(self, records: list[ModuleRecord]) -> None:
        """``records`` join the set (admitted, or touched by new code): no decision is left to take for them."""
        for record in records:
            self.undecided.pop(id(record.proxy), None)
            self.decisions.decided(record)

    def close(self, transaction: Any) -> None:
        """Admit what a fresh import would run with the modules the transaction runs anyway; order them as roots."""
        state = transaction.state
        graph, records = state.graph, state.records
        while True:
            undecided = {record.name for record in self.undecided.values()}
            staged = {record.name for record in transaction.records}
            wanted: set[str] = set()
            for group in self.groups:
                if any(record.name in staged for record in group):
                    wanted.update(record.name for record in group)  # a cycle runs whole
            for name in staged:
                parts = name.split(".")
                wanted.update(".".join(parts[:end]) for end in range(1, len(parts)))  # a package before its modules
                item = transaction.staged(name)
                if item is None:
                    continue
                if item.state == "gone":
                    with state.lock:
                        wanted |= graph.importers(name)
                elif item.generation.code is not None and _new_source(item):
                    package = item.generation.namespace.get("__package__") or ""
                    wanted |= imported_modules(item.generation.code, package, undecided)
            more = [records[name] for name in wanted if name in records and id(records[name].proxy) in self.undecided]
            if not more:
                transaction.records.sort(key=lambda record: graph.rank(record.name))  # roots: in first-import order
                return
            transaction.admit(more)

    @reload_machinery
    def visit(self, transaction: Any) -> None:
        """Decide the dependents left, in execution order; run each that must, as it is admitted."""
        decisions = self.decisions
        for group in self.groups:
            waiting = [record for record in group if id(record.proxy) not in transaction.by_proxy]
            if waiting:
                with _published_view():
                    run = len(waiting) < len(group) or decisions.must_run(group)
                    if not run:
                        decisions.skipped(group)
                if not run:  # keeps its generation
                    for record in group:
                        self.undecided.pop(id(record.proxy), None)
                    continue
                transaction.admit(waiting)
            for record in group:
                staged = transaction.by_proxy[id(record.proxy)]
                if staged.state == "pending":
                    transaction.execute(staged)
            with _published_view():
                for record in group:
                    staged = transaction.by_proxy[id(record.proxy)]
                    if staged.state == "done":
                        decisions.executed(record, record.current, staged.generation)


@contextlib.contextmanager
def _published_view() -> Iterator[None]:
    """Let the decisions look at modules as published: touching a staged module there runs nothing."""
    token = view.set(None)
    try:
        yield
    finally:
        view.reset(token)


def _new_source(staged: Any) -> bool:
    """Whether ``staged`` runs other bytes than its current generation, or from another place."""
    current = staged.record.current
    return staged.spec is not staged.record.spec or current is None or current.source is None \
        or current.source.digest != staged.source.digest
