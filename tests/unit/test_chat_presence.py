"""Online while a connection is open, a grace period hiding reconnects; typing throttle.

Time is a `ManualClock`: the tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence

from confab.chat.presence import MemoryPresenceStore, Pair, Presence, TypingThrottle
from confab.core.clock import ManualClock


class Recorder:
    def __init__(self) -> None:
        self.frames: list[tuple[str, dict[str, object]]] = []

    async def publish(self, room: str, frame: bytes) -> None:
        self.frames.append((room, json.loads(frame)))

    def events(self) -> list[tuple[str, str, bool]]:
        return [(room, str(f["user"]), bool(f["online"])) for room, f in self.frames]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_present_with_the_first_join_gone_after_grace() -> None:
    rec = Recorder()
    clock = ManualClock()
    presence = Presence(rec.publish, grace=0.05, clock=clock)
    assert not presence.is_present("ann", "a")
    presence.entered("ann", "a")
    presence.entered("ann", "a")  # a second tab
    presence.entered("ann", "b")
    await settle()
    assert presence.is_present("ann", "a") and presence.present_count() == 2
    assert rec.events() == [("a", "ann", True), ("b", "ann", True)]
    presence.left("ann", "a")
    await clock.advance(0.1)
    assert presence.is_present("ann", "a")  # one tab still there
    presence.left("ann", "a")
    presence.left("ann", "b")
    assert presence.is_present("ann", "a")  # within the grace period
    await clock.advance(0.049)
    assert presence.is_present("ann", "a") and len(rec.events()) == 2
    await clock.advance(0.002)
    await settle()
    assert not presence.is_present("ann", "a")
    assert rec.events()[2:] == [("a", "ann", False), ("b", "ann", False)]
    await presence.close()


async def test_a_rejoin_within_grace_is_invisible() -> None:
    rec = Recorder()
    clock = ManualClock()
    presence = Presence(rec.publish, grace=0.2, clock=clock)
    presence.entered("ann", "a")
    await settle()
    presence.left("ann", "a")
    await clock.advance(0.01)
    presence.entered("ann", "a")
    await clock.advance(0.3)
    await settle()
    assert rec.events() == [("a", "ann", True)]
    await presence.close()


async def test_zero_grace_extra_leaves_and_publish_failures() -> None:
    async def broken(room: str, frame: bytes) -> None:
        raise RuntimeError("bus down")

    presence = Presence(broken, grace=0)
    presence.left("bob", "a")  # never entered: nothing happens
    presence.entered("ann", "a")
    presence.left("ann", "a")
    await settle()
    assert not presence.is_present("ann", "a")
    await presence.close()


async def test_online_is_shared_by_nodes_and_announced_once() -> None:
    board: dict[Pair, set[int]] = {}
    rec = Recorder()
    a = Presence(rec.publish, grace=0, store=MemoryPresenceStore(board))
    b = Presence(rec.publish, grace=0, store=MemoryPresenceStore(board))
    a.entered("ann", "r")
    await settle()
    b.entered("ann", "r")  # a second tab, on the other node
    await settle()
    assert rec.events() == [("r", "ann", True)]
    assert await b.online("r", ["ann", "bob"]) == {"ann"}
    assert not b.is_present("bob", "r")
    a.left("ann", "r")
    await settle()
    assert rec.events() == [("r", "ann", True)]  # still on b
    b.left("ann", "r")
    await settle()
    assert rec.events() == [("r", "ann", True), ("r", "ann", False)]
    assert await a.online("r", ["ann"]) == set()
    await a.close()
    await b.close()


async def test_moving_to_another_node_within_grace_is_invisible() -> None:
    board: dict[Pair, set[int]] = {}
    rec = Recorder()
    clock = ManualClock()
    a = Presence(rec.publish, grace=0.1, store=MemoryPresenceStore(board), clock=clock)
    b = Presence(rec.publish, grace=0.1, store=MemoryPresenceStore(board), clock=clock)
    a.entered("ann", "r")
    await settle()
    a.left("ann", "r")  # node a's connection dropped; the client reconnects to b
    b.entered("ann", "r")
    await clock.advance(0.2)
    await settle()
    assert rec.events() == [("r", "ann", True)]
    assert await a.online("r", ["ann"]) == {"ann"}
    await a.close()
    await b.close()


async def test_closing_a_node_announces_who_went_with_it() -> None:
    board: dict[Pair, set[int]] = {}
    rec = Recorder()
    a = Presence(rec.publish, grace=5, store=MemoryPresenceStore(board))
    b = Presence(rec.publish, grace=5, store=MemoryPresenceStore(board))
    a.entered("ann", "r")
    a.entered("bob", "r")
    b.entered("bob", "r")
    await settle()
    a.left("ann", "r")  # in its grace period when the node stops
    await a.close()
    assert sorted(rec.events()) == [("r", "ann", False), ("r", "ann", True), ("r", "bob", True)]
    assert await b.online("r", ["ann", "bob"]) == {"bob"}
    a.entered("cat", "r")  # after close: ignored
    await settle()
    assert await b.online("r", ["cat"]) == set()
    await b.close()


class FlakyStore(MemoryPresenceStore):
    """Fails when told to; beats fast; can forget everything (a restarted Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.intact = True
        self.dead: list[Pair] = []

    @property
    def heartbeat_interval(self) -> float | None:
        return 0.02

    async def update(self, changes: Sequence[tuple[str, str, bool]]) -> list[bool]:
        if self.failing:
            raise ConnectionError("store down")
        return await super().update(changes)

    async def replace(self, present: Collection[Pair]) -> tuple[list[Pair], list[Pair]]:
        if self.failing:
            raise ConnectionError("store down")
        return await super().replace(present)

    async def online(self, room: str, users: Sequence[str]) -> set[str]:
        if self.failing:
            raise ConnectionError("store down")
        return await super().online(room, users)

    async def heartbeat(self) -> bool:
        if self.failing:
            raise ConnectionError("store down")
        intact, self.intact = self.intact, True
        return intact

    async def sweep(self) -> list[Pair]:
        dead, self.dead = self.dead, []
        return dead

    def forget(self) -> None:
        self.board.clear()
        self._mine.clear()
        self.intact = False


async def test_a_failed_or_forgetful_store_is_refilled_at_the_next_heartbeat() -> None:
    rec = Recorder()
    store = FlakyStore()
    clock = ManualClock()
    presence = Presence(rec.publish, grace=0, store=store, clock=clock)
    store.failing = True
    presence.entered("ann", "r")
    await settle()
    assert rec.events() == []  # the update failed
    assert await presence.online("r", ["ann", "bob"]) == {"ann"}  # this node's view
    store.failing = False
    await clock.advance(0.019)
    assert rec.events() == []  # the next beat is 0.02 s after the failed one
    await clock.advance(0.001)
    assert rec.events() == [("r", "ann", True)]  # refilled at the next beat
    assert await presence.online("r", ["ann"]) == {"ann"}
    store.forget()  # Redis restarted empty
    await clock.advance(0.1)
    assert ("ann", "r") in store.board
    store.dead = [("zed", "r")]  # another node died with zed on it
    await clock.advance(0.1)
    assert rec.events()[-1] == ("r", "zed", False)
    # ann leaves while the store is down, and it comes back empty: still announced.
    store.failing = True
    presence.left("ann", "r")
    await settle()
    store.forget()
    store.failing = False
    await clock.advance(0.1)
    assert rec.events()[-1] == ("r", "ann", False)
    await presence.close()


async def test_typing_is_throttled_per_user_and_room() -> None:
    clock = ManualClock()
    throttle = TypingThrottle(3.0, clock=clock, max_entries=4)
    assert throttle.allow("ann", "a")
    assert not throttle.allow("ann", "a")
    assert throttle.allow("ann", "b")
    assert throttle.allow("bob", "a")
    await clock.advance(2.9)
    assert not throttle.allow("ann", "a")
    await clock.advance(0.6)
    assert throttle.allow("ann", "a")
    for i in range(10):  # bounded memory: old entries go
        assert throttle.allow(f"u{i}", "a")
    assert len(throttle._last) <= 4
