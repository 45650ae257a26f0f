"""forge.core.metrics' Counter and Histogram expose what prometheus-client's own would."""

from __future__ import annotations

import re

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from forge.core import metrics

VALUES = (0.0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 2.5, 59.0, 60.0, 61.0, 1e9)


def _exposed(registry: CollectorRegistry) -> str:
    text = generate_latest(registry).decode()
    # Creation times differ between the two registries by construction.
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text)


def test_counter_and_histogram_expose_as_prometheus_client_does() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter = metrics.Counter("t_calls", "Calls.", ["subject", "method"], registry=ours)
    their_counter = prometheus_client.Counter(
        "t_calls", "Calls.", ["subject", "method"], registry=theirs
    )
    histogram = metrics.Histogram("t_seconds", "Time.", ["subject"], registry=ours)
    their_histogram = prometheus_client.Histogram(
        "t_seconds", "Time.", ["subject"], buckets=metrics.BUCKETS, registry=theirs
    )
    for subject in ("a", "b"):
        for method in ("tools/call", 'we"ird\n'):
            counter.labels(subject, method).inc()
            their_counter.labels(subject, method).inc()
        counter.labels(subject, "tools/call").inc(2.5)
        their_counter.labels(subject, "tools/call").inc(2.5)
        for value in VALUES:
            histogram.labels(subject).observe(value)
            their_histogram.labels(subject).observe(value)
    assert _exposed(ours) == _exposed(theirs)
    # The buckets are cumulative and `le` inclusive: 0.0005 counts in le="0.0005".
    assert ours.get_sample_value("t_seconds_bucket", {"subject": "a", "le": "0.0005"}) == 3.0
    assert ours.get_sample_value("t_seconds_count", {"subject": "a"}) == len(VALUES)
    assert ours.get_sample_value("t_calls_total", {"subject": "b", "method": "tools/call"}) == 3.5


def test_a_series_is_kept_and_labels_are_checked() -> None:
    registry = CollectorRegistry()
    counter = metrics.Counter("t_kept", "Kept.", ["route"], registry=registry)
    assert counter.labels("/mcp") is counter.labels("/mcp")
    with pytest.raises(ValueError):
        counter.labels("/mcp", "extra")
    with pytest.raises(ValueError):  # the name is taken in this registry
        metrics.Counter("t_kept", "Again.", ["route"], registry=registry)
