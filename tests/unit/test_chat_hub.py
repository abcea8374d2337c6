"""The hub: subscriptions per room, fan-out, order, gap repair, held connections."""

from __future__ import annotations

import asyncio
import json

from confab.chat.busevent import encode_ephemeral, encode_event
from confab.chat.hub import Hub
from confab.chat.outgoing import Outgoing
from confab.core.memory import InProcessBus
from confab.core.ports import GapHandler, MessageHandler, Subscription
from confab.core.roomlog import RoomEvent


def event(seq: int, kind: str = "message", user: str | None = None, room: str = "r") -> RoomEvent:
    body = {"type": kind, "room": room, "seq": seq, "text": f"m{seq}"}
    if user is not None:
        body["user"] = user
    return RoomEvent(room, seq, kind, user, json.dumps(body).encode())


def payload(seq: int) -> bytes:
    return event(seq).payload


def msg(seq: int, kind: str = "message", user: str | None = None) -> bytes:
    """The bus message of a room event."""
    return encode_event(event(seq, kind, user))


def typing(user: str = "x") -> bytes:
    return encode_ephemeral("typing", json.dumps({"type": "typing", "user": user}).encode())


class Source:
    """The store: events by seq; `gate` can hold replays to test ordering."""

    def __init__(self, last: int = 0) -> None:
        self.last = last
        self.stored: dict[int, RoomEvent] = {}
        self.replays: list[tuple[str, int]] = []
        self.gate: asyncio.Event | None = None

    def store(self, *seqs: int, kind: str = "message", user: str | None = None) -> None:
        for seq in seqs:
            self.stored[seq] = event(seq, kind, user)
            self.last = max(self.last, seq)

    async def last_seq(self, room: str) -> int:
        await asyncio.sleep(0)
        return self.last

    async def events_after(self, room: str, after: int, limit: int) -> list[RoomEvent]:
        self.replays.append((room, after))
        if self.gate is not None:
            await self.gate.wait()
        seqs = sorted(s for s in self.stored if s > after)[:limit]
        return [self.stored[s] for s in seqs]


class Sub:
    def __init__(self, user: str = "ann") -> None:
        self.user = user
        self.frames: list[dict[str, object]] = []
        self.overflowed = False

    def deliver(self, frame: Outgoing) -> None:
        self.frames += [json.loads(f.payload) for f in frame.frames()]

    def overflow(self) -> None:
        self.overflowed = True

    def seqs(self) -> list[object]:
        return [f.get("seq") for f in self.frames if "seq" in f]

    def greet(self, last: int) -> None:
        self.frames.append({"type": "joined", "last_seq": last})


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def publish(bus: InProcessBus, *payloads: bytes, room: str = "r") -> None:
    """Publish, then let the hub's fan-out task run."""
    for payload in payloads:
        await bus.publish(f"room.{room}", payload)
    await settle()


async def test_subscribes_with_the_first_and_unsubscribes_with_the_last() -> None:
    bus, source = InProcessBus(), Source(last=3)
    hub = Hub(bus, source)
    a, b = Sub("ann"), Sub("bob")
    assert await hub.join(a, "r", a.greet) == 3
    await hub.join(b, "r", b.greet)
    assert len(bus._handlers["room.r"]) == 1
    assert hub.local_count("r") == 2 and hub.is_joined(a, "r")
    hub.leave(a, "r")
    assert len(bus._handlers["room.r"]) == 1
    hub.leave(b, "r")
    await settle()
    assert bus._handlers["room.r"] == []
    assert hub.rooms() == [] and hub.last_seq("r") is None
    await hub.close()


