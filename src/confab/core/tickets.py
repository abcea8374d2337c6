"""One-time tickets: a short-lived key that can be taken once (WebSocket sign-in).

A ticket stands in for a session token where a URL would otherwise carry the token
(`/ws?ticket=...`): it lives seconds, works once, and is stored by its hash only. The
store is shared by every node in a fleet (Redis, `confab.adapters.state_redis_tickets`),
since the client may be sent to another node than the one that issued the ticket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class TicketStore(Protocol):
    """Values under keys that expire, each taken at most once."""

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Keep `value` under `key` for `ttl` seconds."""

    async def take(self, key: str) -> str | None:
        """The value under `key`, removed in the same step; None if absent or expired."""


class MemoryTickets:
    """Tickets in a dict (one process); expired ones are dropped as new ones come."""

    _PRUNE_AT = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tickets: dict[str, tuple[str, float]] = {}

    async def put(self, key: str, value: str, ttl: float) -> None:
        """See `TicketStore.put`."""
        now = self._clock()
        if len(self._tickets) >= self._PRUNE_AT:
            self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
        self._tickets[key] = (value, now + ttl)

    async def take(self, key: str) -> str | None:
        """See `TicketStore.take`."""
        found = self._tickets.pop(key, None)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]
