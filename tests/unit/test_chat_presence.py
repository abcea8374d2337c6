"""Online while a connection is open, a grace period hiding reconnects; typing throttle."""

from __future__ import annotations

import asyncio
import json

from confab.chat.presence import Presence, TypingThrottle


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
    presence = Presence(rec.publish, grace=0.05)
    assert not presence.is_present("ann", "a")
    presence.entered("ann", "a")
    presence.entered("ann", "a")  # a second tab
    presence.entered("ann", "b")
    await settle()
    assert presence.is_present("ann", "a") and presence.present_count() == 2
    assert rec.events() == [("a", "ann", True), ("b", "ann", True)]
    presence.left("ann", "a")
    await asyncio.sleep(0.1)
    assert presence.is_present("ann", "a")  # one tab still there
    presence.left("ann", "a")
    presence.left("ann", "b")
    assert presence.is_present("ann", "a")  # within the grace period
    await asyncio.sleep(0.1)
    await settle()
    assert not presence.is_present("ann", "a")
    assert rec.events()[2:] == [("a", "ann", False), ("b", "ann", False)]
    await presence.close()


async def test_a_rejoin_within_grace_is_invisible() -> None:
    rec = Recorder()
    presence = Presence(rec.publish, grace=0.2)
    presence.entered("ann", "a")
    await settle()
    presence.left("ann", "a")
    await asyncio.sleep(0.01)
    presence.entered("ann", "a")
    await asyncio.sleep(0.3)
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


def test_typing_is_throttled_per_user_and_room() -> None:
    now = [0.0]
    throttle = TypingThrottle(3.0, clock=lambda: now[0], max_entries=4)
    assert throttle.allow("ann", "a")
    assert not throttle.allow("ann", "a")
    assert throttle.allow("ann", "b")
    assert throttle.allow("bob", "a")
    now[0] = 3.5
    assert throttle.allow("ann", "a")
    for i in range(10):  # bounded memory: old entries go
        assert throttle.allow(f"u{i}", "a")
    assert len(throttle._last) <= 4