async def test_fans_out_in_order_and_drops_duplicates() -> None:
    bus, source = InProcessBus(), Source()
    hub = Hub(bus, source)
    subs = [Sub(f"u{i}") for i in range(3)]
    for sub in subs:
        await hub.join(sub, "r", sub.greet)
    for seq in (1, 2, 2, 1, 3):
        await publish(bus, msg(seq))
    await publish(bus, typing("u1"))
    for sub in subs:
        assert sub.frames[0] == {"type": "joined", "last_seq": 0}
        assert sub.seqs() == [1, 2, 3]
        assert sub.frames[-1]["type"] == "typing"
    assert hub.last_seq("r") == 3
    assert hub.delivered == 12
    await hub.close()


async def test_one_encoding_is_shared_by_every_recipient() -> None:
    bus = InProcessBus()
    hub = Hub(bus, Source())
    seen: list[Outgoing] = []

    class Raw(Sub):
        def deliver(self, frame: Outgoing) -> None:
            seen.append(frame)

    for i in range(3):
        sub = Raw(f"u{i}")
        await hub.join(sub, "r", sub.greet)
    await publish(bus, msg(1))
    assert len(seen) == 3 and seen[0] is seen[1] is seen[2]
    assert seen[0].payload == payload(1)
    await hub.close()


async def test_a_gap_is_repaired_from_the_store_before_delivering() -> None:
    bus, source = InProcessBus(), Source()
    hub = Hub(bus, source)
    sub = Sub()
    await hub.join(sub, "r", sub.greet)
    await publish(bus, msg(1))
    source.store(1, 2, 3, 4)  # 2 and 3 never came through the bus
    await publish(bus, msg(4))
    assert sub.seqs() == [1, 2, 3, 4]
    assert source.replays == [("r", 1)]
    await publish(bus, msg(3))  # late duplicate
    assert sub.seqs() == [1, 2, 3, 4]
    await hub.close()


class GapBus(InProcessBus):
    """An in-process bus that can pretend it reconnected: calls every `on_gap`."""

    def __init__(self) -> None:
        super().__init__()
        self.gap_handlers: list[GapHandler] = []

    async def subscribe(
        self, channel: str, handler: MessageHandler, *, on_gap: GapHandler | None = None
    ) -> Subscription:
        if on_gap is not None:
            self.gap_handlers.append(on_gap)
        return await super().subscribe(channel, handler, on_gap=on_gap)

    async def reconnected(self) -> None:
        for on_gap in self.gap_handlers:
            await on_gap()


async def test_a_bus_gap_is_caught_up_from_the_store_without_a_later_frame() -> None:
    bus, source = GapBus(), Source()
    hub = Hub(bus, source)
    sub, late = Sub(), Sub("bob")
    await hub.join(sub, "r", sub.greet)
    await publish(bus, msg(1))
    source.store(1, 2, 3)  # 2 and 3 were published while the bus was down
    await bus.reconnected()
    await settle()
    assert sub.seqs() == [1, 2, 3]
    assert source.replays == [("r", 1)]
    await publish(bus, msg(3))  # a late copy is dropped; the next one flows
    await publish(bus, msg(4))
    assert sub.seqs() == [1, 2, 3, 4]
    await bus.reconnected()  # nothing missed this time: no replay
    await settle()
    assert source.replays == [("r", 1)] and sub.seqs() == [1, 2, 3, 4]
    # A gap report for a room nobody here is in any more does nothing.
    hub.leave(sub, "r")
    await bus.reconnected()
    await settle()
    assert late.frames == [] and hub.rooms() == []
    await hub.close()


async def test_a_bus_gap_waits_its_turn_behind_a_repair() -> None:
    bus, source = GapBus(), Source()
    hub = Hub(bus, source)
    sub = Sub()
    await hub.join(sub, "r", sub.greet)
    source.store(1, 2, 3, 4, 5)
    source.gate = asyncio.Event()
    repair = asyncio.create_task(bus.publish("room.r", msg(3)))
    await settle()
    await bus.reconnected()
    await publish(bus, msg(6))
    source.store(6)
    assert sub.seqs() == []
    source.gate.set()
    await repair
    await settle()
    assert sub.seqs() == [1, 2, 3, 4, 5, 6]
    await hub.close()


