"""Every Bus passes the same contract: in-process, and Redis pub/sub on a real server.

Each test gets two buses, `a` and `b`, standing for two nodes (the in-process bus is one
object playing both): what `a` publishes reaches `b`'s subscribers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from confab.adapters.bus_redis import RedisBus
from confab.core.errors import Unavailable
from confab.core.memory import InProcessBus
from confab.core.ports import Bus
from tests.contract.redis_servers import shared_redis_url


@dataclass
class Nodes:
    a: Bus
    b: Bus


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    if request.param == "memory":
        bus = InProcessBus()
        yield Nodes(bus, bus)
        await bus.close()
        return
    url = shared_redis_url()
    a, b = RedisBus(url), RedisBus(url)
    yield Nodes(a, b)
    await a.close()
    await b.close()


class Inbox:
    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.gaps = 0
        self._changed = asyncio.Event()

    async def handler(self, message: bytes) -> None:
        self.got.append(message)
        self._changed.set()

    async def on_gap(self) -> None:
        self.gaps += 1
        self._changed.set()

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self._changed.clear()
                await self._changed.wait()

    async def count(self, n: int) -> list[bytes]:
        await self.until(lambda: len(self.got) >= n)
        return self.got


async def test_a_published_message_reaches_the_subscriber_of_its_channel(nodes: Nodes) -> None:
    inbox = Inbox()
    await nodes.b.subscribe("room.hall", inbox.handler, on_gap=inbox.on_gap)
    await nodes.a.publish("room.hall", b'{"x":1}')
    assert await inbox.count(1) == [b'{"x":1}']
    assert inbox.gaps == 0  # nothing was lost


async def test_only_subscribed_channels_are_delivered(nodes: Nodes) -> None:
    hall, other = Inbox(), Inbox()
    await nodes.b.subscribe("room.hall", hall.handler)
    await nodes.b.subscribe("room.other", other.handler)
    await nodes.a.publish("room.nobody", b"lost")
    await nodes.a.publish("room.hall", b"one")
    await nodes.a.publish("room.other", b"two")
    # One publisher's messages arrive in order, so once "two" is in, "lost" would be too.
    assert await other.count(1) == [b"two"]
    assert await hall.count(1) == [b"one"]
    assert hall.got == [b"one"]


async def test_every_handler_of_a_channel_gets_each_message_once(nodes: Nodes) -> None:
    first, second = Inbox(), Inbox()
    await nodes.b.subscribe("room.hall", first.handler)
    await nodes.b.subscribe("room.hall", second.handler)
    await nodes.a.publish("room.hall", b"m")
    await nodes.a.publish("room.hall", b"end")
    assert await first.count(2) == [b"m", b"end"]
    assert await second.count(2) == [b"m", b"end"]


async def test_cancel_stops_one_handler_and_keeps_the_others(nodes: Nodes) -> None:
    gone, kept, witness = Inbox(), Inbox(), Inbox()
    sub = await nodes.b.subscribe("room.hall", gone.handler)
    await nodes.b.subscribe("room.hall", kept.handler)
    await nodes.a.publish("room.hall", b"before")
    await gone.count(1)
    await sub.cancel()
    await sub.cancel()  # twice is harmless
    await nodes.a.publish("room.hall", b"after")
    assert await kept.count(2) == [b"before", b"after"]
    assert gone.got == [b"before"]
    # The last handler of a channel going: nothing is delivered there any more.
    only = await nodes.b.subscribe("room.solo", witness.handler)
    await only.cancel()
    late = Inbox()
    await nodes.b.subscribe("room.late", late.handler)
    await nodes.a.publish("room.solo", b"nobody")
    await nodes.a.publish("room.late", b"sentinel")
    await late.count(1)
    assert witness.got == []


async def test_resubscribing_after_cancel_delivers_again(nodes: Nodes) -> None:
    inbox = Inbox()
    for round_ in range(3):
        sub = await nodes.b.subscribe("room.hall", inbox.handler)
        await nodes.a.publish("room.hall", str(round_).encode())
        await inbox.count(round_ + 1)
        await sub.cancel()
    assert inbox.got == [b"0", b"1", b"2"]


async def test_messages_of_a_channel_arrive_in_publish_order(nodes: Nodes) -> None:
    inbox = Inbox()
    await nodes.b.subscribe("room.hall", inbox.handler)
    sent = [str(i).encode() for i in range(300)]
    for message in sent:
        await nodes.a.publish("room.hall", message)
    assert await inbox.count(len(sent)) == sent


async def test_concurrent_publishes_all_arrive(nodes: Nodes) -> None:
    inbox = Inbox()
    await nodes.b.subscribe("room.hall", inbox.handler)
    sent = {str(i).encode() for i in range(200)}
    await asyncio.gather(*(nodes.a.publish("room.hall", m) for m in sent))
    assert set(await inbox.count(len(sent))) == sent


async def test_binary_payloads_pass_unchanged(nodes: Nodes) -> None:
    inbox = Inbox()
    await nodes.b.subscribe("room.hall", inbox.handler)
    payload = bytes(range(256)) * 40
    await nodes.a.publish("room.hall", payload)
    assert await inbox.count(1) == [payload]


async def test_a_failing_handler_does_not_stop_delivery(nodes: Nodes) -> None:
    inbox = Inbox()

    async def broken(message: bytes) -> None:
        raise RuntimeError("handler bug")

    if isinstance(nodes.b, InProcessBus):
        pytest.skip("the in-process bus runs handlers in the publisher's call")
    await nodes.b.subscribe("room.hall", broken)
    await nodes.b.subscribe("room.hall", inbox.handler)
    await nodes.a.publish("room.hall", b"1")
    await nodes.a.publish("room.hall", b"2")
    assert await inbox.count(2) == [b"1", b"2"]


async def test_after_close_nothing_is_delivered_and_subscribe_is_refused(nodes: Nodes) -> None:
    inbox, witness = Inbox(), Inbox()
    await nodes.b.subscribe("room.hall", inbox.handler)
    separate = nodes.a is not nodes.b  # one in-process bus delivers inside `publish`
    if separate:
        await nodes.a.subscribe("room.hall", witness.handler)
    await nodes.b.close()
    await nodes.b.close()  # idempotent
    await nodes.b.publish("room.hall", b"late")  # never raises
    await nodes.a.publish("room.hall", b"later")
    if separate:  # a live subscriber got what was published after the close: so would `b`
        await witness.until(lambda: witness.got == [b"later"])
    assert inbox.got == []
    with pytest.raises(Unavailable):
        await nodes.b.subscribe("room.hall", inbox.handler)
