"""Draining on SIGTERM: the batch plan, the close reason, the clients' reconnect delays."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from bench.reconnect import Backoff
from prometheus_client import CollectorRegistry, Histogram

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
from confab.node.server import drain_websockets

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
    def __init__(self, log: list[tuple[float, int, str]], clock: list[float]) -> None:
        self._log = log
        self._clock = clock

    def drain_close(self, code: int, reason: str) -> None:
        self._log.append((self._clock[0], code, reason))


async def test_drain_closes_every_connection_once_on_the_planned_schedule() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    closed: list[tuple[float, int, str]] = []
    conns = [_Conn(closed, now) for _ in range(40)]
    await drain_websockets(conns, 10.0, sleep=sleep, clock=lambda: now[0], rng=random.Random(1))
    plan = plan_batches(40, 10.0)
    assert len(closed) == 40
    assert {code for _, code, _ in closed} == {DRAIN_CLOSE_CODE}
    assert sorted(t for t, _, _ in closed) == pytest.approx(
        sorted(b.at for b in plan for _ in range(b.count))
    )
    interval = batch_interval(plan)
    retries = [parse_retry_ms(reason) for _, _, reason in closed]
    assert all(r is not None and 0 <= r <= interval * 1000 for r in retries)


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
