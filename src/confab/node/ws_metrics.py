"""WebSocket figures read from the protocol at scrape time: frames in, bytes queued."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from uvicorn.server import ServerState

from confab.core.metrics import Metrics
from confab.node.websocket import open_websockets, stats_for


class WebSocketServerCollector(Collector):
    """`confab_ws_frames_received_total` and `confab_ws_send_queue_bytes` of one server.

    Read when /metrics is scraped: the hot path only bumps an integer.
    """

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        """The current values."""
        stats = stats_for(self._state)
        yield CounterMetricFamily(
            "confab_ws_frames_received",
            "Client messages (events in) received on WebSockets",
            value=stats.frames_in,
        )
        queued = sum(conn.buffered() for conn in open_websockets(self._state))
        yield GaugeMetricFamily(
            "confab_ws_send_queue_bytes",
            "Bytes written to WebSockets and not yet taken by the kernel",
            value=queued,
        )
        yield GaugeMetricFamily(
            "confab_ws_draining",
            "1 while the node is closing its WebSockets for shutdown",
            value=1 if stats.draining else 0,
        )


def register_ws_metrics(metrics: Metrics, state: ServerState) -> None:
    """Export the WebSocket figures of the server owning `state` on `metrics`."""
    metrics.registry.register(WebSocketServerCollector(state))