async def test_frames_arriving_during_a_repair_wait_their_turn() -> None:
    bus, source = InProcessBus(), Source()
    hub = Hub(bus, source)
    sub = Sub()
    await hub.join(sub, "r", sub.greet)
    source.store(1, 2, 3)
    source.gate = asyncio.Event()
    repair = asyncio.create_task(bus.publish("room.r", msg(3)))
    await settle()
    await publish(bus, msg(4))
    await publish(bus, typing())
    assert sub.seqs() == []  # all wait for the repair
    source.gate.set()
    await repair
    await settle()
    assert sub.seqs() == [1, 2, 3, 4]
    assert sub.frames[-1]["type"] == "typing"
    await hub.close()


async def test_an_unrepairable_gap_is_skipped_not_stalled() -> None:
    bus, source = InProcessBus(), Source()
    hub = Hub(bus, source)
    sub = Sub()
    await hub.join(sub, "r", sub.greet)
    await publish(bus, msg(5))  # the store has nothing before it
    await publish(bus, msg(6))
    assert sub.seqs() == [5, 6]
    await hub.close()


async def test_frames_during_subscription_reach_the_joiner_after_its_greeting() -> None:
    bus, source = InProcessBus(), Source(last=2)
    hub = Hub(bus, source)
    sub = Sub()
    slow = asyncio.Event()
    original = source.last_seq

    async def last_seq(room: str) -> int:
        await slow.wait()
        return await original(room)

    source.last_seq = last_seq  # type: ignore[method-assign]
    joining = asyncio.create_task(hub.join(sub, "r", sub.greet))
    await settle()
    other = Sub("bob")
    second = asyncio.create_task(hub.join(other, "r", other.greet))  # waits for the first
    await settle()
    await bus.publish("room.r", msg(2))  # already counted in last_seq: dropped
    await publish(bus, msg(3))
    slow.set()
    assert await joining == 2
    await second
    await settle()
    assert sub.frames[0] == {"type": "joined", "last_seq": 2}
    assert sub.seqs() == [3]
    # The second joiner got in after seq 3 was delivered: its greeting says so.
    assert other.frames == [{"type": "joined", "last_seq": 3}]
    await hub.close()


async def test_held_frames_come_after_the_replay() -> None:
    bus, source = InProcessBus(), Source()
    hub = Hub(bus, source)
    live, resuming = Sub("bob"), Sub("ann")
    await hub.join(live, "r", live.greet)
    await publish(bus, msg(1))
    assert await hub.hold(resuming, "r") == 1
    await publish(bus, msg(2))
    assert resuming.frames == []  # held while the replay is written
    resuming.frames.append({"type": "message", "seq": 1})  # the replay
    hub.release(resuming, "r")
    await publish(bus, msg(3))
    assert resuming.seqs() == [1, 2, 3]
    assert live.seqs() == [1, 2, 3]
    await hub.close()


async def test_too_much_held_closes_the_connection() -> None:
    bus = InProcessBus()
    hub = Hub(bus, Source(), hold_limit=2)
    sub = Sub()
    await hub.hold(sub, "r")
    for seq in (1, 2, 3):
        await publish(bus, msg(seq))
    assert sub.overflowed
    assert not hub.is_joined(sub, "r")
    await hub.close()


async def test_member_left_stops_delivery_to_that_user() -> None:
    bus = InProcessBus()
    hub = Hub(bus, Source())
    ann, bob = Sub("ann"), Sub("bob")
    await hub.join(ann, "r", ann.greet)
    await hub.join(bob, "r", bob.greet)
    await publish(bus, msg(1, "member_left", "bob"))
    await publish(bus, msg(2))
    assert bob.frames[-1]["type"] == "member_left"
    assert bob.seqs() == [1]
    assert ann.seqs() == [1, 2]
    assert not hub.is_joined(bob, "r")
    await hub.close()


