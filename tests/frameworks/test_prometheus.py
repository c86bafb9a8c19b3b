"""prometheus_client metrics across reloads (issue 17): values kept, a changed definition replaces, a refusal changes nothing.

Before the side-effects mechanism, the second execution of a module defining
``Counter("requests", ...)`` failed: "Duplicated timeseries in
CollectorRegistry".
"""

from __future__ import annotations

import unittest

import versioned_import as vi
from tests.support import Sandbox

from .harness import require

try:  # imported before any sandbox records sys.modules
    import prometheus_client
    from prometheus_client import REGISTRY
except ImportError:
    prometheus_client = REGISTRY = None

METRICS = """\
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("vi_test_requests", "Requests served", {labels})
IN_FLIGHT = Gauge("vi_test_in_flight", "Requests in flight", ["route"])
LATENCY = Histogram("vi_test_latency_seconds", "Time to answer", ["route"], buckets=(0.1, 1.0))
VERSION = 1


def handle(route, seconds):
    REQUESTS.labels(*["GET"] * len(REQUESTS._labelnames)).inc()
    LATENCY.labels(route).observe(seconds)
"""

NAMES = ("vi_test_requests", "vi_test_in_flight", "vi_test_latency_seconds")


@require("prometheus_client")
class MetricsTest(Sandbox):
    def setUp(self) -> None:
        super().setUp()
        self.addCleanup(self.unregister)
        self.install()
        self.write("metrics.py", METRICS.format(labels='["method"]'))
        import metrics

        self.metrics = metrics
        self.collectors = (metrics.REQUESTS, metrics.IN_FLIGHT, metrics.LATENCY)
        metrics.handle("/", 0.05)
        metrics.IN_FLIGHT.labels("/").set(3)

    def unregister(self) -> None:
        for collector in {REGISTRY._names_to_collectors[name] for name in list(REGISTRY._names_to_collectors)
                          if name.startswith("vi_test_")}:
            REGISTRY.unregister(collector)

    def bump(self, number: int) -> None:
        with open(f"{self.root}/metrics.py") as stream:
            text = stream.read()
        self.write("metrics.py", text.replace(f"VERSION = {number - 1}", f"VERSION = {number}"))

    def value(self, name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    def registered(self) -> dict[str, object]:
        return {name: collector for name, collector in REGISTRY._names_to_collectors.items()
                if name.startswith("vi_test_")}

    def test_values_are_kept_over_five_reloads(self):
        for number in range(2, 7):
            self.bump(number)
            vi.reload("metrics")
            self.metrics.handle("/", 0.5)
        self.assertEqual(self.metrics.VERSION, 6)
        self.assertEqual((self.metrics.REQUESTS, self.metrics.IN_FLIGHT, self.metrics.LATENCY), self.collectors)
        self.assertEqual(self.value("vi_test_requests_total", method="GET"), 6)
        self.assertEqual(self.value("vi_test_in_flight", route="/"), 3)
        self.assertEqual(self.value("vi_test_latency_seconds_count", route="/"), 6)
        self.assertEqual(self.value("vi_test_latency_seconds_bucket", route="/", le="0.1"), 1)
        self.assertEqual(set(map(id, self.registered().values())), set(map(id, self.collectors)))

    def test_a_changed_definition_replaces_the_metric(self):
        self.write("metrics.py", METRICS.format(labels='["method", "status"]'))
        vi.reload("metrics")
        self.assertIsNot(self.metrics.REQUESTS, self.collectors[0])
        self.assertIs(self.registered()["vi_test_requests"], self.metrics.REQUESTS)
        self.assertIsNone(self.value("vi_test_requests_total", method="GET"), "as a fresh process: no samples yet")
        self.metrics.handle("/", 0.05)
        self.assertEqual(self.value("vi_test_requests_total", method="GET", status="GET"), 1)
        # The unchanged ones kept theirs.
        self.assertIs(self.metrics.IN_FLIGHT, self.collectors[1])
        self.assertEqual(self.value("vi_test_in_flight", route="/"), 3)

    def test_a_broken_edit_leaves_the_same_collectors_registered(self):
        before = self.registered()
        self.write("metrics.py", METRICS.format(labels='["method", "status"]') + "\nraise RuntimeError('no')\n")
        with self.assertRaises(vi.ReloadError):
            vi.reload("metrics")
        after = self.registered()
        self.assertEqual(after.keys(), before.keys())
        for name in before:
            self.assertIs(after[name], before[name], name)
        self.assertIs(self.metrics.REQUESTS, self.collectors[0])
        self.assertEqual(self.value("vi_test_requests_total", method="GET"), 1)
        self.write("metrics.py", METRICS.format(labels='["method"]').replace("VERSION = 1", "VERSION = 2"))
        vi.reload("metrics")
        self.assertEqual(self.metrics.VERSION, 2)
        self.assertIs(self.metrics.REQUESTS, self.collectors[0])
        self.assertEqual(self.value("vi_test_requests_total", method="GET"), 1)


if __name__ == "__main__":
    unittest.main()
