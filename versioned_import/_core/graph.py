"""Who imported whom: the dependency graph between versioned modules (pure data).

An edge ``a -> b`` means module ``a`` imported ``b`` (so ``a`` is a dependent
of ``b``). The graph knows nothing about files or proxies; ``_reload`` asks it
which modules a reload must re-execute and in which order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

__all__ = ["DependencyGraph"]


class DependencyGraph:
    """Import edges between module names, with first-import order for cycles."""

    def __init__(self) -> None:
        self._imports: dict[str, set[str]] = {}
        self._importers: dict[str, set[str]] = {}
        self._rank: dict[str, int] = {}
        self._counter = itertools.count()

    def add_module(self, name: str) -> None:
        """Register ``name``; its rank is the order in which modules were first imported."""
        if name not in self._rank:
            self._rank[name] = next(self._counter)
            self._imports.setdefault(name, set())
            self._importers.setdefault(name, set())

    def rank(self, name: str) -> int:
        """Return the first-import order of ``name`` (-1 if unknown)."""
        return self._rank.get(name, -1)

    def __contains__(self, name: object) -> bool:
        return name in self._rank

    def add_edge(self, importer: str, imported: str) -> None:
        """Record that ``importer`` imported ``imported``; self-imports are ignored."""
        if importer == imported:
            return
        self.add_module(importer)
        self.add_module(imported)
        self._imports[importer].add(imported)
        self._importers[imported].add(importer)

    def replace_imports(self, name: str, imported: Iterable[str]) -> None:
        """Make ``imported`` the complete set of ``name``'s imports (after a re-execution)."""
        self.add_module(name)
        imported = set(imported)
        imported.discard(name)
        if imported == self._imports[name]:
            return  # the usual case: the same imports as before
        for old in self._imports[name]:
            self._importers[old].discard(name)
        self._imports[name] = set()
        for target in imported:
            self.add_edge(name, target)

    def forget(self, name: str) -> None:
        """Remove ``name`` and every edge that touches it."""
        for target in self._imports.pop(name, ()):
            self._importers.get(target, set()).discard(name)
        for source in self._importers.pop(name, ()):
            self._imports.get(source, set()).discard(name)
        self._rank.pop(name, None)

    def importers(self, name: str) -> set[str]:
        """Return the modules that imported ``name`` directly."""
        return set(self._importers.get(name, ()))

    def dependents(self, names: Iterable[str]) -> set[str]:
        """Return every module that imported one of ``names``, transitively (``names`` excluded)."""
        start = set(names)
        seen: set[str] = set()
        stack = list(start)
        while stack:
            for importer in self._importers.get(stack.pop(), ()):
                if importer not in seen:
                    seen.add(importer)
                    stack.append(importer)
        return seen - start

    def execution_order(self, names: Iterable[str]) -> list[list[str]]:
        """Group ``names`` into import cycles and order the groups dependencies-first.

        Only edges between members of ``names`` count. Inside a group (a cycle)
        and between independent groups the earlier first import comes first, so
        a cycle re-executes entered from the same module as its first import.
        """
        members = sorted(set(names), key=self.rank)
        inside = set(members)
        groups = _strongly_connected(members, lambda n: sorted(
            (m for m in self._imports.get(n, ()) if m in inside), key=self.rank))
        # Tarjan emits a group only after every group it imports: dependencies first.
        return [sorted(group, key=self.rank) for group in groups]


def _strongly_connected(nodes: Iterable[str], successors: Callable[[str], list[str]]) -> list[list[str]]:
    """Tarjan's algorithm without recursion; yields groups in reverse topological order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = itertools.count()
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(successors(root)))]
        index[root] = low[root] = next(counter)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = next(counter)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors(child))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups
