"""HTTP load generator, run in its own process: ``python -m bench.media.loadgen < config.json``.

By default it opens a new TCP connection per request (``Connection: close``) so a pre-forked
server such as thumbor spreads the requests over all its processes; a few long keep-alive
connections would pin them to one or two processes and make thumbor look slower than it is
(``keepalive: true`` does that, to show the effect). The client
is a minimal HTTP/1.1 reader on asyncio streams (uvloop when present) to keep its own CPU
use small: on a 2-core machine it competes with the server under test.

Protocol with the parent (stdout, one line each): ``MEASURE_START`` when the warm-up ends,
``MEASURE_END`` when the measured requests have all finished, then one JSON line with the
results. Config (stdin JSON): host, port, paths, sequence (indices into paths, cycled;
default round robin), concurrency, warmup, duration, max_requests, timeout,
unique_inflight (never two identical requests in flight: keeps a server's single-flight out
of an uncached measurement), hit_header (a response header whose value HIT marks a cache hit).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Config:
    """What to request, how hard and for how long."""

    host: str
    port: int
    paths: list[str]
    sequence: list[int] | None = None
    concurrency: int = 8
    warmup: float = 3.0
    duration: float = 20.0
    max_requests: int = 100_000
    timeout: float = 60.0
    unique_inflight: bool = False
    hit_header: str | None = None
    keepalive: bool = False


@dataclass
class Response:
    """What the load generator keeps of one response."""

    status: int
    length: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Client:
    """One HTTP/1.1 connection at a time: a fresh one per request, or kept alive."""

    def __init__(self, host: str, port: int, keepalive: bool = False) -> None:
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, path: str, keep_body: bool = False) -> Response:
        """One GET; reads the whole body (by Content-Length, else to EOF)."""
        try:
            return await self._get(path, keep_body)
        except BaseException:
            self.close()
            raise

    async def _get(self, path: str, keep_body: bool) -> Response:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.reader, self.writer
        mode = "keep-alive" if self.keepalive else "close"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: */*\r\n"
            f"Connection: {mode}\r\n\r\n"
        )
        writer.write(request.encode("latin-1"))
        # One read for the whole head: cheaper than a readline per header.
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ConnectionError(f"bad status line {lines[0][:60]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        if length is not None:
            body = await reader.readexactly(int(length))
        else:
            body = await reader.read()
        if not self.keepalive or length is None or headers.get("connection") == "close":
            self.close()
        return Response(
            status=status, length=len(body), body=body if keep_body else b"", headers=headers
        )


class Runner:
    """Drives `concurrency` workers over the request sequence for warm-up + duration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.sequence = config.sequence or list(range(len(config.paths)))
        self.cursor = 0
        self.issued = 0
        self.inflight: set[int] = set()
        self.records: list[list[Any]] = []
        self.errors: dict[str, int] = {}
        self.warmup_requests = 0
        self.t_measure = 0.0
        self.t_stop = 0.0
        self.last_done = 0.0
        # First successful answer per path (seconds from the measure start; < 0 in warm-up).
        self.first_done: dict[str, float] = {}

    def _next_path(self) -> int:
        """The next path index; skips paths in flight when asked to."""
        seq = self.sequence
        for _ in range(len(seq)):
            index = seq[self.cursor % len(seq)]
            self.cursor += 1
            if not self.config.unique_inflight or index not in self.inflight:
                return index
        return seq[self.cursor % len(seq)]

    async def _worker(self) -> None:
        cfg = self.config
        hit_header = cfg.hit_header.lower() if cfg.hit_header else None
        client = Client(cfg.host, cfg.port, keepalive=cfg.keepalive)
        while True:
            now = time.perf_counter()
            if now >= self.t_stop or self.issued >= cfg.max_requests:
                client.close()
                return
            measured = now >= self.t_measure
            if measured:
                self.issued += 1
            index = self._next_path()
            self.inflight.add(index)
            start = time.perf_counter()
            try:
                # asyncio.timeout, not wait_for: no extra task per request.
                async with asyncio.timeout(cfg.timeout):
                    response = await client.get(cfg.paths[index])
                status = response.status
                nbytes = response.length
                hit = -1
                if hit_header is not None:
                    hit = 1 if response.headers.get(hit_header, "").upper() == "HIT" else 0
            except (
                TimeoutError,
                OSError,
                ValueError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
            ) as exc:
                status, nbytes, hit = 0, 0, -1
                kind = type(exc).__name__
                self.errors[kind] = self.errors.get(kind, 0) + 1
            finally:
                self.inflight.discard(index)
            end = time.perf_counter()
            if status == 200 and str(index) not in self.first_done:
                self.first_done[str(index)] = round(end - self.t_measure, 6)
            if measured:
                self.records.append(
                    [
                        round(start - self.t_measure, 6),
                        round(end - start, 6),
                        status,
                        nbytes,
                        index,
                        hit,
                    ]
                )
                self.last_done = max(self.last_done, end)
            else:
                self.warmup_requests += 1

    async def run(self) -> dict[str, Any]:
        cfg = self.config
        start = time.perf_counter()
        self.t_measure = start + cfg.warmup
        self.t_stop = self.t_measure + cfg.duration
        workers = [asyncio.create_task(self._worker()) for _ in range(cfg.concurrency)]
        await asyncio.sleep(max(0.0, self.t_measure - time.perf_counter()))
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        print("MEASURE_START", flush=True)
        await asyncio.gather(*workers)
        print("MEASURE_END", flush=True)
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
        elapsed = max(1e-9, (self.last_done or time.perf_counter()) - self.t_measure)
        return {
            "records": self.records,
            "warmup_requests": self.warmup_requests,
            "elapsed": elapsed,
            "client_cpu_seconds": cpu,
            "errors": self.errors,
            "first_done": self.first_done,
        }


def main() -> None:
    """Read the config from stdin, run, print the protocol lines and the JSON result."""
    config = Config(**json.loads(sys.stdin.read()))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(Runner(config).run())
    # Written on the file descriptor itself: after uvloop has run, a result longer than
    # the pipe's buffer (64 KiB) written through sys.stdout arrived cut short.
    sys.stdout.flush()
    os.set_blocking(1, True)
    view = memoryview((json.dumps(result, separators=(",", ":")) + "\n").encode())
    while view:
        view = view[os.write(1, view) :]


if __name__ == "__main__":
    main()
