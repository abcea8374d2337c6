"""The Redis bus beyond the common contract: what it subscribes, and Redis going away.

Every test that stops Redis runs its own `redis-server` (the shared one is never
touched).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from confab.adapters.bus_redis import RedisBus
from confab.adapters.redis_url import parse_redis_url
from confab.core.errors import InvalidInput
from tests.contract.redis_servers import PrivateRedis, private_redis
from tests.contract.test_bus import Inbox
from tests.polling import until


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as running:
        yield running


@pytest.fixture
async def raw(server: PrivateRedis) -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=server.port)
    yield client
    await client.aclose()


def fast_bus(url: str) -> RedisBus:
    return RedisBus(
        url,
        connect_timeout=0.5,
        command_timeout=0.5,
        publish_retry=0.3,
        keepalive=0.2,
        backoff_max=0.2,
    )


async def until_offline(bus: RedisBus) -> None:
    await until(lambda: not bus.connected, 10, "the bus noticing it is offline")


async def _channels(raw: Redis) -> set[bytes]:
    return set(await raw.pubsub_channels())


async def _has_channels(raw: Redis, wanted: set[bytes]) -> bool:
    return await _channels(raw) == wanted


async def test_subscribes_only_channels_with_handlers_and_never_a_pattern(
    server: PrivateRedis, raw: Redis
) -> None:
    bus = fast_bus(server.url("p:"))
    try:
        assert await _channels(raw) == set()  # nothing until a handler exists
        inbox = Inbox()
        hall = await bus.subscribe("room.hall", inbox.handler)
        second = await bus.subscribe("room.hall", inbox.handler)
        await bus.subscribe("room.kitchen", inbox.handler)
        assert await _channels(raw) == {b"p:room.hall", b"p:room.kitchen"}
        assert await raw.pubsub_numpat() == 0
        await hall.cancel()
        assert await _channels(raw) == {b"p:room.hall", b"p:room.kitchen"}  # one is left
        await second.cancel()
        await until(lambda: _has_channels(raw, {b"p:room.kitchen"}), 5, "room.hall unsubscribed")
        assert bus.channel_count() == 1
        # One connection subscribes for the whole node, one publishes.
        await bus.publish("room.kitchen", b"x")
        clients = [c for c in await raw.client_list() if c.get("cmd") != "client|list"]
        assert len(clients) == 2
    finally:
        await bus.close()


async def test_restart_reconnects_resubscribes_and_reports_the_gap(server: PrivateRedis) -> None:
    url = server.url()
    listener, sender = fast_bus(url), fast_bus(url)
    try:
        inbox, untouched = Inbox(), Inbox()
        await listener.subscribe("room.hall", inbox.handler, on_gap=inbox.on_gap)
        await listener.subscribe("room.other", untouched.handler, on_gap=untouched.on_gap)
        await sender.publish("room.hall", b"before")
        await inbox.count(1)

        server.kill()
        started = time.monotonic()
        await sender.publish("room.hall", b"while down")  # dropped, never raised
        await sender.publish("room.hall", b"while down too")
        assert time.monotonic() - started < 3
        assert sender.dropped == 2
        await until_offline(listener)

        server.start()  # same port, empty: subscriptions must be made again
        await inbox.until(lambda: inbox.gaps == 1, timeout=10)
        await untouched.until(lambda: untouched.gaps == 1)
        assert listener.connected and listener.reconnects == 1
        await sender.publish("room.hall", b"after")
        assert await inbox.count(2) == [b"before", b"after"]
        assert untouched.got == []
    finally:
        await listener.close()
        await sender.close()


async def test_subscribing_while_redis_is_down_returns_and_catches_up(
    server: PrivateRedis,
) -> None:
    url = server.url()
    server.kill()
    listener = fast_bus(url)
    try:
        inbox = Inbox()
        started = time.monotonic()
        await listener.subscribe("room.hall", inbox.handler, on_gap=inbox.on_gap)
        assert time.monotonic() - started < 3
        assert not listener.connected
        server.start()
        await inbox.until(lambda: inbox.gaps == 1, timeout=10)
        sender = fast_bus(url)
        try:
            await sender.publish("room.hall", b"hello")
            assert await inbox.count(1) == [b"hello"]
        finally:
            await sender.close()
    finally:
        await listener.close()


async def test_a_hung_server_is_noticed_by_keepalive(server: PrivateRedis) -> None:
    """SIGSTOP: the socket stays open but nothing answers; SIGCONT brings it back."""
    url = server.url()
    listener, sender = fast_bus(url), fast_bus(url)
    pid = server.pid()
    try:
        inbox = Inbox()
        await listener.subscribe("room.hall", inbox.handler, on_gap=inbox.on_gap)
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            await sender.publish("room.hall", b"lost")  # must not hang the sender
            assert time.monotonic() - started < 1  # publish_retry is 0.3 s
            started = time.monotonic()
            await asyncio.gather(*(sender.publish("room.hall", b"x") for _ in range(50)))
            assert time.monotonic() - started < 1  # each bounded, even queued behind others
            assert sender.dropped == 51
            await until_offline(listener)
        finally:
            os.kill(pid, signal.SIGCONT)
        await inbox.until(lambda: inbox.gaps >= 1, timeout=10)
        await sender.publish("room.hall", b"back")
        await inbox.until(lambda: b"back" in inbox.got)
    finally:
        await listener.close()
        await sender.close()


async def test_a_burst_of_publishes_queues_and_nothing_is_dropped(server: PrivateRedis) -> None:
    """Waiting for a turn on the publishing connection is not a failure.

    Each turn is bounded by `publish_retry`; the burst is made large enough that its last
    publish waited longer than that for its turn (doubling until it does), so a bound
    that counted the wait would drop the tail. The bound itself is a second, not the
    0.3 s of `fast_bus`: the first turn of a burst also pays for starting every task of
    the burst, which on a loaded machine took longer than 0.3 s and dropped the lot.
    """
    url = server.url()
    bound = 1.0
    listener = fast_bus(url)
    sender = RedisBus(url, connect_timeout=0.5, command_timeout=0.5, publish_retry=bound)
    loop = asyncio.get_running_loop()
    try:
        inbox = Inbox()
        await listener.subscribe("room.hall", inbox.handler)
        sent: list[bytes] = []
        size = 5000
        while True:
            wave = [str(len(sent) + i).encode() for i in range(size)]
            started = loop.time()
            await asyncio.gather(*(sender.publish("room.hall", m) for m in wave))
            waited = loop.time() - started
            sent += wave
            assert sender.dropped == 0
            if waited > 1.5 * bound:  # the wave's tail waited past the bound: shown
                break
            size *= 2
            assert size <= 160_000, "Redis answers too fast to outlast the bound"
        await inbox.until(lambda: len(inbox.got) >= len(sent), timeout=30)
        assert inbox.got == sent  # in call order, all of them
    finally:
        await listener.close()
        await sender.close()


def test_urls_carry_a_key_prefix_and_bad_ones_are_refused() -> None:
    target = parse_redis_url("redis://h:1/2?prefix=team-a:&socket_timeout=3")
    assert target.prefix == "team-a:"
    assert target.url == "redis://h:1/2?socket_timeout=3"
    assert parse_redis_url("rediss://h").prefix == "confab:"
    for bad in ("http://h", "redis://h?prefix=", "redis://h?prefix=a%20b"):
        with pytest.raises(InvalidInput):
            parse_redis_url(bad)
    with pytest.raises(InvalidInput):
        RedisBus("redis://h:notaport")
