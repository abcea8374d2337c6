"""Bootstrap picks the bus and the chat state shared by nodes from CONFAB_BUS_URL."""

from __future__ import annotations

import pytest

from confab.adapters.bus_redis import RedisBus
from confab.adapters.state_redis import RedisBuckets
from confab.adapters.state_redis_presence import RedisPresenceStore
from confab.bootstrap import Closer, make_bus
from confab.bootstrap.chat import make_shared_chat_state
from confab.core.errors import InvalidInput
from confab.core.memory import InProcessBus
from confab.core.settings import Settings


async def test_memory_bus_keeps_chat_state_in_the_process() -> None:
    assert isinstance(make_bus("memory://"), InProcessBus)
    closers: list[Closer] = []
    shared = make_shared_chat_state(Settings(bus_url="memory://"), closers)
    assert (shared.buckets, shared.presence) == (None, None)
    assert closers == []


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0?prefix=x:", "rediss://h:6380/1"])
async def test_redis_urls_make_a_redis_bus_and_shared_state(url: str) -> None:
    # Nothing connects until used: a node starts even while Redis is away.
    bus = make_bus(url)
    assert isinstance(bus, RedisBus)
    await bus.close()
    closers: list[Closer] = []
    shared = make_shared_chat_state(Settings(bus_url=url), closers)
    assert isinstance(shared.buckets, RedisBuckets)
    assert isinstance(shared.presence, RedisPresenceStore)
    assert len(closers) == 1
    for close in closers:
        await close()


@pytest.mark.parametrize("url", ["kafka://h", "redis://h?prefix=bad prefix"])
def test_bad_bus_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        make_bus(url)
    assert refused.value.reason == "bad_setting"
