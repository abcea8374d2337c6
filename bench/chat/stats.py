"""Pure arithmetic of the chat benchmark: latency percentiles, step verdicts, the send-rate ramp.

Latency percentiles use the nearest-rank method over every *expected* delivery: a delivery
that never arrived (within the drain time) counts as infinitely late, so a server that drops
or stalls cannot look fast by losing its slowest frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50_ms", 50.0),
    ("p90_ms", 90.0),
    ("p99_ms", 99.0),
    ("p999_ms", 99.9),
)


def nearest_rank(ordered: Sequence[float], total: int, q: float) -> float:
    """The q-th percentile (0-100] of `total` values whose smallest are `ordered` (sorted).

    Values beyond `ordered` (up to `total`) are missing and count as +inf.
    """
    if total <= 0:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * total))
    if rank > len(ordered):
        return math.inf
    return ordered[rank - 1]


def latency_summary(latencies_s: Sequence[float], missing: int = 0) -> dict[str, float]:
    """p50/p90/p99/p99.9/max in ms of the latencies (seconds) plus `missing` lost ones."""
    ordered = sorted(latencies_s)
    missing = max(0, missing)
    total = len(ordered) + missing
    out = {key: nearest_rank(ordered, total, q) * 1000.0 for key, q in PERCENTILES}
    if missing:
        out["max_ms"] = math.inf
    else:
        out["max_ms"] = ordered[-1] * 1000.0 if ordered else math.nan
    out["mean_ms"] = sum(ordered) / len(ordered) * 1000.0 if ordered else math.nan
    return out


@dataclass(frozen=True)
class Criteria:
    """When a ramp step counts as sustained."""

    p99_ms: float = 200.0
    max_loss: float = 0.001  # share of expected deliveries missing after the drain time
    min_rate_ratio: float = 0.95  # messages actually sent / messages scheduled


def step_passes(
    p99_ms: float,
    loss: float,
    achieved_rate: float,
    target_rate: float,
    criteria: Criteria,
    window_s: float = math.inf,
) -> bool:
    """True when the step kept p99 under the limit, lost (almost) nothing and kept the rate.

    The rate may fall one message short of the window's schedule (`window_s`), whatever
    the ratio: at a few messages per window, one that lands on the window's edge is more
    than 5% of them.
    """
    if math.isnan(p99_ms) or target_rate <= 0:
        return False
    enough = min(criteria.min_rate_ratio * target_rate, target_rate - 1.0 / window_s)
    return p99_ms < criteria.p99_ms and loss <= criteria.max_loss and achieved_rate >= enough


class Ramp:
    """Send rates to try: geometric steps up to the first failure, then a few bisections.

    A failing rate is tried again `retries` times before it counts as failed, more if the
    step was disturbed: on a shared machine one step can lose its core to a neighbour.
    Bounded: at most `max_steps` rates, none above `max_rate`; if the very first rate
    fails, it steps down (by `factor` per step) to `min_rate` to find a rate that holds.
    """

    def __init__(
        self,
        start: float = 5.0,
        factor: float = 1.5,
        max_rate: float = 400.0,
        min_rate: float = 0.25,
        refinements: int = 3,
        max_steps: int = 30,
        retries: int = 1,
        disturbed_retries: int = 3,
    ) -> None:
        if start <= 0 or factor <= 1 or max_rate < start:
            raise ValueError("need 0 < start <= max_rate and factor > 1")
        self.start = start
        self.factor = factor
        self.max_rate = max_rate
        self.min_rate = min_rate
        self.refinements = refinements
        self.max_steps = max_steps
        self.retries = retries
        self.disturbed_retries = disturbed_retries
        self._failures: dict[float, int] = {}
        self._disturbed: dict[float, int] = {}
        self.best_pass: float | None = None
        self.first_fail: float | None = None
        self.steps = 0
        self._refined = 0

    def first(self) -> float:
        """The first rate to try."""
        self.steps = 1
        return self.start

    def next(self, rate: float, passed: bool, disturbed: bool = False) -> float | None:
        """The rate after `rate` gave `passed`; None when the search is over.

        A failure while other work took a share of the server's or the generator's core
        (`disturbed`) is tried again, up to `disturbed_retries` times, without counting.
        """
        if self.steps >= self.max_steps:
            return None
        if not passed and disturbed:
            seen = self._disturbed[rate] = self._disturbed.get(rate, 0) + 1
            if seen <= self.disturbed_retries:
                self.steps += 1
                return rate
        if passed:
            self.best_pass = max(rate, self.best_pass or 0.0)
        else:
            failures = self._failures[rate] = self._failures.get(rate, 0) + 1
            if failures <= self.retries:
                self.steps += 1
                return rate
            self.first_fail = rate if self.first_fail is None else min(rate, self.first_fail)
        candidate: float | None
        if self.first_fail is None:
            candidate = _round(rate * self.factor)
            if candidate > self.max_rate:
                candidate = self.max_rate if rate < self.max_rate else None
        elif self.best_pass is None:
            candidate = _round(rate / self.factor)
            if candidate < self.min_rate:
                candidate = None
        else:
            low, high = self.best_pass, self.first_fail
            if self._refined >= self.refinements or (high - low) <= 0.05 * low:
                candidate = None
            else:
                self._refined += 1
                candidate = _round((low + high) / 2)
                if candidate in (low, high):
                    candidate = None
        if candidate is not None:
            self.steps += 1
        return candidate


def _round(rate: float) -> float:
    """Rates with two decimals below 1 msg/s, one below 10, whole numbers above."""
    if rate < 1:
        return round(rate, 2)
    return round(rate, 1) if rate < 10 else float(round(rate))


def per_connection_kib(base_mib: float, full_mib: float, added: int) -> float:
    """Memory growth per added connection, in KiB (NaN when nothing was added)."""
    if added <= 0 or math.isnan(base_mib) or math.isnan(full_mib):
        return math.nan
    return (full_mib - base_mib) * 1024.0 / added


def foreign_cores(core_busy_s: float, steal_s: float, own_cpu_s: float, seconds: float) -> float:
    """Cores' worth of other work on a core over `seconds`: its busy time not ours, plus steal.

    Clock ticks make both sides coarse (10 ms): small negatives are rounded up to zero.
    """
    if seconds <= 0 or math.isnan(core_busy_s) or math.isnan(steal_s):
        return math.nan
    return (max(0.0, core_busy_s - own_cpu_s) + max(0.0, steal_s)) / seconds


def disturbed(
    foreign: tuple[float, float], noise_limit: float, wait_share: float, wait_limit: float
) -> bool:
    """Whether a step's latencies say more about the machine than about the server.

    Either other work took more than `noise_limit` of the pinned server's or generator's
    core (`foreign`, NaN when nothing is pinned), or the generator itself spent more than
    `wait_limit` of the window runnable but not running (its own run-queue wait): then it
    stamped and read late, whoever took its CPU. The second one is what tells a starved
    generator when nothing is pinned (bench/scale --node-cpu) and the first cannot.
    """
    noisy = any(value > noise_limit for value in foreign if not math.isnan(value))
    return noisy or wait_share > wait_limit
