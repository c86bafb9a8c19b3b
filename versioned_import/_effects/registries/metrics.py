"""prometheus_client: collectors (``Counter``, ``Gauge``, ...) a module's code registers, their values kept.

A metric registers itself when it is made, and a registry refuses a second
metric of the same name. While a reload executes a module that mentions
prometheus_client, ``CollectorRegistry.register`` is intercepted: a new metric
whose definition (type, name, documentation, labels, unit, buckets) equals one
the previous generation registered is *adopted* — the module's name is bound
to the existing metric, which keeps counting — and any other is registered at
the publish, replacing the one of the same name.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..._core.effects import Effect
from ..recording import Interception, Recording, current

__all__ = ["MetricsEntry"]

_DEFINITION = ("_type", "_name", "_documentation", "_labelnames", "_unit", "_upper_bounds", "_states")


def _definition(collector: Any) -> tuple[Any, ...]:
    return (type(collector), *(getattr(collector, name, None) for name in _DEFINITION))


@dataclass(eq=False)
class Registered:
    registry: Any
    collector: Any
    names: frozenset[str]
    applied: bool = False
    retract_before: bool = False

    @property
    def key(self) -> tuple[str, int, frozenset[str]]:
        return ("prometheus", id(self.registry), self.names)

    def _registered(self) -> bool:
        return self.collector in self.registry._collector_to_names

    def retract(self) -> None:
        if self._registered():
            self.registry.unregister(self.collector)
        self.applied = False

    def restore(self) -> None:
        if not self._registered():
            clashing = {self.registry._names_to_collectors.get(name) for name in self.names} - {None}
            for other in clashing:
                self.registry.unregister(other)
            _register(self.registry, self.collector)
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"prometheus collector {', '.join(sorted(self.names))}"


_register: Any = None


def register(self: Any, collector: Any) -> None:
    """``CollectorRegistry.register`` while a versioned module executes: recorded; adopted or deferred in a reload."""
    recording = current.get()
    if recording is None:
        return _register(self, collector)  # type: ignore[no-any-return]
    names = frozenset(self._get_names(collector))
    effect = Registered(self, collector, names)
    if recording.reloading:
        for old in recording.previous_effects():
            if isinstance(old, Registered) and old.registry is self and old.names == names \
                    and _definition(old.collector) == _definition(collector):
                recording.adopted[id(collector)] = (collector, old.collector)
                recording.intercepted.append(old)  # shared by both generations: it stays registered
                return None
        recording.intercepted.append(effect)
        return None
    _register(self, collector)
    effect.applied = True
    recording.intercepted.append(effect)
    return None


class MetricsEntry:
    library: str = "prometheus_client"
    markers: tuple[str, ...] = ("prometheus_client", "Counter", "Gauge", "Histogram", "Summary", "Info", "Enum")

    def __init__(self) -> None:
        self.interception: Interception | None = None

    def start(self, recording: Recording) -> object:
        registry = sys.modules.get("prometheus_client.registry")
        if registry is None:
            return None  # the module imports it now: what it registered is found by comparison
        if self.interception is None:
            global _register
            _register = registry.CollectorRegistry.register
            self.interception = Interception(registry.CollectorRegistry, "register", register)
        self.interception.enter()
        return self.interception

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        if started is not None:
            assert self.interception is not None
            self.interception.exit()
            _rebind(recording)
            return []
        registry = sys.modules.get("prometheus_client.registry")
        metrics = sys.modules.get("prometheus_client.metrics")
        if registry is None or metrics is None:
            return []
        default = registry.REGISTRY
        return [Registered(default, collector, frozenset(names), applied=True)
                for collector, names in list(default._collector_to_names.items())
                if isinstance(collector, metrics.MetricWrapperBase)]


def _rebind(recording: Recording) -> None:
    # The module's own names for an adopted metric now name the one that keeps counting.
    if not recording.adopted:
        return
    namespace = recording.generation.namespace
    for name, value in list(namespace.items()):
        pair = recording.adopted.get(id(value))
        if pair is not None and pair[0] is value:
            namespace[name] = pair[1]
