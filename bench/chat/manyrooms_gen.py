"""Many-rooms write load generator, its own process: ``python -m bench.chat.manyrooms_gen``.

10,000 clients (one user each) in 1,000 rooms of 10 (client `i` in room `i // 10`), each
joined to its room. At a fixed offered rate, a random client writes the next operation of
the mix (`bench/chat/mix.py`): a `send`, a `react`/`unreact` or a `read` marker, each with a
client_id stamped with its send time. The figure is the ack: an event stored (the ack
carries its seq) and acknowledged after commit. Steps ramp the rate up (x factor until a
step fails, then bisection) and a step passes when the ack p99 stays under the limit, fewer
than 0.1% of the operations go unanswered and >= 95% of the schedule went out.

Same parent protocol as `loadgen.py` (LOG, MARK, RESULT lines; the config on stdin), so the
parent reads the server's CPU around every measured window; connections and framing are
`wsclient.Conn`; percentiles, pass criteria and the ramp are `stats`.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.chat import mix, stats
from bench.chat.loadgen import cpu_seconds, emit, log
from bench.chat.runtime import raise_fd_limit, run_loop
from bench.chat.sched import CoreNoise
from bench.chat.wsclient import Conn, Dialect, PeerDialect, connect_joined


@dataclass
class Config:
    """Everything the generator needs; see bench/chat/manyrooms.py for the defaults."""

    host: str
    port: int
    tokens: list[str]
    rooms: list[str]
    room_size: int = 10
    mix: dict[str, float] = field(default_factory=lambda: {"send": 1.0})
    seed: int = 1
    connect_concurrency: int = 200
    connect_timeout: float = 120.0
    ramp_start: float = 500.0
    ramp_factor: float = 1.5
    ramp_max: float = 20000.0
    ramp_refinements: int = 3
    ramp_max_steps: int = 16
    step_warmup: float = 1.0
    step_duration: float = 5.0
    step_drain: float = 3.0
    p99_limit_ms: float = 100.0
    server_pid: int | None = None
    server_core: int | None = None
    generator_core: int | None = None
    noise_limit: float = 0.1
    dialect: str = "confab"  # or "websockets": the bare peer (user names, no tickets)


@dataclass
class Window:
    """Acks of the operations stamped in [start, end)."""

    start: float = 0.0
    end: float = 0.0
    latencies: list[float] = field(default_factory=list)
    stored: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    errors: int = 0


class Generator:
    """Sink of every connection; drives the ramp."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.dialect = Dialect() if config.dialect == "confab" else PeerDialect()
        self.workload = mix.Workload(config.rooms, config.room_size, config.mix, config.seed)
        self.noise = CoreNoise(config.server_pid, config.server_core, config.generator_core)
        self.conns: list[Conn | None] = [None] * self.workload.clients
        self.pending: dict[int, tuple[mix.Op, float]] = {}
        self.window = Window()
        self.number = 0
        self.deliveries = 0
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.closed = 0
        self.last_frame = 0.0

    # -- sink --------------------------------------------------------------------------------
    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        self.deliveries += 1
        self.last_frame = now

    def on_ack(self, conn: Conn, payload: bytes, now: float) -> None:
        self.last_frame = now
        cid, message_id, seq = mix.parse_ack(payload)
        number = mix.number_of(cid)
        entry = self.pending.pop(number, None) if number is not None else None
        if entry is None:
            return
        op, stamp = entry
        self.workload.acked(op, message_id, seq)
        window = self.window
        if window.start <= stamp < window.end:
            window.latencies.append(now - stamp)
            if seq is not None:
                window.stored += 1
                window.by_kind[op.kind] = window.by_kind.get(op.kind, 0) + 1

    def on_error(self, conn: Conn, payload: bytes) -> None:
        text = payload[:200].decode("utf-8", "replace")
        try:
            frame = json.loads(payload)
        except ValueError:
            frame = {}
        code = str(frame.get("code", text[:40]))
        self.errors[code] = self.errors.get(code, 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text)
        number = mix.number_of(str(frame.get("client_id", "")))
        entry = self.pending.pop(number, None) if number is not None else None
        if entry is not None and self.window.start <= entry[1] < self.window.end:
            self.window.errors += 1

    def on_closed(self, conn: Conn) -> None:
        self.closed += 1

    # -- connections -------------------------------------------------------------------------
    async def open(self) -> dict[str, int]:
        """Connect every client and join it to its room; failures by kind."""
        cfg = self.config
        gate = asyncio.Semaphore(cfg.connect_concurrency)
        failures: dict[str, int] = {}

        async def one(index: int) -> None:
            room = self.workload.room_of(index)
            async with gate:
                try:
                    async with asyncio.timeout(cfg.connect_timeout):
                        self.conns[index] = await connect_joined(
                            self, self.dialect, index, cfg.tokens[index], cfg.host, cfg.port, room
                        )
                except (OSError, ConnectionError, TimeoutError) as exc:
                    kind = str(exc)[:60] or type(exc).__name__
                    failures[kind] = failures.get(kind, 0) + 1

        await asyncio.gather(*(one(i) for i in range(self.workload.clients)))
        return failures

    def post(self, op: mix.Op) -> float | None:
        """Send `op` on its client's connection: its stamp, None if that one is gone."""
        conn = self.conns[op.client]
        if conn is None or conn.closed:
            return None
        self.number += 1
        stamp = time.perf_counter()
        cid = mix.client_id(stamp, self.number)
        if op.kind == "send":
            text = f"many-rooms message {self.number} from client {op.client}"
            frame = self.dialect.send(op.room, text, cid)
        elif op.kind == "read":
            frame = self.dialect.read(op.room, op.seq, cid)
        else:
            frame = self.dialect.react(op.room, op.target, op.emoji, cid, op.kind == "react")
        self.pending[self.number] = (op, stamp)
        conn.send_text(frame)
        return stamp

    async def quiet(self, seconds: float = 0.5, limit: float = 30.0) -> None:
        """Wait until nothing arrived for `seconds` (bounded by `limit`)."""
        began = time.perf_counter()
        while time.perf_counter() - began < limit:
            if time.perf_counter() - max(self.last_frame, began) >= seconds:
                return
            await asyncio.sleep(0.1)

    # -- one fixed-rate step -----------------------------------------------------------------
    async def step(self, rate: float, label: str) -> dict[str, Any]:
        """Offer `rate` operations/s for warm-up + window; measure the window's acks."""
        cfg = self.config
        t0 = time.perf_counter() + 0.05
        win_start = t0 + cfg.step_warmup
        win_end = win_start + cfg.step_duration
        self.window = window = Window(win_start, win_end)
        interval = 1.0 / rate
        sent = 0
        k = 0
        marked = False
        cpu0 = 0.0
        deliveries0 = 0
        while True:
            due = t0 + k * interval
            if due >= win_end:
                break
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
                now = time.perf_counter()
            if not marked and now >= win_start:
                marked = True
                cpu0 = cpu_seconds()
                deliveries0 = self.deliveries
                self.noise.start()
                emit("MARK", f"{label}:start")
            # Behind schedule (the loop was busy), every operation due is sent at once.
            stamp = self.post(self.workload.next())
            if stamp is not None and win_start <= stamp < win_end:
                sent += 1
            k += 1
        now = time.perf_counter()
        if now < win_end:
            await asyncio.sleep(win_end - now)
        cpu1 = cpu_seconds()
        deliveries = self.deliveries - deliveries0
        foreign = self.noise.stop(cfg.step_duration)
        emit("MARK", f"{label}:end")
        deadline = time.perf_counter() + cfg.step_drain
        while time.perf_counter() < deadline and len(window.latencies) + window.errors < sent:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        self.window = Window()
        missing = max(0, sent - len(window.latencies))
        summary = stats.latency_summary(window.latencies, missing)
        duration = cfg.step_duration
        achieved = sent / duration
        loss = missing / sent if sent else 1.0
        result: dict[str, Any] = {
            "rate": rate,
            "sent": sent,
            "achieved_rate": achieved,
            "acked": len(window.latencies),
            "stored": window.stored,
            "stored_per_s": window.stored / duration,
            "stored_by_kind": dict(window.by_kind),
            "errors": window.errors,
            "loss": loss,
            "deliveries_per_s": deliveries / duration,
            "client_cpu_pct": 100.0 * (cpu1 - cpu0) / duration,
            "foreign_server_core": foreign[0],
            "foreign_generator_core": foreign[1],
            "disturbed": max(foreign) > cfg.noise_limit,
            **{f"ack_{k}": v for k, v in summary.items()},
        }
        criteria = stats.Criteria(p99_ms=cfg.p99_limit_ms)
        result["passed"] = stats.step_passes(
            summary["p99_ms"], loss, achieved, rate, criteria, window_s=duration
        )
        return result

    async def run(self) -> dict[str, Any]:
        """Connect, ramp, report."""
        cfg = self.config
        began = time.perf_counter()
        emit("MARK", "join:start")  # the node's CPU to admit every client (ticket, join)
        failures = await self.open()
        emit("MARK", "join:end")
        connected = sum(1 for c in self.conns if c is not None)
        log(f"{connected}/{len(self.conns)} clients joined in {time.perf_counter() - began:.0f} s")
        if failures:
            log(f"connection failures: {failures}")
        await self.quiet(1.0, 60.0)
        ramp = stats.Ramp(
            cfg.ramp_start,
            cfg.ramp_factor,
            cfg.ramp_max,
            refinements=cfg.ramp_refinements,
            max_steps=cfg.ramp_max_steps,
        )
        steps: list[dict[str, Any]] = []
        rate: float | None = ramp.first()
        while rate is not None:
            result = await self.step(rate, f"step{len(steps)}")
            steps.append(result)
            log(step_line(result))
            await self.quiet()
            rate = ramp.next(rate, bool(result["passed"]), bool(result["disturbed"]))
        for conn in self.conns:
            if conn is not None:
                conn.close()
        return {
            "clients": len(self.conns),
            "connected": connected,
            "connect_failures": failures,
            "connect_seconds": time.perf_counter() - began,
            "steps": steps,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "closed": self.closed,
            "posted_total": self.number,
            "client_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def step_line(result: dict[str, Any]) -> str:
    """One progress line per step."""
    return (
        f"{result['rate']:7.0f} ops/s -> {result['stored_per_s']:7.0f} stored+acked/s"
        f"  ack p50 {result['ack_p50_ms']:7.1f} ms  p99 {result['ack_p99_ms']:7.1f} ms"
        f"  unanswered {100 * result['loss']:5.2f}%  errors {result['errors']}"
        f"  {result['deliveries_per_s']:7.0f} deliveries/s  client CPU"
        f" {result['client_cpu_pct']:3.0f}%  other work {result['foreign_server_core']:.2f}/"
        f"{result['foreign_generator_core']:.2f}  {'ok' if result['passed'] else 'FAIL'}"
    )


def main() -> None:
    """Read the config line, run, print RESULT."""
    config = Config(**json.loads(sys.stdin.readline()))
    needed = len(config.tokens) + 1024
    limit = raise_fd_limit(needed)
    if limit < needed:
        log(f"fd limit {limit} < {needed}: some connections will fail on this side")
    result = run_loop(Generator(config).run())
    emit("RESULT", json.dumps(result, separators=(",", ":"), default=str))


if __name__ == "__main__":
    main()