async def test_malformed_bus_frames_are_dropped() -> None:
    bus = InProcessBus()
    hub = Hub(bus, Source())
    sub = Sub()
    await hub.join(sub, "r", sub.greet)
    await publish(bus, b"garbage")
    await publish(bus, b'{"no":"type"}')
    await publish(bus, msg(1))
    assert sub.seqs() == [1]
    await hub.close()


async def test_frames_that_pile_up_leave_in_one_write_per_connection() -> None:
    bus = InProcessBus()
    hub = Hub(bus, Source())
    writes: list[Outgoing] = []

    class Raw(Sub):
        def deliver(self, frame: Outgoing) -> None:
            writes.append(frame)

    sub = Raw()
    await hub.join(sub, "r", sub.greet)
    for seq in (1, 2, 3):  # published before the fan-out task gets to run
        await bus.publish("room.r", msg(seq))
    await settle()
    assert len(writes) == 1
    assert [json.loads(f.payload)["seq"] for f in writes[0].frames()] == [1, 2, 3]
    assert writes[0].wire == b"".join(f.wire for f in writes[0].frames())
    await hub.close()


async def test_every_event_with_a_seq_is_gap_checked_and_repaired() -> None:
    bus, source = InProcessBus(), Source()
    hub = Hub(bus, source)
    sub = Sub()
    await hub.join(sub, "r", sub.greet)
    source.store(1)
    source.store(2, kind="reaction_added", user="bob")
    source.store(3, kind="message_edited")
    await publish(bus, msg(3, "message_edited"))  # 1 and 2 were lost on the bus
    assert [(f["type"], f["seq"]) for f in sub.frames[1:]] == [
        ("message", 1),
        ("reaction_added", 2),
        ("message_edited", 3),
    ]
    await hub.close()


async def test_a_removal_repaired_from_the_store_still_drops_the_user() -> None:
    bus, source = GapBus(), Source()
    hub = Hub(bus, source)
    ann, bob = Sub("ann"), Sub("bob")
    await hub.join(ann, "r", ann.greet)
    await hub.join(bob, "r", bob.greet)
    source.store(1)
    source.store(2, kind="member_banned", user="bob")
    source.store(3)
    await bus.reconnected()  # all three were published while the bus was down
    await settle()
    await publish(bus, msg(4))
    assert bob.seqs() == [1, 2] and bob.frames[-1]["type"] == "member_banned"
    assert ann.seqs() == [1, 2, 3, 4]
    assert not hub.is_joined(bob, "r")
    await hub.close()


async def test_a_removal_while_held_is_delivered_then_ends_the_hold() -> None:
    bus = InProcessBus()
    hub = Hub(bus, Source())
    bob = Sub("bob")
    assert await hub.hold(bob, "r") == 0
    await publish(bus, msg(1), msg(2, "member_left", "bob"), msg(3))
    assert bob.frames == [] and not hub.is_joined(bob, "r")
    assert hub.release(bob, "r") is False
    assert bob.seqs() == [1, 2]
    assert hub.rooms() == []  # nobody left in the room here
    await hub.close()


async def test_read_markers_reach_only_their_user_and_room_deleted_drops_everyone() -> None:
    bus = InProcessBus()
    hub = Hub(bus, Source())
    ann, bob, bob2 = Sub("ann"), Sub("bob"), Sub("bob")
    for sub in (ann, bob, bob2):
        await hub.join(sub, "r", sub.greet)
    await publish(bus, msg(1), msg(2, "read", "bob"), msg(3))
    assert ann.seqs() == [1, 3] and bob.seqs() == [1, 2, 3] and bob2.seqs() == [1, 2, 3]
    deleted = json.dumps({"type": "room_deleted", "room": "r"}).encode()
    await publish(bus, encode_ephemeral("room_deleted", deleted), msg(4))
    for sub in (ann, bob, bob2):
        assert sub.frames[-1] == {"type": "room_deleted", "room": "r"}
        assert not hub.is_joined(sub, "r")
    assert hub.rooms() == []
    await hub.close()
