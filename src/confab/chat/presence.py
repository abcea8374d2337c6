"""Presence and typing: who is in a room right now (on any node), and typing notices.

A user is present in a room while at least one of their connections, on any node, is
joined to it (`join` or `resume`); the browser client joins every room of its user as
soon as it connects, so for it this is "online while a connection is open". When the
last such connection of a node goes, a short grace period passes before the node counts
the user gone: a page reload or a network blip that reconnects and rejoins in time (on
this node or another) produces no flicker.

Each node counts its own connections here and tells a `PresenceStore` only its own
transitions (present on this node / not any more). The store answers whether that was
the first node or the last one, and the node that made the transition publishes the
`presence` frame on the bus. The embedded store is a dict; the distributed one lives in
Redis and forgets the entries of a node that stops beating (`heartbeat` / `sweep`), so
the users of a killed node go offline within the node TTL. A store that lost this
node's entries (restarted) is refilled from the local counts (`replace`).

No database work. Rooms larger than a cap are not tracked at all (the sessions do not
call in): there a person coming or going would fan out to thousands for nothing.

Typing notices are not stored; each (user, room) may publish one per `typing_interval`.

Every timer here (the grace period, the heartbeat, the typing window) runs on a
`confab.core.clock.Clock`, so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol

from confab.chat.protocol import presence_frame
from confab.core.clock import Clock, LoopClock, Timer

log = logging.getLogger("confab.chat.presence")

Publish = Callable[[str, bytes], Awaitable[None]]
Pair = tuple[str, str]  # (user, room)
Change = tuple[str, str, bool]  # (user, room, present on this node)

_CLOSE_TIMEOUT = 5.0


class PresenceStore(Protocol):
    """Presence across nodes. One instance per node; each node reports its own changes."""

    @property
    def heartbeat_interval(self) -> float | None:
        """Seconds between `heartbeat` calls; None when the store needs none."""
        ...

    async def update(self, changes: Sequence[Change]) -> list[bool]:
        """Apply this node's changes in order; for each, whether the user's status in the
        room changed across nodes (this node was the first in, or the last out)."""
        ...

    async def replace(self, present: Collection[Pair]) -> tuple[list[Pair], list[Pair]]:
        """Make this node's entries exactly `present`: the pairs that (came online, went
        offline) across nodes because of it."""
        ...

    async def online(self, room: str, users: Sequence[str]) -> set[str]:
        """Those of `users` present in `room` on some node."""
        ...

    async def heartbeat(self) -> bool:
        """Keep this node alive; False when its entries were lost (call `replace`)."""
        ...

    async def sweep(self) -> list[Pair]:
        """Forget the nodes that stopped beating; the pairs that went offline with them."""
        ...

    async def close(self) -> list[Pair]:
        """Remove this node's entries; the pairs that went offline."""
        ...


class MemoryPresenceStore:
    """Presence in a dict: the embedded default. Stores made on one `board` act as
    several nodes sharing it (tests)."""

    _ids = itertools.count(1)

    def __init__(self, board: dict[Pair, set[int]] | None = None) -> None:
        self.board: dict[Pair, set[int]] = {} if board is None else board
        self._node = next(self._ids)
        self._mine: set[Pair] = set()

    @property
    def heartbeat_interval(self) -> float | None:
        """Nothing to keep alive in one process."""
        return None

    async def update(self, changes: Sequence[Change]) -> list[bool]:
        """See `PresenceStore.update`."""
        return [self._change(user, room, present) for user, room, present in changes]

    async def replace(self, present: Collection[Pair]) -> tuple[list[Pair], list[Pair]]:
        """See `PresenceStore.replace`."""
        wanted = set(present)
        went = [p for p in list(self._mine - wanted) if self._change(*p, False)]
        came = [p for p in wanted - self._mine if self._change(*p, True)]
        return came, went

    async def online(self, room: str, users: Sequence[str]) -> set[str]:
        """See `PresenceStore.online`."""
        return {user for user in users if (user, room) in self.board}

    async def heartbeat(self) -> bool:
        """See `PresenceStore.heartbeat`."""
        return True

    async def sweep(self) -> list[Pair]:
        """See `PresenceStore.sweep`."""
        return []

    async def close(self) -> list[Pair]:
        """See `PresenceStore.close`."""
        _, went = await self.replace(())
        return went

    def _change(self, user: str, room: str, present: bool) -> bool:
        pair = (user, room)
        nodes = self.board.get(pair)
        if present:
            if pair in self._mine:
                return False
            self._mine.add(pair)
            if nodes is None:
                self.board[pair] = {self._node}
                return True
            nodes.add(self._node)
            return False
        if pair not in self._mine:
            return False
        self._mine.discard(pair)
        if nodes is None:
            return False
        nodes.discard(self._node)
        if nodes:
            return False
        del self.board[pair]
        return True


