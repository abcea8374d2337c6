"""Chat load generator, its own process: ``python -m bench.chat.loadgen`` (config on stdin).

One phase per run, against one server process:

- ``traffic``: N clients (one user each) join one room; the send-rate ramp (deliveries/s
  while p99 stays under the limit), then the fixed-rate latency run (50 msg/s).
- ``idle``: W warm-up connections, a memory sample, then up to N connections, a second one.
- ``capacity``: connections in batches up to a cap or a deadline; then one message to the
  room counts how many of them still receive.

With ``reconnect`` (bench/scale turns it on), a joined client whose connection closes
(a draining node's 1012, a reset) comes back: it waits as `bench/reconnect.py` says (the
delay the server suggested plus jitter, else jittered exponential backoff: the browser's
rule), asks for a new ticket, connects through the same address (nginx picks a node) and
joins again. It is out of the step it was closed in (its deliveries there count as
lost) and in the next ones.

Every message is sent by the next client in turn (1,000 people talking in one room; a
per-user rate limit is never approached) with its send time stamped in the text. Every
receiver computes its latency at once, so p99 covers every delivery, not a sample.

Protocol with the parent, one line each on stdout: ``LOG <text>``; ``MARK <label>``
(the parent reads the server's CPU time at once, no reply); ``SAMPLE <label>`` (the parent
samples the server's memory and answers ``ok`` on stdin: the generator waits for it);
``RESULT <json>`` at the end. The config is the first line on stdin.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.chat import stats
from bench.chat.runtime import raise_fd_limit, run_loop
from bench.chat.sched import CoreNoise, self_wait_seconds
from bench.chat.wsclient import DIALECTS, STAMP, Conn, connect_joined
from bench.reconnect import Backoff

from confab.core.clock import Clock, LoopClock

WAIT_POLL = 0.05


@dataclass
class Config:
    """Everything the generator needs; see bench/chat/run.py for the defaults."""

    host: str
    port: int
    dialect: str
    tokens: list[str]
    room: str = "bench"
    phase: str = "traffic"
    clients: int = 1000
    connect_concurrency: int = 100
    connect_timeout: float = 30.0
    # traffic: ramp
    ramp: bool = True
    ramp_start: float = 5.0
    ramp_factor: float = 1.5
    ramp_max: float = 400.0
    ramp_refinements: int = 3
    ramp_max_steps: int = 20
    step_warmup: float = 1.0
    step_duration: float = 4.0
    step_drain: float = 3.0
    step_min_messages: int = 10
    step_max_duration: float = 20.0
    p99_limit_ms: float = 200.0
    # traffic: fixed-rate latency
    latency: bool = True
    latency_rate: float = 50.0
    latency_warmup: float = 2.0
    latency_duration: float = 15.0
    latency_drain: float = 15.0
    # idle / capacity
    idle_connections: int = 5000
    idle_warm: int = 100
    settle: float = 3.0
    max_connections: int = 20000
    capacity_batch: int = 1000
    capacity_deadline: float = 180.0
    quiet_limit: float = 60.0
    join: bool = True
    reconnect: bool = False  # a joined client that loses its connection comes back
    # noise: foreign work on the pinned cores (see bench/chat/sched.py)
    server_pid: int | None = None
    server_core: int | None = None
    generator_core: int | None = None
    noise_limit: float = 0.1  # cores of other work that make a failing step "disturbed"
    wait_limit: float = 0.25  # share of a step the generator waited for a CPU: "disturbed"
    latency_attempts: int = 3


def emit(kind: str, text: str) -> None:
    """One protocol line to the parent."""
    sys.stdout.write(f"{kind} {text}\n")
    sys.stdout.flush()


def log(text: str) -> None:
    """A progress line the parent prints."""
    emit("LOG", text)


def cpu_seconds() -> float:
    """This process's user + system CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sys_seconds() -> float:
    """This process's system (kernel) CPU seconds."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


@dataclass
class Window:
    """Counts for messages whose stamp falls in [start, end)."""

    start: float = 0.0
    end: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    received: int = 0  # message frames received (any stamp) while the window was open


class Generator:
    """The sink of every connection and the driver of the phases."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        """`clock` times the reconnect delays (the event loop's; tests pass a ManualClock)."""
        self.config = config
        self.clock = clock or LoopClock()
        self.dialect = DIALECTS[config.dialect]()
        self.noise = CoreNoise(config.server_pid, config.server_core, config.generator_core)
        self.conns: list[Conn] = []
        self.members: set[Conn] = set()  # the conns that joined (and are in `conns`)
        self.window = Window()
        self.last_frame = 0.0
        self.received = 0
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.closed = 0
        self.close_codes: dict[str, int] = {}
        self.cursor = 0
        self.number = 0
        self.index = 0
        self.acks_total = 0
        self.stopping = False
        self.reconnects = 0  # connections that came back
        self.backoffs: dict[int, Backoff] = {}  # per client index, while it reconnects
        self._reconnecting: set[asyncio.Task[None]] = set()

    # -- sink ------------------------------------------------------------------------------
    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        self.received += 1
        self.last_frame = now
        window = self.window
        if window.start <= now < window.end:
            window.received += 1
        start = payload.find(STAMP)
        if start < 0:
            return
        end = payload.find(STAMP, start + 2)
        stamp = float(payload[start + 2 : end])
        if window.start <= stamp < window.end:
            window.latencies.append(now - stamp)

    def on_ack(self, conn: Conn, payload: bytes, now: float) -> None:
        self.last_frame = now
        self.acks_total += 1
        start = payload.find(STAMP)
        if start < 0:
            return
        end = payload.find(STAMP, start + 2)
        stamp = float(payload[start + 2 : end])
        if self.window.start <= stamp < self.window.end:
            self.window.acks.append(now - stamp)

    def on_error(self, conn: Conn, payload: bytes) -> None:
        text = payload[:200].decode("utf-8", "replace")
        try:
            decoded = json.loads(payload)
            code = str(decoded.get("code")) if isinstance(decoded, dict) else text[:40]
        except ValueError:
            code = text[:40]
        self.errors[code] = self.errors.get(code, 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text)

    def on_closed(self, conn: Conn) -> None:
        self.closed += 1
        key = str(conn.close_code)
        self.close_codes[key] = self.close_codes.get(key, 0) + 1
        # Only a client that was in (joined) comes back; a failed attempt is the
        # reconnect loop's own business.
        if self.config.reconnect and not self.stopping and conn in self.members:
            task = asyncio.get_running_loop().create_task(self._reconnect(conn))
            self._reconnecting.add(task)
            task.add_done_callback(self._reconnecting.discard)

    async def _reconnect(self, lost: Conn) -> None:
        """Bring `lost`'s client back (see the module docstring), until it is in again."""
        backoff = self.backoffs.setdefault(lost.index, Backoff())
        code, reason = lost.close_code, lost.close_reason
        while not self.stopping:
            await self.clock.sleep(backoff.delay(code, reason))
            if self.stopping:
                return
            try:
                conn = await self._connect(lost.index)
            except (OSError, ConnectionError, TimeoutError):
                code, reason = None, ""  # a failed attempt: the exponential steps
                continue
            backoff.reset()
            self.members.discard(lost)
            self.members.add(conn)
            self.conns[self.conns.index(lost)] = conn
            self.reconnects += 1
            return

    # -- connections -----------------------------------------------------------------------
    async def _connect(self, index: int) -> Conn:
        """Client `index`'s connection, greeted and joined to the room (or raises)."""
        cfg = self.config
        token = cfg.tokens[index % len(cfg.tokens)]
        room = cfg.room if cfg.join else None
        async with asyncio.timeout(cfg.connect_timeout):
            return await connect_joined(self, self.dialect, index, token, cfg.host, cfg.port, room)

    async def open(self, count: int) -> dict[str, int]:
        """Open `count` more connections (joined to the room); failures by kind."""
        cfg = self.config
        gate = asyncio.Semaphore(cfg.connect_concurrency)
        failures: dict[str, int] = {}

        async def one(index: int) -> None:
            async with gate:
                try:
                    conn = await self._connect(index)
                except (OSError, ConnectionError, TimeoutError) as exc:
                    kind = type(exc).__name__
                    if isinstance(exc, ConnectionError) and str(exc):
                        kind = str(exc)[:60]
                    failures[kind] = failures.get(kind, 0) + 1
                    return
                self.conns.append(conn)
                self.members.add(conn)

        first = self.index
        self.index += count
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        return failures

    def open_conns(self) -> list[Conn]:
        """Connections still open."""
        return [conn for conn in self.conns if not conn.closed]

    async def quiet(self, seconds: float = 1.0, limit_s: float | None = None) -> float:
        """Wait until no frame arrived for `seconds` (bounded); return the time waited."""
        began = time.perf_counter()
        limit = began + (self.config.quiet_limit if limit_s is None else limit_s)
        while time.perf_counter() < limit:
            if time.perf_counter() - max(self.last_frame, began) >= seconds:
                break
            await asyncio.sleep(0.1)
        return time.perf_counter() - began

    # -- one fixed-rate run --------------------------------------------------------------
    async def step(
        self, rate: float, warmup: float, duration: float, drain: float, label: str
    ) -> dict[str, Any]:
        """Send at `rate` msg/s for warmup + duration; measure the messages of the window."""
        cfg = self.config
        # Slow rates get a longer window so a step still holds enough messages.
        duration = min(max(duration, cfg.step_min_messages / rate), cfg.step_max_duration)
        senders = self.open_conns()
        recipients = len(senders)
        if not senders:
            raise RuntimeError("no open connection left")
        t0 = time.perf_counter() + 0.05
        win_start = t0 + warmup
        win_end = win_start + duration
        self.window = window = Window(win_start, win_end)
        sent = 0
        interval = 1.0 / rate
        k = 0
        marked = False
        cpu0 = sys0 = wait0 = 0.0
        lag_max = 0.0
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
                sys0 = sys_seconds()
                wait0 = self_wait_seconds()
                self.noise.start()
                emit("MARK", f"{label}:start")
            if now - due > lag_max and due >= win_start:
                lag_max = now - due
            conn = senders[self.cursor % len(senders)]
            self.cursor += 1
            if conn.closed:
                senders = [c for c in senders if not c.closed] or senders
                continue
            self.number += 1
            stamp = conn.post(cfg.room, self.number)
            if win_start <= stamp < win_end:
                sent += 1
            k += 1
        now = time.perf_counter()
        if now < win_end:
            await asyncio.sleep(win_end - now)
        cpu1 = cpu_seconds()
        sys1 = sys_seconds()
        wait1 = self_wait_seconds()
        foreign = self.noise.stop(duration)
        emit("MARK", f"{label}:end")
        expected = sent * recipients
        deadline = time.perf_counter() + drain
        while time.perf_counter() < deadline:
            if len(window.latencies) >= expected and len(window.acks) >= sent:
                break
            await asyncio.sleep(WAIT_POLL)
        # Freeze the window: frames that arrive from now on are not counted.
        self.window = Window()
        delivered = min(len(window.latencies), expected)
        missing = expected - delivered
        summary = stats.latency_summary(window.latencies, missing)
        acks = stats.latency_summary(window.acks, max(0, sent - len(window.acks)))
        loss = missing / expected if expected else 1.0
        achieved = sent / duration
        result: dict[str, Any] = {
            "rate": rate,
            "sent": sent,
            "achieved_rate": achieved,
            "recipients": recipients,
            "expected": expected,
            "delivered": delivered,
            "loss": loss,
            "deliveries_per_s": delivered / duration,
            # What the server pushed while the window was open, whenever the messages were
            # sent: its saturation throughput once it cannot keep up.
            "received_per_s": window.received / duration,
            "duration": duration,
            "acks": len(window.acks),
            "ack_p50_ms": acks["p50_ms"],
            "ack_p99_ms": acks["p99_ms"],
            "client_cpu_pct": 100.0 * (cpu1 - cpu0) / duration,
            "client_sys_pct": 100.0 * (sys1 - sys0) / duration,
            "client_wait_pct": 100.0 * (wait1 - wait0) / duration,
            "send_lag_max_ms": lag_max * 1000.0,
            "closed_so_far": self.closed,
            "reconnects_so_far": self.reconnects,
            "foreign_server_core": foreign[0],
            "foreign_generator_core": foreign[1],
            "disturbed": stats.disturbed(
                foreign, cfg.noise_limit, (wait1 - wait0) / duration, cfg.wait_limit
            ),
            **summary,
        }
        criteria = stats.Criteria(p99_ms=cfg.p99_limit_ms)
        result["passed"] = stats.step_passes(
            summary["p99_ms"], loss, achieved, rate, criteria, window_s=duration
        )
        return result

    # -- phases ----------------------------------------------------------------------------
    async def traffic(self) -> dict[str, Any]:
        """Connect the clients, ramp the send rate, then the fixed-rate latency run."""
        cfg = self.config
        began = time.perf_counter()
        failures = await self.open(cfg.clients)
        connected = len(self.open_conns())
        log(f"{connected}/{cfg.clients} clients joined in {time.perf_counter() - began:.1f} s")
        if connected < cfg.clients:
            log(f"connection failures: {failures}")
        waited = await self.quiet()
        log(f"quiet after {waited:.1f} s")
        out: dict[str, Any] = {
            "clients": cfg.clients,
            "connected": connected,
            "connect_failures": failures,
            "connect_seconds": time.perf_counter() - began,
            "steps": [],
        }
        if cfg.ramp:
            ramp = stats.Ramp(
                cfg.ramp_start,
                cfg.ramp_factor,
                cfg.ramp_max,
                refinements=cfg.ramp_refinements,
                max_steps=cfg.ramp_max_steps,
            )
            rate: float | None = ramp.first()
            index = 0
            while rate is not None:
                result = await self.step(
                    rate, cfg.step_warmup, cfg.step_duration, cfg.step_drain, f"step{index}"
                )
                out["steps"].append(result)
                log(_step_line(result))
                index += 1
                await self.quiet(0.5)
                rate = ramp.next(rate, bool(result["passed"]), bool(result["disturbed"]))
        if cfg.latency:
            # One run; again (bounded) while other work took a share of either core.
            runs: list[dict[str, Any]] = []
            for attempt in range(max(1, cfg.latency_attempts)):
                if attempt:
                    await self.quiet(0.5, limit_s=30.0)
                result = await self.step(
                    cfg.latency_rate,
                    cfg.latency_warmup,
                    cfg.latency_duration,
                    cfg.latency_drain,
                    f"latency{attempt}",
                )
                runs.append(result)
                log("latency run: " + _step_line(result))
                if not result["disturbed"]:
                    break
            best = min(
                range(len(runs)),
                key=lambda i: max(
                    runs[i]["foreign_server_core"], runs[i]["foreign_generator_core"], 0.0
                ),
            )
            out["latency"] = {**runs[best], "label": f"latency{best}", "attempts": len(runs)}
        # Let the last acks in (bounded: a saturated server may be seconds behind).
        await self.quiet(0.5, limit_s=10.0)
        out["received_total"] = self.received
        out["posted_total"] = self.number
        out["acks_total"] = self.acks_total
        return out

    async def idle(self) -> dict[str, Any]:
        """Memory per idle connection: a sample after W connections, another after N."""
        cfg = self.config
        warm = min(cfg.idle_warm, cfg.idle_connections - 1)
        failures = await self.open(warm)
        await self.quiet()
        await asyncio.sleep(cfg.settle)
        base_open = len(self.open_conns())
        await sample("idle:base")
        began = time.perf_counter()
        more = await self.open(cfg.idle_connections - warm)
        for kind, count in more.items():
            failures[kind] = failures.get(kind, 0) + count
        seconds = time.perf_counter() - began
        await self.quiet()
        await asyncio.sleep(cfg.settle)
        full_open = len(self.open_conns())
        log(f"{full_open}/{cfg.idle_connections} idle connections open ({seconds:.1f} s)")
        await sample("idle:full")
        return {
            "target": cfg.idle_connections,
            "base_open": base_open,
            "full_open": full_open,
            "added": full_open - base_open,
            "connect_failures": failures,
            "connect_seconds": seconds,
            "errors": dict(self.errors),
        }

    async def capacity(self) -> dict[str, Any]:
        """Open connections in batches up to the cap or the deadline; then probe them."""
        cfg = self.config
        began = time.perf_counter()
        deadline = began + cfg.capacity_deadline
        attempted = 0
        failures: dict[str, int] = {}
        stop_reason = "cap reached"
        await sample("capacity:base")
        while attempted < cfg.max_connections:
            if time.perf_counter() >= deadline:
                stop_reason = "deadline"
                break
            batch = min(cfg.capacity_batch, cfg.max_connections - attempted)
            before = len(self.conns)
            batch_failures = await self.open(batch)
            attempted += batch
            for kind, count in batch_failures.items():
                failures[kind] = failures.get(kind, 0) + count
            opened = len(self.conns) - before
            log(
                f"{len(self.open_conns())} open after {attempted} attempts "
                f"({time.perf_counter() - began:.0f} s)"
                + (f", failures {batch_failures}" if batch_failures else "")
            )
            if opened < batch // 2:
                stop_reason = "a batch mostly failed"
                break
        connect_seconds = time.perf_counter() - began
        await self.quiet()
        await asyncio.sleep(cfg.settle)
        held = self.open_conns()
        await sample("capacity:held")
        probe_delivered = 0
        if held and cfg.join:
            # One message to the room: every held connection must receive it.
            self.window = window = Window(time.perf_counter(), float("inf"))
            held[0].post(cfg.room, 0)
            limit = time.perf_counter() + max(30.0, cfg.settle)
            while time.perf_counter() < limit and len(window.latencies) < len(held):  # noqa: ASYNC110
                await asyncio.sleep(WAIT_POLL)
            probe_delivered = len(window.latencies)
            self.window = Window()
            probe = stats.latency_summary(window.latencies, len(held) - probe_delivered)
        else:
            probe = stats.latency_summary([], 0)
        still_open = len(self.open_conns())
        log(
            f"held {len(held)}, probe reached {probe_delivered}, "
            f"still open {still_open}, stop: {stop_reason}"
        )
        return {
            "target": cfg.max_connections,
            "attempted": attempted,
            "opened": len(self.conns),
            "held": len(held),
            "probe_delivered": probe_delivered,
            "probe_p99_ms": probe["p99_ms"],
            "still_open": still_open,
            "connect_failures": failures,
            "connect_seconds": connect_seconds,
            "stop_reason": stop_reason,
        }

    async def run(self) -> dict[str, Any]:
        """The configured phase, then the common counters."""
        phase = self.config.phase
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        if phase == "traffic":
            result = await self.traffic()
        elif phase == "idle":
            result = await self.idle()
        elif phase == "capacity":
            result = await self.capacity()
        else:
            raise ValueError(f"unknown phase {phase!r}")
        result.update(
            {
                "phase": phase,
                "errors": dict(self.errors),
                "error_samples": self.error_samples,
                "closed": self.closed,
                "close_codes": dict(self.close_codes),
                "reconnects": self.reconnects,
                "client_cpu_seconds": cpu_seconds() - cpu0,
                "client_seconds": time.perf_counter() - t0,
                "client_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
        self.close()
        return result

    def close(self) -> None:
        """Drop every connection; none of them reconnects."""
        self.stopping = True
        for task in list(self._reconnecting):
            task.cancel()
        for conn in self.conns:
            conn.close()


async def sample(label: str) -> None:
    """Ask the parent to sample the server's memory now; wait for its answer."""
    emit("SAMPLE", label)
    answer = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not answer:
        raise RuntimeError("parent went away")


def _step_line(result: dict[str, Any]) -> str:
    return (
        f"{result['rate']:6.1f} msg/s -> {result['deliveries_per_s']:8.0f} deliveries/s"
        f"  p50 {result['p50_ms']:8.1f} ms  p99 {result['p99_ms']:8.1f} ms"
        f"  loss {100 * result['loss']:5.2f}%  acks {result['acks']}/{result['sent']}"
        f"  client CPU {result['client_cpu_pct']:3.0f}% (sys {result['client_sys_pct']:.0f})"
        f" wait {result['client_wait_pct']:3.0f}%"
        f"  other work {result['foreign_server_core']:.2f}/{result['foreign_generator_core']:.2f}"
        f"  {'ok' if result['passed'] else 'FAIL'}"
    )


def main() -> None:
    """Read the config line, run the phase, print RESULT."""
    config = Config(**json.loads(sys.stdin.readline()))
    needed = max(config.clients, config.idle_connections, config.max_connections) + 1024
    limit = raise_fd_limit(needed)
    if limit < needed:
        log(f"fd limit {limit} < {needed}: connections beyond it will fail on the client side")
    result = run_loop(Generator(config).run())
    emit("RESULT", json.dumps(result, separators=(",", ":"), default=_json_default))


def _json_default(value: object) -> object:
    return str(value)


if __name__ == "__main__":
    main()
