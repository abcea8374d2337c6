"""A circuit breaker: after repeated failures, fail fast for a while instead of waiting.

Closed: calls go through; `failures` failed calls in a row open it. Open: calls are refused
at once for `reset_after` seconds. Then half-open: one trial call goes through (the others
are still refused); its success closes the circuit, its failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class CircuitBreaker:
    """Counts consecutive failures of one dependency and says whether to try it."""

    def __init__(
        self, failures: int = 5, reset_after: float = 10.0, clock: Clock = time.monotonic
    ) -> None:
        if failures < 1 or reset_after <= 0:
            raise ValueError("failures must be >= 1 and reset_after > 0")
        self._threshold = failures
        self._reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        """ "closed", "open" or "half_open" (a trial may go, or is under way)."""
        if self._opened_at is None:
            return "closed"
        if self._trial or self._clock() - self._opened_at >= self._reset_after:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go now (in half-open, only the first caller's does)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        """The dependency answered: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def failure(self) -> None:
        """A call failed: count it, and open (again) past the threshold or after a trial."""
        self._failures += 1
        if self._trial or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._trial = False
