"""The Prometheus metrics every service shares (RED per subject and method, NATS round trips),
and the helpers services use to add their own gauges without unbounded label sets.

One process is one service, so the metrics live in prometheus-client's default registry and the
ops port (forge.core.ops) serves it. Each metric's name, type, labels and meaning are in
docs/observability.md; keep the two in step.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Latency buckets (seconds) from well under a millisecond (an in-process answer) to a slow
# upstream's tens of seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
OTHER = "other"
# Labels that come from what callers send (a JSON-RPC method, an upstream's error code) keep at
# most this many values per metric; the rest count as "other" (a client must not be able to
# grow the process's memory, or the scrape, by sending made-up methods).
MAX_LABEL_VALUES = 100


class _CounterChild:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _HistogramChild:
    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; the last is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        # `le` is inclusive: the first bound >= amount.
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


_Child = TypeVar("_Child", _CounterChild, _HistogramChild)


class _Labelled(Collector, Generic[_Child]):
    """A labelled metric updated from the event loop's thread alone (every service is one
    asyncio loop; /metrics is served on it too). prometheus-client's own Counter and Histogram
    take a lock per update and walk the buckets in Python: 1.6 us per `inc` and 2.8 us per
    `observe` on this machine, against about 0.2 us here, several times per call in every
    service (issue 16). Exposed the same way: `_total`, `_bucket`, `_count`, `_sum`,
    `_created`."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], _Child] = {}
        if registry is not None:
            registry.register(self)

    def _child(self) -> _Child:
        raise NotImplementedError

    def _family(self) -> Any:
        raise NotImplementedError

    def labels(self, *values: str) -> _Child:
        """The series of these label values (created on first use): keep it, as `labels()` of
        prometheus-client's metrics was kept."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = self._child()
        return found

    def describe(self) -> Iterator[Any]:
        yield self._family()


class Counter(_Labelled[_CounterChild]):
    """A counter (`<name>_total`) with labels; see `_Labelled`."""

    def _child(self) -> _CounterChild:
        return _CounterChild()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = self._family()
        for values, child in list(self._children.items()):
            family.add_metric(values, child.value, created=child.created)
        yield family


class Histogram(_Labelled[_HistogramChild]):
    """A histogram with labels and fixed `buckets` (upper bounds, +Inf added); see `_Labelled`."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] = BUCKETS,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.bounds = tuple(float(b) for b in buckets if b != float("inf"))
        if list(self.bounds) != sorted(self.bounds):
            raise ValueError("buckets must be in increasing order")
        self._les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        super().__init__(name, documentation, labelnames, registry)

    def _child(self) -> _HistogramChild:
        return _HistogramChild(self.bounds)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = self._family()
        for values, child in list(self._children.items()):
            total, buckets = 0, []
            for le, count in zip(self._les, child.counts, strict=True):
                total += count
                buckets.append((le, float(total)))
            family.add_metric(values, buckets, child.sum)
            labels = dict(zip(self.labelnames, values, strict=True))
            family.samples.append(Sample(self.name + "_created", labels, child.created))
        yield family


RPC_REQUESTS = Counter(
    "forge_rpc_requests",
    "Envelopes this service handled, by the subject it serves and the JSON-RPC method.",
    ["subject", "method"],
)
RPC_ERRORS = Counter(
    "forge_rpc_errors",
    "Envelopes this service answered with a JSON-RPC error, by subject, method and error code.",
    ["subject", "method", "code"],
)
RPC_DURATION = Histogram(
    "forge_rpc_duration_seconds",
    "Time from an envelope's arrival to its answer, by subject and method.",
    ["subject", "method"],
    buckets=BUCKETS,
)
NATS_REQUESTS = Counter(
    "forge_nats_requests",
    "Requests this service sent over NATS, by subject (ids in subjects replaced by *).",
    ["subject"],
)
NATS_REQUEST_FAILURES = Counter(
    "forge_nats_request_failures",
    "Requests sent over NATS that got no answer, by subject and reason (no_responders, timeout).",
    ["subject", "reason"],
)
NATS_ROUND_TRIP = Histogram(
    "forge_nats_request_duration_seconds",
    "Round trip of a request over NATS until its answer arrived, by subject.",
    ["subject"],
    buckets=BUCKETS,
)
OVERLOAD_REFUSALS = Counter(
    "forge_overload_refusals",
    "Requests refused at once (-32015) because the service was at FORGE_MAX_INFLIGHT, by the "
    "subject they came on (the edge: its MCP route).",
    ["subject"],
)
CACHE_INVALIDATIONS = Counter(
    "forge_cache_invalidations",
    "Changes applied to a service's cache (catalog or identity events, snapshots), by cache.",
    ["cache"],
)
PLUGIN_DURATION = Histogram(
    "forge_plugin_duration_seconds",
    "Time one plugin took on one hook, by plugin and hook.",
    ["plugin", "hook"],
    buckets=BUCKETS,
)


_plugins: dict[tuple[str, str], Any] = {}


def plugin_timed(plugin: str, hook: str, started: float) -> None:
    """Record one run of `plugin` on `hook` that began at `started` (perf_counter)."""
    series = _plugins.get((plugin, hook))
    if series is None:  # plugin names come from the operator's configuration: few
        series = _plugins[(plugin, hook)] = PLUGIN_DURATION.labels(plugin, hook)
    series.observe(time.perf_counter() - started)


