"""One `/metrics` for a node served by several HTTP processes (`--processes N`).

Each process keeps its own registry (its collectors read live objects of its event loop)
and serves it on a Unix socket of its own, `<dir>/<slot>.sock`, in a folder the node's
supervisor made. Whoever answers a scrape (the supervisor on `CONFAB_METRICS_PORT`, or
any of the processes on the public port) reads every socket and answers them all in one
exposition, each series with a `process` label (the slot, 0 to N-1): Prometheus then sees
each process as it would a target of its own, so a process that is replaced resets only
its own counters (which rate() handles), and sums over `process` give the node's figures.
`confab_http_processes` says how many processes answered.

Sockets, not ports: the folder is private to the node, and a restarted process takes its
slot's socket again.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

PROCESS_LABEL = "process"
_SCRAPE_TIMEOUT_SECONDS = 5.0


def socket_path(directory: Path, slot: int) -> Path:
    """Where the process in `slot` serves its own metrics."""
    return directory / f"{slot}.sock"


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def scrape(path: Path, timeout: float = _SCRAPE_TIMEOUT_SECONDS) -> str | None:
    """The exposition one process serves on `path`; None if it does not answer (it is
    starting, restarting or gone)."""
    connection = _UnixConnection(path, timeout)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
        return body.decode() if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


class _Merged(Collector):
    """The families of every process, each sample labelled with its process."""

    def __init__(self, expositions: Mapping[int, str], expected: int) -> None:
        self._expositions = expositions
        self._expected = expected

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for slot in sorted(self._expositions):
            for family in text_string_to_metric_families(self._expositions[slot]):
                merged = families.get(family.name)
                if merged is None:
                    merged = Metric(family.name, family.documentation, family.type, family.unit)
                    families[family.name] = merged
                for sample in family.samples:
                    labels = {**sample.labels, PROCESS_LABEL: str(slot)}
                    merged.samples.append(sample._replace(labels=labels))
        yield from families.values()
        processes = GaugeMetricFamily(
            "confab_http_processes",
            "HTTP processes of this node: expected, and answering this scrape",
            labels=["state"],
        )
        processes.add_metric(["expected"], self._expected)
        processes.add_metric(["answering"], len(self._expositions))
        yield processes


def merge(expositions: Mapping[int, str], expected: int) -> bytes:
    """One text exposition of the processes' own (`slot -> text`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(expositions, expected))
    return generate_latest(registry)


def gather(directory: Path, processes: int, timeout: float = _SCRAPE_TIMEOUT_SECONDS) -> bytes:
    """The node's exposition: every process's metrics, read from its socket now.

    The sockets are read at once, one thread each, so a process that hangs costs a scrape
    `timeout` once, not once per process.
    """
    if processes <= 0:
        return merge({}, processes)
    paths = [socket_path(directory, slot) for slot in range(processes)]
    with ThreadPoolExecutor(max_workers=processes, thread_name_prefix="metrics-scrape") as pool:
        texts = list(pool.map(lambda path: scrape(path, timeout), paths))
    found = {slot: text for slot, text in enumerate(texts) if text is not None}
    return merge(found, processes)


class GatheringServer:
    """`GET /metrics` on a TCP port, answered by `exposition()` (a thread of its own:
    the node's supervisor has no event loop)."""

    def __init__(self, host: str, port: int, exposition: Callable[[], bytes]) -> None:
        content_type = "text/plain; version=0.0.4; charset=utf-8"

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exposition()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes are not logged (every 15 s, forever)."""

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self.port: int = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        with contextlib.suppress(Exception):
            if self._thread.is_alive():
                self._server.shutdown()
        self._server.server_close()