class Presence:
    """Counts each user's joined connections per room on this node; the transitions go
    to the store, and those that change the user's status everywhere are announced."""

    def __init__(
        self,
        publish: Publish,
        *,
        grace: float = 5.0,
        store: PresenceStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._publish = publish
        self._grace = grace
        self._clock: Clock = LoopClock() if clock is None else clock
        self._store: PresenceStore = store if store is not None else MemoryPresenceStore()
        self._counts: dict[Pair, int] = {}
        self._leaving: dict[Pair, Timer] = {}
        # Changes for the store, applied in order by one worker; None: refill the store.
        self._changes: deque[Change | None] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._dirty = False  # a store call failed: refill it at the next heartbeat
        # Leaves the store may not have seen (its call failed): checked after the refill,
        # since a store that restarted empty cannot report them as gone.
        self._unsure: set[Pair] = set()
        self._closed = False

    def is_present(self, user: str, room: str) -> bool:
        """Joined on this node now, or the last connection here left less than `grace` ago."""
        key = (user, room)
        return key in self._counts or key in self._leaving

    def present_count(self) -> int:
        """(user, room) pairs present on this node."""
        return len(self._counts) + len(self._leaving)

    async def online(self, room: str, users: Sequence[str]) -> set[str]:
        """Those of `users` present in `room` on any node (this one if the store fails)."""
        here = {user for user in users if self.is_present(user, room)}
        others = [user for user in users if user not in here]
        if not others:
            return here
        try:
            return here | await self._store.online(room, others)
        except Exception:
            log.warning("reading presence failed; showing this node's", exc_info=True)
            return here

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
        self._queue((user, room, True))

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
            self._queue((user, room, False))
            return
        self._leaving[key] = self._clock.call_later(self._grace, lambda: self._gone(key))

    async def close(self) -> None:
        """Drop timers, take this node's entries out of the store and announce who went."""
        self._closed = True
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        worker = self._worker
        if worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(worker), _CLOSE_TIMEOUT)
        try:
            went = await asyncio.wait_for(self._store.close(), _CLOSE_TIMEOUT)
        except Exception:
            log.warning("removing this node's presence failed", exc_info=True)
            return
        for user, room in went:
            await self._send(user, room, False)

    def _gone(self, key: Pair) -> None:
        if self._leaving.pop(key, None) is not None and key not in self._counts:
            self._queue((key[0], key[1], False))

    def _queue(self, change: Change | None) -> None:
        if self._closed:
            return
        self._changes.append(change)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        interval = self._store.heartbeat_interval
        if self._beat is None and interval is not None:
            self._beat = asyncio.get_running_loop().create_task(self._heartbeat(interval))

    async def _work(self) -> None:
        """Apply queued changes in order (consecutive ones in one store call)."""
        changes = self._changes
        try:
            while changes:
                if changes[0] is None:
                    changes.popleft()
                    await self._refill()
                    continue
                batch: list[Change] = []
                while changes and changes[0] is not None:
                    batch.append(changes.popleft())  # type: ignore[arg-type]
                try:
                    results = await self._store.update(batch)
                except Exception:
                    log.warning("updating presence failed", exc_info=True)
                    self._dirty = True
                    self._unsure.update((u, r) for u, r, present in batch if not present)
                    continue
                for (user, room, present), changed in zip(batch, results, strict=True):
                    if changed:
                        await self._send(user, room, present)
        finally:
            self._worker = None

    async def _refill(self) -> None:
        """Make the store's entries for this node what the local counts say."""
        self._dirty = False
        try:
            came, went = await self._store.replace([*self._counts, *self._leaving])
        except Exception:
            log.warning("refilling presence failed", exc_info=True)
            self._dirty = True
            return
        for user, room in went:
            await self._send(user, room, False)
        for user, room in came:
            await self._send(user, room, True)
        unsure, self._unsure = self._unsure, set()
        for user, room in unsure:
            if (user, room) in went or self.is_present(user, room):
                continue
            try:
                gone = not await self._store.online(room, [user])
            except Exception:
                self._unsure.add((user, room))  # next refill
                continue
            if gone:
                await self._send(user, room, False)

    async def _heartbeat(self, interval: float) -> None:
        """Keep this node's entries alive; refill them if lost; sweep dead nodes."""
        while True:
            try:
                intact = await self._store.heartbeat()
                if not intact or self._dirty:
                    self._queue(None)
                for user, room in await self._store.sweep():
                    await self._send(user, room, False)
            except Exception:
                log.warning("presence heartbeat failed", exc_info=True)
                self._dirty = True
            await self._clock.sleep(interval)

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
        clock: Clock | None = None,
        max_entries: int = 50_000,
    ) -> None:
        self._interval = interval
        self._clock: Clock = LoopClock() if clock is None else clock
        self._max = max_entries
        self._last: dict[tuple[str, str], float] = {}

    def allow(self, user: str, room: str) -> bool:
        """True if this notice should be published (and remember it)."""
        now = self._clock.now()
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
