"""Per-user delivery: frames on the bus channel `user.<username>` reach every connection
of that user on this node (`room_added`, `room_removed`).

The channel is subscribed while the user has a connection here and cancelled with the
last one. Frames are `confab.chat.busevent` envelopes, written out undecoded. Delivery is
at most once (a lost `room_added` is seen on the next room list).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from confab.chat.busevent import decode, user_channel
from confab.chat.hub import Subscriber
from confab.chat.outgoing import Outgoing
from confab.core.ports import Bus, Subscription

log = logging.getLogger("confab.chat.userfeed")


class _Feed:
    __slots__ = ("conns", "subscription")

    def __init__(self) -> None:
        self.conns: set[Subscriber] = set()
        self.subscription: Subscription | None = None


class UserFeed:
    """Subscribes each connected user's channel once per node and fans it out."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._feeds: dict[str, _Feed] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def add(self, conn: Subscriber) -> None:
        """Deliver `conn.user`'s channel to `conn` from now on."""
        feed = self._feeds.get(conn.user)
        if feed is None:
            feed = self._feeds[conn.user] = _Feed()
            feed.conns.add(conn)
            try:
                feed.subscription = await self._bus.subscribe(
                    user_channel(conn.user), partial(self._on_bus, feed)
                )
            except Exception:
                log.exception("subscribing a user channel failed", extra={"user": conn.user})
            if not feed.conns:  # every connection went while subscribing
                await self._cancel(conn.user, feed)
            return
        feed.conns.add(conn)

    def remove(self, conn: Subscriber) -> None:
        """Stop delivering to `conn` (the subscription ends with the user's last one)."""
        feed = self._feeds.get(conn.user)
        if feed is None:
            return
        feed.conns.discard(conn)
        if not feed.conns and feed.subscription is not None:
            task = asyncio.get_running_loop().create_task(self._cancel(conn.user, feed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _cancel(self, user: str, feed: _Feed) -> None:
        if self._feeds.get(user) is feed:
            del self._feeds[user]
        if feed.subscription is not None:
            subscription, feed.subscription = feed.subscription, None
            with contextlib.suppress(Exception):
                await subscription.cancel()

    async def _on_bus(self, feed: _Feed, message: bytes) -> None:
        try:
            frame = Outgoing(decode(message).payload)
        except (ValueError, UnicodeDecodeError):
            log.warning("dropping a malformed user frame")
            return
        for conn in list(feed.conns):
            conn.deliver(frame)

    async def close(self) -> None:
        """Cancel every subscription."""
        for user, feed in list(self._feeds.items()):
            await self._cancel(user, feed)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