class Bounded:
    """Maps a caller-chosen value to itself while fewer than `limit` values were seen, else
    to "other"."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(value)
        return value


# Subjects whose third token is an id (a gateway, an agent), and those ending in one.
_ID_THIRD = ("forge.upstream.", "forge.a2a.")
_ID_LAST = ("forge.stream.", "forge.cancel.", "forge.session.", "forge.body.")
_RESERVED_THIRD = frozenset({"health", "*"})


def subject_label(subject: str) -> str:
    """A subject with the ids it carries replaced by `*`, so a label has few values."""
    if subject.startswith(_ID_THIRD):
        parts = subject.split(".")
        if len(parts) >= 4 and parts[2] == "resume":
            return "forge.upstream.resume.*"
        if len(parts) >= 4 and parts[2] not in _RESERVED_THIRD:
            parts[2] = "*"
            return ".".join(parts)
        return subject
    if subject.startswith(_ID_LAST):
        return subject[: subject.index(".", 6) + 1] + "*"
    if subject.startswith("forge.resource.updated."):
        return "forge.resource.updated.*"
    if subject.startswith("_INBOX."):
        return "_INBOX.*"
    return subject


class RpcSeries:
    """The counters and histogram of one (subject, method), resolved once."""

    __slots__ = ("duration", "method", "requests", "subject")

    def __init__(self, subject: str, method: str) -> None:
        subject = subject_label(subject)
        self.subject, self.method = subject, method
        self.requests = RPC_REQUESTS.labels(subject, method)
        self.duration = RPC_DURATION.labels(subject, method)


_METHODS = Bounded()
_CODES = Bounded(50)
_rpc: dict[tuple[str, str], RpcSeries] = {}


def rpc_series(subject: str, method: str) -> RpcSeries:
    """The series of one served subject and method (cached: `labels()` takes a lock)."""
    found = _rpc.get((subject, method))
    if found is None:
        label = _METHODS(method)
        found = _rpc.get((subject, label))
        if found is None:
            found = _rpc[(subject, label)] = RpcSeries(subject, label)
    return found


def rpc_done(series: RpcSeries, started: float, error_code: int | None) -> None:
    """Count one handled envelope (and its error, if it was answered with one)."""
    series.requests.inc()
    series.duration.observe(time.perf_counter() - started)
    if error_code is not None:
        RPC_ERRORS.labels(series.subject, series.method, _CODES(str(error_code))).inc()


class _Nats:
    __slots__ = ("duration", "requests", "subject")

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.requests = NATS_REQUESTS.labels(subject)
        self.duration = NATS_ROUND_TRIP.labels(subject)


_SUBJECTS = Bounded(500)
_nats: dict[str, _Nats] = {}


def nats_series(subject: str) -> _Nats:
    found = _nats.get(subject)
    if found is None:
        found = _Nats(_SUBJECTS(subject_label(subject)))
        if len(_nats) < 10_000:  # concrete subjects (ids) may be many: cache only so many
            _nats[subject] = found
    return found


def nats_failed(series: _Nats, reason: str) -> None:
    NATS_REQUEST_FAILURES.labels(series.subject, reason).inc()


def overload_refused(subject: str) -> None:
    OVERLOAD_REFUSALS.labels(_SUBJECTS(subject)).inc()


class GaugeSource(Collector):
    """A gauge read at scrape time from `read()`: (label values, value) pairs. Registered once
    per name; a second source of the same name (another instance in one process, as in tests)
    replaces the first."""

    _by_name: dict[str, GaugeSource] = {}

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Iterable[str],
        read: Callable[[], Iterable[tuple[tuple[str, ...], float]]],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = list(labels)
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, value in self.read():
            family.add_metric(list(values), value)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Describing without collecting: registration must not call `read` (not ready yet).
        yield GaugeMetricFamily(self.name, self.documentation, labels=self.labels)


def gauge(
    name: str,
    documentation: str,
    labels: Iterable[str],
    read: Callable[[], Iterable[tuple[tuple[str, ...], float]]],
) -> GaugeSource:
    """Register (or replace) a gauge read at scrape time."""
    source = GaugeSource(name, documentation, labels, read)
    old = GaugeSource._by_name.get(name)
    if old is not None:
        REGISTRY.unregister(old)
    REGISTRY.register(source)
    GaugeSource._by_name[name] = source
    return source


# cache -> what it holds now, by kind of entry (read at scrape time).
_CACHES: dict[str, Callable[[], Mapping[str, int]]] = {}


def cache_sizes(cache: str, read: Callable[[], Mapping[str, int]]) -> None:
    """Report the entries of `cache` (kind -> count) as `forge_cache_entries`."""
    _CACHES[cache] = read


gauge(
    "forge_cache_entries",
    "Entries a service's cache holds now, by cache and kind of entry.",
    ["cache", "kind"],
    lambda: [((c, k), float(n)) for c, read in list(_CACHES.items()) for k, n in read().items()],
)


def invalidated(cache: str) -> Callable[[], None]:
    """A callback counting one change applied to `cache` (`forge_cache_invalidations_total`)."""
    return CACHE_INVALIDATIONS.labels(cache).inc
