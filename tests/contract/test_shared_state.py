"""State shared by chat nodes: every implementation passes the same contract.

The rate limiter's buckets (`RateLimiter` on `MemoryBuckets` / `RedisBuckets`) and presence store
(`PresenceStore`), each in memory (the embedded default) and in Redis (a real server,
under a key prefix of the test's own). `Backend.node()` makes the object as another node
would see it: over Redis a separate client on the same keys; in memory the same state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from confab.adapters.state_redis import RedisBuckets, RedisState
from confab.adapters.state_redis_presence import RedisPresenceStore
from confab.chat.presence import MemoryPresenceStore, Pair, PresenceStore
from confab.core.errors import Unavailable
from confab.core.ratelimit import NEVER, FallbackBuckets, Limit, MemoryBuckets, RateLimiter
from tests.contract.redis_servers import delete_prefix, private_redis, shared_redis_url
from tests.polling import until


class Limited:
    """A `RateLimiter` bound to its one action `x`."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def acquire(self, key: str, cost: float = 1.0) -> bool:
        return await self.limiter.acquire("x", key, cost)

    async def wait(self, key: str, cost: float = 1.0, update: bool = True) -> float:
        return await self.limiter.can_do("x", key, cost, update=update)


class Backend:
    """Makes limiters and presence stores on one backend, as seen from several nodes."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._url = shared_redis_url() if kind == "redis" else ""
        self._states: list[RedisState] = []
        self._memory: dict[str, Any] = {}
        self._board: dict[Pair, set[int]] = {}
        self._stores: list[PresenceStore] = []

    def _state(self) -> RedisState:
        state = RedisState(self._url)
        self._states.append(state)
        return state

    def rate_limiter(self, rate: float, burst: float) -> Limited:
        """The one rate limiter with a single action, as a node of this backend has it."""
        if self.kind == "redis":
            return Limited(RateLimiter(RedisBuckets(self._state()), {"x": Limit(rate, burst)}))
        # One process: every "node" shares the one set of buckets.
        if "buckets" not in self._memory:
            self._memory["buckets"] = MemoryBuckets()
        return Limited(RateLimiter(self._memory["buckets"], {"x": Limit(rate, burst)}))

    def presence(self) -> PresenceStore:
        store: PresenceStore
        if self.kind == "redis":
            store = RedisPresenceStore(self._state())
        else:
            store = MemoryPresenceStore(self._board)
        self._stores.append(store)
        return store

    async def close(self) -> None:
        for store in self._stores:
            await store.close()
        for state in self._states:
            await state.close()
        if self._url:
            await delete_prefix(self._url)  # buckets of slow rates would live for days


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    made = Backend(request.param)
    yield made
    await made.close()


async def _all(calls: list[Awaitable[bool]]) -> list[bool]:
    return list(await asyncio.gather(*calls))


# rate limiter: token buckets per key


async def test_rate_limit_spends_the_burst_per_key(backend: Backend) -> None:
    limiter = backend.rate_limiter(rate=0.5, burst=2)
    assert [await limiter.acquire("ann") for _ in range(3)] == [True, True, False]
    assert await limiter.acquire("bob")


async def test_rate_limit_refills_at_its_rate_up_to_the_burst(backend: Backend) -> None:
    limiter = backend.rate_limiter(rate=2.0, burst=1)
    assert await limiter.acquire("ann")
    assert not await limiter.acquire("ann")  # the next token comes in 0.5 s
    await asyncio.sleep(0.6)
    assert await limiter.acquire("ann")
    assert not await limiter.acquire("ann")


async def test_rate_limit_takes_the_whole_cost_or_nothing(backend: Backend) -> None:
    limiter = backend.rate_limiter(rate=0.01, burst=3)
    assert await limiter.acquire("ann", 2)
    assert not await limiter.acquire("ann", 2)  # one token left: nothing taken
    assert await limiter.acquire("ann", 1)
    assert not await limiter.acquire("ann", 1)


async def test_rate_limit_is_shared_by_nodes_and_exact_under_concurrency(
    backend: Backend,
) -> None:
    first, second = backend.rate_limiter(0.01, 10), backend.rate_limiter(0.01, 10)
    calls = [(first if i % 2 else second).acquire("ann") for i in range(40)]
    assert sum(await _all(calls)) == 10
    assert not await first.acquire("ann")
    assert not await second.acquire("ann")


# attempt limiter: fixed windows per key


async def test_waits_refunds_and_peeks(backend: Backend) -> None:
    limiter = backend.rate_limiter(rate=0.5, burst=2)
    assert [await limiter.wait("ann") for _ in range(2)] == [0.0, 0.0]
    assert await limiter.wait("ann") == pytest.approx(2.0, abs=0.05)  # one token in 2 s
    await limiter.wait("ann", -1)  # a refund
    assert await limiter.wait("ann", update=False) == 0.0  # only looked
    assert await limiter.wait("ann") == 0.0
    assert await limiter.wait("ann", 3) == NEVER  # over the burst: never


async def test_online_from_the_first_node_in_until_the_last_one_out(backend: Backend) -> None:
    a, b = backend.presence(), backend.presence()
    assert await a.update([("ann", "hall", True)]) == [True]  # announce: online
    assert await b.update([("ann", "hall", True)]) == [False]  # already online
    assert await a.online("hall", ["ann", "bob"]) == {"ann"}
    assert await b.online("hall", ["ann", "bob"]) == {"ann"}
    assert await b.online("kitchen", ["ann"]) == set()
    assert await a.update([("ann", "hall", False)]) == [False]  # still on b
    assert await a.online("hall", ["ann"]) == {"ann"}
    assert await b.update([("ann", "hall", False)]) == [True]  # announce: offline
    assert await a.online("hall", ["ann"]) == set()


async def test_presence_changes_apply_in_order_and_repeats_change_nothing(
    backend: Backend,
) -> None:
    a = backend.presence()
    changes = [("ann", "r", True), ("ann", "r", False), ("ann", "r", True), ("bob", "r", True)]
    assert await a.update(changes) == [True, True, True, True]
    assert await a.update([("ann", "r", True)]) == [False]  # this node already counts
    assert await a.update([("cat", "r", False)]) == [False]  # never entered
    assert await a.online("r", ["ann", "bob", "cat"]) == {"ann", "bob"}
    assert await a.online("r", []) == set()


async def test_replace_makes_a_node_hold_exactly_the_given_pairs(backend: Backend) -> None:
    a, b = backend.presence(), backend.presence()
    await a.update([("ann", "r1", True), ("bob", "r1", True)])
    await b.update([("bob", "r1", True)])
    came, went = await a.replace([("ann", "r2"), ("bob", "r1")])
    assert came == [("ann", "r2")]
    assert went == [("ann", "r1")]
    assert await b.online("r1", ["ann", "bob"]) == {"bob"}
    assert await b.online("r2", ["ann"]) == {"ann"}
    assert await a.replace([("ann", "r2"), ("bob", "r1")]) == ([], [])


async def test_closing_a_node_reports_who_went_offline_with_it(backend: Backend) -> None:
    a, b = backend.presence(), backend.presence()
    await a.update([("ann", "r", True), ("bob", "r", True)])
    await b.update([("bob", "r", True)])
    assert await a.heartbeat()
    assert await b.sweep() == []  # nobody is dead
    assert await a.close() == [("ann", "r")]
    assert await b.online("r", ["ann", "bob"]) == {"bob"}


# Redis only: nodes that die, Redis that forgets


@pytest.fixture
async def state() -> AsyncIterator[RedisState]:
    url = shared_redis_url()
    made = RedisState(url)
    yield made
    await made.close()
    await delete_prefix(url)


async def test_a_dead_nodes_users_go_offline_at_the_next_sweep(state: RedisState) -> None:
    dying = RedisPresenceStore(state, heartbeat=0.1, ttl=0.3)
    alive = RedisPresenceStore(state, heartbeat=0.1, ttl=0.3)
    await dying.update([("ann", "r", True), ("bob", "r", True)])
    await alive.update([("bob", "r", True)])
    assert await alive.sweep() == []
    swept: list[tuple[str, str]] = []

    async def dying_swept() -> bool:  # `dying` stopped beating (kill -9): wait on Redis time
        assert await alive.heartbeat()
        swept.extend(await alive.sweep())
        return bool(swept)

    await until(dying_swept, 10, "the dead node swept")
    assert swept == [("ann", "r")]
    assert await alive.sweep() == []  # swept once only
    assert await alive.online("r", ["ann", "bob"]) == {"bob"}
    # It was only stalled: its next call learns its entries are gone, and refills them.
    assert not await dying.heartbeat()
    assert not await dying.heartbeat()  # until refilled
    assert await dying.replace([("ann", "r"), ("bob", "r")]) == ([("ann", "r")], [])
    assert await alive.online("r", ["ann", "bob"]) == {"ann", "bob"}
    await dying.close()
    await alive.close()


async def test_keys_expire_or_are_removed_when_nobody_is_left(state: RedisState) -> None:
    limiter = RateLimiter(RedisBuckets(state), {"ws_frame": Limit(1000, 2)})
    assert await limiter.acquire("ws_frame", "ann")
    ttl = await state.client.pttl(state.key("rate", "ws_frame:ann"))
    assert 0 < ttl <= 1100  # full again within a millisecond, plus a margin
    store = RedisPresenceStore(state)
    await store.update([("ann", "r", True)])
    await store.close()
    assert await state.client.keys(state.key("presence", "*")) == []


async def test_an_unreachable_redis_is_unavailable_and_the_chat_side_limits_locally(
    tmp_path: Path,
) -> None:
    with private_redis(tmp_path) as server:
        down = RedisState(server.url(), timeout=0.5, connect_timeout=0.5)
        rate = RedisBuckets(down)
        limit = Limit(0.01, 1)
        store = RedisPresenceStore(down)
        assert await rate.take("ann", limit, 1) == 0.0
        server.kill()
        for call in (
            rate.take("ann", limit, 1),
            store.update([("ann", "r", True)]),
            store.online("r", ["ann"]),
            store.heartbeat(),
            store.sweep(),
        ):
            with pytest.raises(Unavailable):
                await call
        # The chat side keeps limiting, per node, while Redis is away.
        shared = RateLimiter(
            FallbackBuckets(rate, MemoryBuckets(), pause=60), {"ws_frame": Limit(0.01, 2)}
        )
        assert [await shared.acquire("ws_frame", "ann") for _ in range(3)] == [True, True, False]
        await down.close()


async def test_after_redis_forgot_everything_nodes_refill_and_leaves_are_announced(
    tmp_path: Path,
) -> None:
    with private_redis(tmp_path) as server:
        url = server.url()
        a, b = RedisState(url), RedisState(url)
        on_a, on_b = RedisPresenceStore(a), RedisPresenceStore(b)
        try:
            await on_a.update([("ann", "r", True), ("bob", "r", True), ("cat", "r", True)])
            await on_b.update([("bob", "r", True)])
            server.kill()
            server.start()  # empty
            # ann left node a meanwhile: nobody holds her, so that is announced.
            assert await on_a.update([("ann", "r", False)]) == [True]
            assert not await on_a.heartbeat()
            assert not await on_b.heartbeat()
            came, went = await on_b.replace([("bob", "r")])
            assert (came, went) == ([("bob", "r")], [])
            # a's leave of bob before its refill: b holds him, so nothing to announce.
            assert await on_a.update([("bob", "r", False)]) == [False]
            assert await on_a.replace([("cat", "r")]) == ([("cat", "r")], [])
            assert await on_a.heartbeat()
            assert await on_a.update([("dan", "r", False)]) == [False]  # sure again
            assert await on_b.online("r", ["ann", "bob", "cat"]) == {"bob", "cat"}
        finally:
            await a.close()
            await b.close()


async def test_hundreds_of_concurrent_callers_take_turns_without_failing(
    state: RedisState,
) -> None:
    """More callers than pooled connections, for longer than the pool's wait timeout."""
    limiter = RateLimiter(RedisBuckets(state), {"x": Limit(0.01, 3000)})

    async def caller() -> int:
        return sum([await limiter.acquire("x", "ann") for _ in range(30)])

    assert sum(await asyncio.gather(*(caller() for _ in range(300)))) == 3000
