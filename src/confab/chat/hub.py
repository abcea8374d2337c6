"""Local fan-out: the connections of this process joined to each room.

The hub subscribes to a room's bus channel (`room.<name>`) when the first local connection
joins it and cancels the subscription when the last one leaves. Every frame received is
written, unchanged and encoded once (`Outgoing`), to each local connection of the room.

Bus messages are `confab.chat.busevent` envelopes: the hub reads the header (seq, type,
subject) and writes the frame out without decoding its JSON.

Order and gaps: every room event carries the room's seq. The hub remembers the last seq it
delivered per room; an event at or below it is a duplicate and dropped; an event past
`last + 1` means the bus lost some (Redis pub/sub is at-most-once), so the hub reads the
missing events from the store (`events_after`) and delivers them first. While it does,
later frames of that room wait in the room's inbox, so every connection sees one total
order. When the bus reports that it may have lost messages (`on_gap`: it reconnected to
its engine), the hub reads the room's last seq from the store and repairs up to it in the
same way, so nothing is missed even if no later message comes to reveal the gap.

A connection in the middle of a `resume` is *held*: live frames for it are kept aside
while the replay is written, then flushed (`release`), so nothing is lost or doubled
between the replay and live delivery.

Membership: a removal (`member_left`, `member_banned`) is delivered to the room, the
removed user included, and then that user's connections stop receiving the room, whether
it came on the bus or out of a repair; `room_deleted` ends every connection's delivery.
A `read` event goes only to the connections of the user it is about.

Subscribers never block the hub: `deliver` only queues (or writes without waiting) and a
subscriber that cannot keep up closes itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Protocol

from confab.chat.busevent import decode, room_channel
from confab.chat.outgoing import Outgoing
from confab.core.ports import Bus, Subscription
from confab.core.roomlog import REMOVALS, RoomEvent

log = logging.getLogger("confab.chat.hub")

REPAIR_PAGE = 100


class Subscriber(Protocol):
    """What the hub needs from a connection."""

    @property
    def user(self) -> str:
        """The connected user's name."""
        ...

    def deliver(self, frame: Outgoing) -> None:
        """Queue `frame` for sending; never blocks and never calls back into the hub."""

    def overflow(self) -> None:
        """Frames held for this subscriber overflowed: close it (4009) so it resumes."""


class RoomSource(Protocol):
    """The store as the hub sees it."""

    async def last_seq(self, room: str) -> int:
        """The seq of the room's newest event (0 when none)."""
        ...

    async def events_after(self, room: str, after: int, limit: int) -> list[RoomEvent]:
        """Up to `limit` stored events with seq > `after`, in seq order."""
        ...


class _Held:
    """Frames kept aside for a connection in the middle of its join or resume."""

    __slots__ = ("ended", "frames")

    def __init__(self) -> None:
        self.frames: list[Outgoing] = []
        self.ended = False  # removed from the room meanwhile: deliver, then stop


class _Room:
    __slots__ = ("busy", "held", "inbox", "last", "live", "name", "opening", "subscription")

    def __init__(self, name: str) -> None:
        self.name = name
        self.live: set[Subscriber] = set()
        self.held: dict[Subscriber, _Held] = {}
        self.last = 0
        self.subscription: Subscription | None = None
        self.opening: asyncio.Future[None] | None = None
        self.inbox: deque[bytes | None] = deque()  # None: catch up with the store
        self.busy = False  # a coroutine is processing the inbox

    def empty(self) -> bool:
        return not self.live and not self.held and self.opening is None


