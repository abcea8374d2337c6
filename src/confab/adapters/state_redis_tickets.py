"""`TicketStore` (confab.core.tickets) on Redis: every node redeems every node's tickets.

`SET ... PX` keeps a ticket for its lifetime; `GETDEL` takes it exactly once, atomically,
however many nodes try at the same moment.
"""

from __future__ import annotations

from confab.adapters.redis_common import FAILURES, unavailable
from confab.adapters.state_redis import RedisState


class RedisTickets:
    """One-time tickets under this deployment's key prefix."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._prefix = state.key("ticket", "")

    async def put(self, key: str, value: str, ttl: float) -> None:
        """See `TicketStore.put`."""
        try:
            async with self._state.turns:
                await self._state.client.set(
                    self._prefix + key, value, px=max(1, round(ttl * 1000))
                )
        except FAILURES as error:
            raise unavailable(error, "tickets") from None

    async def take(self, key: str) -> str | None:
        """See `TicketStore.take`."""
        try:
            async with self._state.turns:
                value = await self._state.client.getdel(self._prefix + key)
        except FAILURES as error:
            raise unavailable(error, "tickets") from None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
