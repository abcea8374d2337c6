"""Per-user bus channels: sessions end everywhere at once, other frames reach every
connection of the user, expiry closes by the feed's clock, the channel lives while needed."""

from __future__ import annotations

import asyncio
from typing import Any

from confab.chat.busevent import encode_ephemeral, user_channel
from confab.chat.userfeed import (
    CLOSE_SESSION_ENDED,
    UserFeed,
    session_ended_frame,
)
from confab.core.memory import InProcessBus


class Conn:
    def __init__(self) -> None:
        self.closed = False
        self.sent: list[bytes] = []
        self.code: int | None = None

    def send(self, payload: bytes) -> None:
        self.sent.append(payload)

    def close(self, code: int, reason: str = "") -> None:
        self.closed = True
        self.code = code


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


FAR = 2_000_000.0


async def test_session_ended_closes_only_the_sessions_named() -> None:
    bus = InProcessBus()
    feed = UserFeed(bus)
    phone, laptop, other_user = Conn(), Conn(), Conn()
    await feed.attach("ann", phone, "tok-phone", FAR)
    await feed.attach("ann", laptop, "tok-laptop", FAR)
    await feed.attach("bob", other_user, "tok-phone", FAR)  # same id, another user
    await bus.publish(user_channel("ann"), session_ended_frame(["tok-phone"]))
    assert (phone.code, laptop.code, other_user.code) == (CLOSE_SESSION_ENDED, None, None)
    await bus.publish(user_channel("ann"), session_ended_frame(None))
    assert laptop.code == CLOSE_SESSION_ENDED and other_user.code is None
    await feed.close()


async def test_any_other_frame_reaches_every_connection_of_the_user() -> None:
    bus = InProcessBus()
    feed = UserFeed(bus)
    a, b, c = Conn(), Conn(), Conn()
    await feed.attach("ann", a, "t1", FAR)
    await feed.attach("ann", b, "t2", FAR)
    await feed.attach("bob", c, "t3", FAR)
    frame = b'{"type":"room_added","room":"hall"}'
    await bus.publish(user_channel("ann"), encode_ephemeral("room_added", frame))
    assert (a.sent, b.sent, c.sent) == ([frame], [frame], [])
    malformed = (
        encode_ephemeral("session_ended", b'{"type":"session_ended"}'),
        encode_ephemeral("session_ended", b'{"type":"session_ended","tokens":"t1"}'),
        b"\xff",  # no envelope at all
        frame,  # a frame without its envelope
    )
    for junk in malformed:
        await bus.publish(user_channel("ann"), junk)  # malformed control: nothing closes
    assert not a.closed and not b.closed
    await feed.close()


async def test_the_channel_is_held_while_the_user_has_connections_here() -> None:
    bus = InProcessBus()
    feed = UserFeed(bus, max_per_user=2)
    a, b = Conn(), Conn()
    await feed.attach("ann", a, "t1", FAR)
    await feed.attach("ann", b, "t2", FAR)
    assert feed.full("ann") and feed.count("ann") == 2 and not feed.full("bob")
    feed.detach("ann", a)
    assert not feed.full("ann")
    assert bus._handlers[user_channel("ann")]  # still subscribed for b
    feed.detach("ann", b)
    feed.detach("ann", b)  # twice is harmless
    await asyncio.sleep(0)  # the unsubscribe task
    assert not bus._handlers.get(user_channel("ann"))
    await bus.publish(user_channel("ann"), encode_ephemeral("x", b'{"type":"x"}'))
    assert a.sent == b.sent == []
    await feed.close()


async def test_expiry_closes_by_the_feeds_clock() -> None:
    clock = Clock()
    feed = UserFeed(InProcessBus(), clock=clock)
    soon, later, gone = Conn(), Conn(), Conn()
    await feed.attach("ann", soon, "t1", clock.now + 60)
    await feed.attach("ann", later, "t2", clock.now + 3600)
    await feed.attach("ann", gone, "t3", clock.now + 60)
    feed.detach("ann", gone)
    assert feed.expire_due() == 0
    clock.now += 60
    assert feed.expire_due() == 1
    assert (soon.code, later.code, gone.code) == (CLOSE_SESSION_ENDED, None, None)
    clock.now += 3600
    assert feed.expire_due() == 1 and later.code == CLOSE_SESSION_ENDED
    await feed.close()


async def test_the_expiry_timer_fires_on_its_own() -> None:
    clock = Clock()
    feed = UserFeed(InProcessBus(), clock=clock)
    conn = Conn()
    await feed.attach("ann", conn, "t1", clock.now)  # already due: the timer runs next
    for _ in range(3):  # a few loop turns, no wall-clock wait
        await asyncio.sleep(0)
    assert conn.code == CLOSE_SESSION_ENDED
    await feed.close()


class GappyBus(InProcessBus):
    """An in-process bus that keeps each subscription's `on_gap`, to replay an outage."""

    def __init__(self) -> None:
        super().__init__()
        self.gaps: list[Any] = []

    async def subscribe(self, channel: str, handler: Any, *, on_gap: Any = None) -> Any:
        self.gaps.append(on_gap)
        return await super().subscribe(channel, handler)


async def test_after_a_bus_gap_sessions_ended_meanwhile_are_closed() -> None:
    bus = GappyBus()
    valid = {"t-kept"}
    asked: list[tuple[str, list[str]]] = []

    async def still_valid(username: str, ids: list[str]) -> set[str]:
        asked.append((username, ids))
        return valid & set(ids)

    feed = UserFeed(bus, still_valid=still_valid)
    kept, ended = Conn(), Conn()
    await feed.attach("ann", kept, "t-kept", FAR)
    await feed.attach("ann", ended, "t-ended", FAR)
    # The sign-out of t-ended was published while the bus was away: lost. Then the gap:
    (on_gap,) = bus.gaps
    await on_gap()
    assert asked == [("ann", ["t-ended", "t-kept"])]
    assert (kept.code, ended.code) == (None, CLOSE_SESSION_ENDED)
    await feed.close()
