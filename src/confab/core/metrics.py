"""Prometheus metrics of one node, in a registry of its own (no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Every metric a node exports. Services get this object and record on it."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "confab_http_requests",
            "HTTP requests served",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "confab_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("confab_http_in_flight", "HTTP requests in flight", registry=r)
        self.renders = Counter("confab_media_renders", "Thumbnail renders", ["outcome"], registry=r)
        self.render_seconds = Histogram(
            "confab_media_render_duration_seconds",
            "Render latency (queue + work)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache = Counter(
            "confab_media_result_cache", "Result cache look-ups", ["result"], registry=r
        )
        self.fetch_refusals = Counter(
            "confab_media_fetch_refusals", "Source fetches refused", ["reason"], registry=r
        )
        self.fetches = Counter("confab_media_fetches", "Source fetches", ["outcome"], registry=r)
        self.jobs = Counter("confab_jobs", "Jobs run", ["task", "outcome"], registry=r)
        self.job_seconds = Histogram(
            "confab_job_duration_seconds",
            "Job latency",
            ["task"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.render_queue_wait = Histogram(
            "confab_render_queue_wait_seconds",
            "Time a media job waited for a render worker (local pool or Celery)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "confab_event_loop_lag_seconds",
            "How late the event loop ran a timer (sampled every 0.25 s)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        # Labelled children by label values: `labels()` validates and locks on every call,
        # which shows up at thousands of requests per second.
        self._request_counts: dict[tuple[str, str, int], Counter] = {}
        self._request_timers: dict[str, Histogram] = {}

    def record_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one HTTP request and observe its latency."""
        count = self._request_counts.get((route, method, status))
        if count is None:
            count = self.requests.labels(route, method, str(status))
            self._request_counts[(route, method, status)] = count
        count.inc()
        timer = self._request_timers.get(route)
        if timer is None:
            timer = self._request_timers[route] = self.request_seconds.labels(route)
        timer.observe(seconds)

    def track_count(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Export a count an adapter keeps itself (read at each scrape) as a counter."""
        self.registry.register(_CountReader(name, documentation, read))

    def track_gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Export a level an adapter keeps itself (read at each scrape) as a gauge."""
        self.registry.register(_GaugeReader(name, documentation, read))

    def render_text(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class _CountReader(Collector):
    """A counter whose value lives elsewhere: read when /metrics is scraped."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self._read())


class _GaugeReader(_CountReader):
    """A gauge whose value lives elsewhere: read when /metrics is scraped."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, value=self._read())