class Hub:
    """Per-process fan-out of room frames from the bus to local connections."""

    def __init__(self, bus: Bus, source: RoomSource, *, hold_limit: int = 5000) -> None:
        self._bus = bus
        self._source = source
        self._hold_limit = hold_limit
        self._rooms: dict[str, _Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0  # frames x recipients, for tests and metrics

    # queries

    def rooms(self) -> list[str]:
        """Names of the rooms with local connections."""
        return list(self._rooms)

    def last_seq(self, room: str) -> int | None:
        """The last seq delivered in `room`, or None when no local connection is in it."""
        state = self._rooms.get(room)
        return None if state is None or state.opening is not None else state.last

    def is_joined(self, sub: Subscriber, room: str) -> bool:
        """Whether `sub` receives `room` (live or held, and not removed)."""
        state = self._rooms.get(room)
        if state is None:
            return False
        held = state.held.get(sub)
        return sub in state.live or (held is not None and not held.ended)

    def local_users(self, room: str, limit: int) -> list[str]:
        """Up to `limit` distinct users with a local connection receiving `room`."""
        state = self._rooms.get(room)
        users: dict[str, None] = {}
        if state is not None:
            for sub in itertools.chain(state.live, state.held):
                users[sub.user] = None
                if len(users) >= limit:
                    break
        return list(users)

    def local_count(self, room: str) -> int:
        """How many local connections receive `room`."""
        state = self._rooms.get(room)
        return 0 if state is None else len(state.live) + len(state.held)

    # membership of connections

    async def join(self, sub: Subscriber, room: str, greet: Callable[[int], None]) -> int:
        """Deliver `room` live to `sub`; return the last seq delivered so far.

        `greet(last_seq)` runs right after `sub` is added and before any frame reaches it:
        that is where the caller sends `joined`, so the client knows live delivery starts
        after that seq.
        """
        state, opened = await self._open(room)
        held = state.held.pop(sub, None)
        if held is not None:  # joined in the middle of its own resume: flush first
            for frame in held.frames:
                sub.deliver(frame)
        state.live.add(sub)
        last = state.last
        greet(last)
        if opened:
            await self._drain(state)
        return last

    async def hold(self, sub: Subscriber, room: str) -> int:
        """Subscribe `sub` but keep frames aside; return the seq after which they start."""
        state, opened = await self._open(room)
        state.live.discard(sub)
        state.held[sub] = _Held()
        last = state.last
        if opened:
            await self._drain(state)
        return last

    def release(self, sub: Subscriber, room: str) -> bool:
        """Deliver what was held for `sub` in order, then go live; False (after
        delivering) when `sub`'s user was removed from the room meanwhile."""
        state = self._rooms.get(room)
        if state is None:
            return False
        held = state.held.pop(sub, None)
        if held is None:
            return False
        for frame in held.frames:
            sub.deliver(frame)
        if held.ended:
            self._close_if_empty(state)
            return False
        state.live.add(sub)
        return True

    def leave(self, sub: Subscriber, room: str) -> None:
        """Stop delivering `room` to `sub` (the subscription ends with the last one)."""
        state = self._rooms.get(room)
        if state is None:
            return
        state.live.discard(sub)
        state.held.pop(sub, None)
        self._close_if_empty(state)

    async def close(self) -> None:
        """Cancel every subscription and background task."""
        rooms, self._rooms = list(self._rooms.values()), {}
        for state in rooms:
            if state.subscription is not None:
                with contextlib.suppress(Exception):
                    await state.subscription.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # rooms

    async def _open(self, room: str) -> tuple[_Room, bool]:
        """The room's state, subscribing first if needed (then True: the caller must drain
        the frames that arrived meanwhile, once its connection is in and greeted)."""
        while True:
            state = self._rooms.get(room)
            if state is None:
                break
            if state.opening is None:
                return state, False
            # Another connection is subscribing this room: wait for it, then look again.
            await asyncio.wait([state.opening])
        state = _Room(room)
        self._rooms[room] = state
        opening = asyncio.get_running_loop().create_future()
        state.opening = opening
        state.busy = True  # frames arriving before last_seq is known wait in the inbox
        try:
            # Subscribe before reading last_seq: a message committed after the read is
            # then surely received; one committed before is <= last_seq and dropped.
            state.subscription = await self._bus.subscribe(
                room_channel(room),
                partial(self._on_bus, state),
                on_gap=partial(self._on_gap, state),
            )
            state.last = await self._source.last_seq(room)
        except BaseException:
            if self._rooms.get(room) is state:
                del self._rooms[room]
            if state.subscription is not None:
                self._spawn(state.subscription.cancel())
            raise
        finally:
            state.opening = None
            opening.set_result(None)
        return state, True

    def _close_if_empty(self, state: _Room) -> None:
        if not state.empty() or self._rooms.get(state.name) is not state:
            return
        del self._rooms[state.name]
        if state.subscription is not None:
            self._spawn(state.subscription.cancel())
            state.subscription = None

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # frames from the bus

    async def _on_bus(self, state: _Room, payload: bytes) -> None:
        # Only queue: the publisher (a `send` holding its room's order lock) goes on to
        # store the next message while this one fans out, and frames that pile up
        # meanwhile leave together, one write per connection.
        state.inbox.append(payload)
        if not state.busy:
            state.busy = True
            self._spawn(self._drain(state))

    async def _on_gap(self, state: _Room) -> None:
        # The bus may have lost frames of this room: catch up with the store, in turn
        # with the frames queued before and after (they are in the same inbox).
        if self._rooms.get(state.name) is not state:
            return
        state.inbox.append(None)
        if not state.busy:
            state.busy = True
            self._spawn(self._drain(state))

    async def _drain(self, state: _Room) -> None:
        state.busy = True
        try:
            inbox = state.inbox
            batch: list[Outgoing] = []
            while inbox:
                message = inbox.popleft()
                if message is None:
                    self._fanout(state, batch)
                    batch = []
                    await self._catch_up(state)
                    continue
                try:
                    event = decode(message)
                except (ValueError, UnicodeDecodeError):
                    log.warning("dropping a malformed bus message", extra={"room": state.name})
                    continue
                if event.seq:
                    if event.seq <= state.last:
                        continue  # a duplicate (or already repaired from the store)
                    if event.seq > state.last + 1:
                        self._fanout(state, batch)
                        batch = []
                        await self._repair(state, event.seq)
                        if event.seq <= state.last:
                            continue
                    state.last = event.seq
                elif event.type == "room_deleted":
                    batch.append(Outgoing(event.payload))
                    self._fanout(state, batch)
                    batch = []
                    self._drop(state, lambda sub: True)
                    continue
                batch = self._take(state, event.type, event.subject, event.payload, batch)
            self._fanout(state, batch)
        finally:
            state.busy = False

    def _take(
        self, state: _Room, kind: str, subject: str | None, payload: bytes, batch: list[Outgoing]
    ) -> list[Outgoing]:
        """Queue one room event in `batch` (fanning out early where delivery narrows)."""
        if kind in REMOVALS:
            batch.append(Outgoing(payload))  # the one removed gets it too, last
            self._fanout(state, batch)
            self._drop(state, lambda sub: sub.user == subject)
            return []
        if kind == "read":  # a user's own marker: only their devices
            self._fanout(state, batch)
            self._fanout(state, [Outgoing(payload)], only=subject)
            return []
        batch.append(Outgoing(payload))
        return batch

    async def _catch_up(self, state: _Room) -> None:
        """Deliver what the store has past `state.last` (after the bus lost frames)."""
        try:
            last = await self._source.last_seq(state.name)
        except Exception:
            log.exception("reading last seq after a bus gap failed", extra={"room": state.name})
            return
        if last > state.last:
            await self._repair(state, last + 1)

    async def _repair(self, state: _Room, upto: int) -> None:
        """Deliver the room's events between `state.last` and `upto` from the store."""
        while state.last < upto - 1:
            try:
                page = await self._source.events_after(state.name, state.last, REPAIR_PAGE)
            except Exception:
                log.exception("gap repair failed", extra={"room": state.name})
                page = []
            if not page:
                # The store has nothing to fill it: skip the gap rather than stall the room.
                # A client seeing it (seq jumps) resumes from its last seq.
                log.warning(
                    "seq gap left unrepaired",
                    extra={"room": state.name, "last": state.last, "next": upto},
                )
                state.last = upto - 1
                return
            batch: list[Outgoing] = []
            for event in page:
                if event.seq > state.last and event.seq < upto:
                    state.last = event.seq
                    batch = self._take(state, event.type, event.subject, event.payload, batch)
            self._fanout(state, batch)
            if page[-1].seq >= upto - 1 or len(page) < REPAIR_PAGE:
                if state.last < upto - 1:
                    state.last = upto - 1
                return

    def _fanout(self, state: _Room, frames: list[Outgoing], only: str | None = None) -> None:
        if not frames:
            return
        frame = Outgoing.batch(frames)
        if only is None:
            for sub in state.live:
                sub.deliver(frame)
            self.delivered += len(state.live) * len(frames)
        else:
            for sub in [s for s in state.live if s.user == only]:
                sub.deliver(frame)
                self.delivered += len(frames)
        if state.held:
            overflowed = []
            for sub, held in state.held.items():
                if held.ended or (only is not None and sub.user != only):
                    continue
                held.frames.append(frame)
                if len(held.frames) > self._hold_limit:
                    overflowed.append(sub)
            for sub in overflowed:
                del state.held[sub]
                sub.overflow()
            self._close_if_empty(state)

    def _drop(self, state: _Room, which: Callable[[Subscriber], bool]) -> None:
        """These connections stop receiving the room (removed, or the room is gone); a held
        one gets what was held for it on `release`, then nothing more."""
        for sub in [s for s in state.live if which(s)]:
            state.live.discard(sub)
        for sub, held in state.held.items():
            if which(sub):
                held.ended = True
        self._close_if_empty(state)
