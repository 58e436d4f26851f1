"""Figures gathered in memory and written once a second (`metrics.batched`) read exactly
as the same figures written value by value; and the prometheus-client names the flush
relies on are still there."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from guestbook.metrics import SECONDS, batched

# Below, at and above bounds; the slowest past every bound (the +Inf bucket).
VALUES = [0.0004, 0.001, 0.0011, 0.003, 0.2, 0.25, 0.26, 4.0, 99.0, 0.0004]


def exposed(registry: CollectorRegistry) -> list[str]:
    """The text a scrape reads, but the figures' creation times (which differ)."""
    return [
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    ]


def histograms() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("t_seconds", "t", ["route"], buckets=SECONDS, registry=registry)


def test_a_flushed_histogram_reads_as_one_observed_value_by_value() -> None:
    direct_registry, direct = histograms()
    gathered_registry, gathered = histograms()
    figure = batched.BatchedHistogram(gathered.labels("/"))
    for value in VALUES:
        direct.labels("/").observe(value)
        figure.observe(value)
    assert exposed(gathered_registry) != exposed(direct_registry)  # not yet
    batched.flush()
    assert exposed(gathered_registry) == exposed(direct_registry)
    batched.flush()  # nothing gathered since: nothing written twice
    assert exposed(gathered_registry) == exposed(direct_registry)


def test_a_flushed_counter_reads_as_one_counted_one_by_one() -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["result"], registry=registry)
    hits = batched.BatchedCounter(counter.labels("hit"))
    for _ in range(7):
        hits.inc()
    batched.flush()
    assert registry.get_sample_value("c_total", {"result": "hit"}) == 7


@pytest.mark.parametrize("name", ["_upper_bounds", "_buckets", "_sum"])
def test_the_histogram_names_the_flush_writes_are_there(name: str) -> None:
    _registry, histogram = histograms()
    assert hasattr(histogram.labels("/"), name), (
        f"prometheus-client moved {name}: see src/guestbook/metrics/batched.py"
    )
