"""Reconnect delays for Confab's Python clients (bench and e2e): jittered exponential
backoff that honours the delay a draining server suggests in its close frame.

The same rule as the browser client (`src/confab/chat/static/live.js`, `retryDelay`):
- close 1012 with `retry_ms=N` in the reason: wait N ms plus up to `base` of jitter;
- otherwise: `min(cap, base * 2**attempt)`, times a random factor in [0.5, 1) ("equal
  jitter"), so clients dropped together never come back in step.
The attempt count resets once a connection is up again.
"""

from __future__ import annotations

import random

from confab.node.drain import DRAIN_CLOSE_CODE, parse_retry_ms


class Backoff:
    """The delay before each reconnect attempt of one client."""

    def __init__(
        self, *, base: float = 0.25, cap: float = 10.0, rng: random.Random | None = None
    ) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def delay(self, code: int | None = None, reason: str = "") -> float:
        """Seconds to wait after a connection closed with `code`/`reason` (None: failed)."""
        suggested = parse_retry_ms(reason) if code == DRAIN_CLOSE_CODE else None
        if suggested is not None and self.attempt == 0:
            self.attempt = 1
            return suggested / 1000 + self._rng.random() * self.base
        step = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return step * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        """The connection is up again: the next drop starts from the smallest delay."""
        self.attempt = 0
