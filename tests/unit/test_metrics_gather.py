"""One /metrics for several HTTP processes: each process's series, labelled by process."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from confab.core.metrics import Metrics
from confab.node.metrics_access import MetricsListener
from confab.node.metrics_gather import GatheringServer, gather, merge, scrape, socket_path


def _process(requests: int, renders: int) -> Metrics:
    metrics = Metrics()
    for _ in range(requests):
        metrics.record_request("media", "GET", 200, 0.003)
    metrics.renders.labels("ok").inc(renders)
    metrics.track_gauge("confab_render_queue_depth", "Jobs waiting", lambda: renders)
    return metrics


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_merge_labels_each_process_and_keeps_one_family() -> None:
    first, second = _process(3, 1), _process(5, 2)
    text = merge(
        {0: first.render_text().decode(), 1: second.render_text().decode()}, expected=3
    ).decode()
    requests = _samples(text, "confab_http_requests_total")

    def labels(process: str) -> tuple[tuple[str, str], ...]:
        return (("method", "GET"), ("process", process), ("route", "media"), ("status", "200"))

    assert requests == {labels("0"): 3.0, labels("1"): 5.0}
    counts = _samples(text, "confab_http_request_duration_seconds_count")
    assert sorted(counts.values()) == [3.0, 5.0]
    # A value read at scrape time (a collector of the process) is there too, per process.
    depth = _samples(text, "confab_render_queue_depth")
    assert depth == {(("process", "0"),): 1.0, (("process", "1"),): 2.0}
    assert text.count("# TYPE confab_http_requests_total counter") == 1
    processes = _samples(text, "confab_http_processes")
    assert processes == {(("state", "expected"),): 3.0, (("state", "answering"),): 2.0}


async def test_gather_reads_every_process_socket(tmp_path: Path) -> None:
    listeners = [
        MetricsListener.on_unix_socket(_process(slot + 1, 0), socket_path(tmp_path, slot))
        for slot in range(2)
    ]
    for listener in listeners:
        listener.start()
    try:
        # Slot 2 has no process (starting, or replaced): it is left out and counted.
        text = (await asyncio.to_thread(gather, tmp_path, 3)).decode()
        served = await asyncio.to_thread(scrape, socket_path(tmp_path, 2))
        server = GatheringServer("127.0.0.1", 0, lambda: gather(tmp_path, 3))
        server.start()
        try:
            async with httpx.AsyncClient() as client:
                over_tcp = await client.get(f"http://127.0.0.1:{server.port}/metrics")
                elsewhere = await client.get(f"http://127.0.0.1:{server.port}/other")
        finally:
            await asyncio.to_thread(server.close)
    finally:
        for listener in listeners:
            await listener.aclose()
    assert served is None
    requests = _samples(text, "confab_http_requests_total")
    assert sorted((dict(labels)["process"], value) for labels, value in requests.items()) == [
        ("0", 1.0),
        ("1", 2.0),
    ]
    assert _samples(text, "confab_http_processes")[(("state", "answering"),)] == 2.0
    assert over_tcp.status_code == 200
    assert _samples(over_tcp.text, "confab_http_requests_total") == requests
    assert elsewhere.status_code == 404


def test_hung_processes_cost_one_timeout_together_not_one_each(tmp_path: Path) -> None:
    """Three processes that take the connection and never answer (stuck loops): the
    scrape gives up on all of them after one timeout, and still answers."""
    hung = []
    for slot in range(3):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(socket_path(tmp_path, slot)))
        sock.listen()  # connects succeed (the backlog); nothing ever reads or answers
        hung.append(sock)
    try:
        started = time.monotonic()
        text = gather(tmp_path, 3, timeout=1.0).decode()
        took = time.monotonic() - started
    finally:
        for sock in hung:
            sock.close()
    assert _samples(text, "confab_http_processes")[(("state", "answering"),)] == 0.0
    # One after another they would take 3 s; together, about one timeout.
    assert 1.0 <= took < 2.5, took
