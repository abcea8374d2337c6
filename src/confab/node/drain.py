"""Draining a chat node's WebSockets on SIGTERM: in batches, not all at once.

Closing every connection of a node in the same instant makes all its clients reconnect to
the other nodes in the same second (a thundering herd of handshakes, sign-in look-ups and
`resume` replays). Instead the node closes its connections in small batches spread over
most of the grace period, and tells each client when to come back.

The close frame is the contract with clients (documented in README.md, "Draining"):
- code 1012 (RFC 6455 "service restart"): reconnect, through the load balancer, and resume;
- reason `service restart; retry_ms=N`: wait about N milliseconds first (a client adds its
  own jitter on top). N is drawn per connection across the interval between two batches,
  so even one batch's reconnections are spread over time.

This module is pure (no I/O, no clock): the server feeds it the connection count and the
grace period and runs the plan with its own clock; the plan is unit-tested on its own.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

DRAIN_CLOSE_CODE = 1012  # RFC 6455: service restart, try again (elsewhere) later
SPREAD_SHARE = 0.7  # closes go out over this share of the grace period
MIN_TICK = 0.05  # seconds between batches, at least
_RETRY = re.compile(r"retry_ms=(\d+)")


@dataclass(frozen=True)
class Batch:
    """Close `count` connections `at` seconds after the drain starts."""

    at: float
    count: int


def plan_batches(connections: int, grace: float, *, tick: float = 0.1) -> list[Batch]:
    """Batches that close `connections` evenly over `SPREAD_SHARE` of `grace` seconds.

    The rest of the grace period is left for the close handshakes and for requests in
    flight. Batches are `tick` seconds apart (never closer than `MIN_TICK`); fewer
    connections than ticks make one connection per batch, spread over the same window.
    """
    if connections <= 0:
        return []
    spread = max(0.0, grace * SPREAD_SHARE)
    tick = max(tick, MIN_TICK)
    slots = max(1, min(connections, math.floor(spread / tick) + 1))
    step = spread / (slots - 1) if slots > 1 else 0.0
    base, extra = divmod(connections, slots)
    return [Batch(at=i * step, count=base + (1 if i < extra else 0)) for i in range(slots)]


def batch_interval(batches: list[Batch]) -> float:
    """Seconds between two batches of a plan (0 for a plan of one batch)."""
    return batches[1].at - batches[0].at if len(batches) > 1 else 0.0


def close_reason(retry_ms: int) -> str:
    """The close reason that carries the server-suggested reconnect delay."""
    return f"service restart; retry_ms={max(0, retry_ms)}"


def suggested_retry_ms(interval: float, rng: random.Random | None = None) -> int:
    """A reconnect delay for one connection of a batch: uniform over the batch interval."""
    draw = (rng or random).random()
    return round(draw * interval * 1000)


def parse_retry_ms(reason: str) -> int | None:
    """The server-suggested delay in a close reason, or None when it names none."""
    match = _RETRY.search(reason or "")
    return int(match.group(1)) if match else None
