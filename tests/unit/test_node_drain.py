"""Draining on SIGTERM: the batch plan, the close reason, the clients' reconnect delays."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import uvicorn
from bench.reconnect import Backoff
from prometheus_client import CollectorRegistry, Histogram
from starlette.responses import PlainTextResponse

from confab.core.clock import ManualClock
from confab.node.app import NodeState
from confab.node.drain import (
    DRAIN_CLOSE_CODE,
    SPREAD_SHARE,
    batch_interval,
    close_reason,
    parse_retry_ms,
    plan_batches,
    suggested_retry_ms,
)
from confab.node.looplag import watch_loop_lag
from confab.node.server import DrainingServer, drain_websockets

LIVE_JS = Path(__file__).parents[2] / "src/confab/chat/static/live.js"


@pytest.mark.parametrize(
    ("connections", "grace", "batches", "last_at"),
    [
        (0, 20.0, 0, None),
        (1, 20.0, 1, 0.0),
        (5, 20.0, 5, 14.0),  # fewer connections than ticks: one per batch, same window
        (10_000, 20.0, 141, 14.0),  # a batch every 0.1 s over 70% of the grace period
        (3, 0.01, 1, 0.0),  # a grace too short to spread: one batch at once
    ],
)
def test_plan_spreads_every_connection_over_most_of_the_grace_period(
    connections: int, grace: float, batches: int, last_at: float | None
) -> None:
    plan = plan_batches(connections, grace)
    assert len(plan) == batches
    assert sum(b.count for b in plan) == connections
    if plan:
        assert plan[0].at == 0.0
        assert plan[-1].at == pytest.approx(last_at)
        assert plan[-1].at <= SPREAD_SHARE * grace + 1e-9
        # Even: batch sizes differ by one at most, times are evenly spaced.
        assert max(b.count for b in plan) - min(b.count for b in plan) <= 1
        gaps = {round(b.at - a.at, 9) for a, b in itertools.pairwise(plan)}
        assert len(gaps) <= 1


def test_close_reason_round_trips_and_fits_a_close_frame() -> None:
    reason = close_reason(123_456)
    assert parse_retry_ms(reason) == 123_456
    assert len(reason.encode()) <= 123  # RFC 6455: a close reason is at most 123 bytes
    assert parse_retry_ms("server shutting down") is None
    assert parse_retry_ms("") is None
    assert parse_retry_ms(close_reason(-5)) == 0


def test_suggested_delays_cover_the_interval_between_batches() -> None:
    rng = random.Random(7)
    delays = [suggested_retry_ms(0.5, rng) for _ in range(2000)]
    assert min(delays) >= 0 and max(delays) <= 500
    assert min(delays) < 50 and max(delays) > 450  # spread over the whole interval


class _Conn:
    def __init__(self, log: list[tuple[float, int, str]], clock: ManualClock) -> None:
        self._log = log
        self._clock = clock

    def drain_close(self, code: int, reason: str) -> None:
        self._log.append((self._clock.now(), code, reason))


async def test_drain_closes_every_connection_once_on_the_planned_schedule() -> None:
    clock = ManualClock()
    closed: list[tuple[float, int, str]] = []
    conns = [_Conn(closed, clock) for _ in range(40)]
    drain = asyncio.create_task(drain_websockets(conns, 10.0, clock=clock, rng=random.Random(1)))
    await clock.advance(10.0)
    assert drain.done()
    await drain
    plan = plan_batches(40, 10.0)
    assert len(closed) == 40
    assert {code for _, code, _ in closed} == {DRAIN_CLOSE_CODE}
    assert sorted(t for t, _, _ in closed) == pytest.approx(
        sorted(b.at for b in plan for _ in range(b.count))
    )
    interval = batch_interval(plan)
    retries = [parse_retry_ms(reason) for _, _, reason in closed]
    assert all(r is not None and 0 <= r <= interval * 1000 for r in retries)


async def test_hurry_closes_every_connection_left_at_once_still_spreading_the_returns() -> None:
    clock = ManualClock()
    closed: list[tuple[float, int, str]] = []
    conns = [_Conn(closed, clock) for _ in range(400)]
    hurry = asyncio.Event()
    drain = asyncio.create_task(
        drain_websockets(conns, 10.0, clock=clock, rng=random.Random(2), hurry=hurry)
    )
    plan = plan_batches(400, 10.0)
    await clock.advance(2.0)
    on_schedule = sum(b.count for b in plan if b.at <= 2.0)
    assert len(closed) == on_schedule < 400
    hurry.set()
    await clock.settle()  # no time passes: the rest goes now
    assert drain.done()
    await drain
    assert len(closed) == 400
    rest = closed[on_schedule:]
    assert {t for t, _, _ in rest} == {2.0}
    assert {code for _, code, _ in rest} == {DRAIN_CLOSE_CODE}
    # Their clients are told to come back over what was left of the plan (7 s - 2 s).
    retries = [parse_retry_ms(reason) for _, _, reason in rest]
    assert all(r is not None and 0 <= r <= 5000 for r in retries)
    assert max(r for r in retries if r is not None) > 4000
    assert min(r for r in retries if r is not None) < 1000


async def test_a_drain_hurried_before_it_starts_closes_everything_in_one_go() -> None:
    clock = ManualClock()
    closed: list[tuple[float, int, str]] = []
    hurry = asyncio.Event()
    hurry.set()
    await drain_websockets(
        [_Conn(closed, clock) for _ in range(30)], 10.0, clock=clock, hurry=hurry
    )
    assert len(closed) == 30 and {t for t, _, _ in closed} == {0.0}


def _server(state: NodeState) -> DrainingServer:
    config = uvicorn.Config(PlainTextResponse("ok"), lifespan="off", log_config=None)
    return DrainingServer(config, state, grace=20.0, websockets=True)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (signal.SIGTERM, signal.SIGTERM),
        (signal.SIGTERM, signal.SIGINT),
        (signal.SIGINT, signal.SIGTERM),
    ],
)
async def test_the_first_signal_drains_a_second_one_hurries(
    first: signal.Signals, second: signal.Signals
) -> None:
    state = NodeState(roles=("chat",))
    server = _server(state)
    server.handle_exit(first, None)
    await asyncio.sleep(0)  # the loop runs what the handler scheduled
    assert state.draining and server.should_exit
    assert not server.force_exit and not server.hurry.is_set()
    server.handle_exit(second, None)
    assert server.force_exit
    await asyncio.sleep(0)
    assert server.hurry.is_set()


def test_backoff_honours_the_suggested_delay_then_grows_with_jitter() -> None:
    backoff = Backoff(base=0.25, cap=4.0, rng=random.Random(3))
    first = backoff.delay(DRAIN_CLOSE_CODE, close_reason(800))
    assert 0.8 <= first < 0.8 + 0.25
    # The reconnect failed: exponential, jittered into [half, whole) of each step.
    steps = [backoff.delay(None) for _ in range(6)]
    for attempt, delay in enumerate(steps, start=1):
        step = min(4.0, 0.25 * 2**attempt)
        assert step / 2 <= delay < step
    backoff.reset()
    # A close without a suggestion (or not 1012) starts at the base step.
    assert 0.125 <= backoff.delay(1006, close_reason(9000)) < 0.25


def test_backoff_spreads_clients_dropped_together() -> None:
    delays = [Backoff(rng=random.Random(seed)).delay(1006) for seed in range(200)]
    assert max(delays) - min(delays) > 0.1
    assert len({round(d, 4) for d in delays}) > 150


@pytest.mark.skipif(shutil.which("node") is None, reason="node.js is not installed")
def test_browser_client_uses_the_same_reconnect_rule(tmp_path: Path) -> None:
    # The draws are fixed (random = () => 0.5) so the browser's rule can be compared
    # with the formula: suggested + half a base step, or (3/4) of the exponential step.
    script = tmp_path / "check.mjs"
    script.write_text(
        f"import {{ retryDelay }} from {json.dumps(LIVE_JS.as_uri())};\n"
        "const half = () => 0.5;\n"
        "console.log(JSON.stringify([\n"
        "  retryDelay(0, 1012, 'service restart; retry_ms=800', half),\n"
        "  retryDelay(1, 1012, 'service restart; retry_ms=800', half),\n"
        "  retryDelay(0, 1006, '', half),\n"
        "  retryDelay(3, 1006, '', half),\n"
        "  retryDelay(0, 4009, '', half),\n"
        "  retryDelay(0, 4008, '', half),\n"
        "]));\n"
    )
    out = subprocess.run(
        ["node", str(script)], capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(out.stdout) == [1050, 750, 375, 3000, 200, 5000]


async def test_loop_lag_records_how_late_each_timer_fired() -> None:
    histogram = Histogram("lag", "lag", registry=CollectorRegistry(), buckets=(0.01, 0.1, 1))
    now = [0.0]
    lateness = iter([0.0, 0.05, 0.5])

    async def sleep(seconds: float) -> None:
        now[0] += seconds + next(lateness)

    await watch_loop_lag(histogram, interval=0.25, clock=lambda: now[0], sleep=sleep, rounds=3)
    samples = {s.name + s.labels.get("le", ""): s.value for s in histogram.collect()[0].samples}
    assert samples["lag_count"] == 3
    assert samples["lag_sum"] == pytest.approx(0.55)
    assert (samples["lag_bucket0.01"], samples["lag_bucket0.1"], samples["lag_bucket1.0"]) == (
        1,
        2,
        3,
    )
