"""Presence and typing: who is in a room right now (on this node), and typing notices.

A user is present in a room while at least one of their connections is joined to it
(`join` or `resume`); the browser client joins every room of its user as soon as it
connects, so for it this is "online while a connection is open". When the last such
connection goes, a short grace period passes before the `presence` offline frame: a page
reload or a network blip that reconnects and rejoins in time produces no flicker.

No database work: presence is counted from the joins themselves. Rooms larger than a
cap are not tracked at all (the sessions do not call in): there a person coming or going
would fan out to thousands for nothing.

Typing notices are not stored; each (user, room) may publish one per `typing_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from confab.chat.protocol import presence_frame

log = logging.getLogger("confab.chat.presence")

Publish = Callable[[str, bytes], Awaitable[None]]


class Presence:
    """Counts each user's joined connections per room; announces the transitions."""

    def __init__(self, publish: Publish, *, grace: float = 5.0) -> None:
        self._publish = publish
        self._grace = grace
        self._counts: dict[tuple[str, str], int] = {}
        self._leaving: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def is_present(self, user: str, room: str) -> bool:
        """Joined now, or the last connection left less than `grace` ago."""
        key = (user, room)
        return key in self._counts or key in self._leaving

    def present_count(self) -> int:
        """(user, room) pairs present on this node."""
        return len(self._counts) + len(self._leaving)

    def entered(self, user: str, room: str) -> None:
        """A connection of `user` joined `room`."""
        key = (user, room)
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        if count:
            return
        timer = self._leaving.pop(key, None)
        if timer is not None:
            timer.cancel()  # back within the grace period: nobody saw them leave
            return
        self._announce(user, room, True)

    def left(self, user: str, room: str) -> None:
        """A connection of `user` left `room` (or closed)."""
        key = (user, room)
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
            return
        if self._counts.pop(key, None) is None:
            return
        if self._grace <= 0:
            self._announce(user, room, False)
            return
        loop = asyncio.get_running_loop()
        self._leaving[key] = loop.call_later(self._grace, self._gone, key)

    async def close(self) -> None:
        """Drop timers and wait for announcements in flight."""
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _gone(self, key: tuple[str, str]) -> None:
        if self._leaving.pop(key, None) is not None and key not in self._counts:
            self._announce(key[0], key[1], False)

    def _announce(self, user: str, room: str, online: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._send(user, room, online))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, user: str, room: str, online: bool) -> None:
        try:
            await self._publish(room, presence_frame(room, user, online))
        except Exception:
            log.exception("announcing presence failed", extra={"user": user, "room": room})


class TypingThrottle:
    """At most one typing notice per (user, room) every `interval` seconds."""

    def __init__(
        self,
        interval: float = 3.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 50_000,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._max = max_entries
        self._last: dict[tuple[str, str], float] = {}

    def allow(self, user: str, room: str) -> bool:
        """True if this notice should be published (and remember it)."""
        now = self._clock()
        key = (user, room)
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) >= self._max:
            self._forget_before(now - self._interval)
        self._last[key] = now
        return True

    def _forget_before(self, moment: float) -> None:
        for key in [k for k, t in self._last.items() if t < moment]:
            del self._last[key]
        if len(self._last) >= self._max:  # all recent: forget the oldest half
            for key in list(self._last)[: self._max // 2]:
                del self._last[key]
