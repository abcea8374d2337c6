"""The bus on Redis pub/sub: one connection publishes, one connection subscribes.

A node SUBSCRIBEs only to channels that have a local handler (the chat hub subscribes a
room when its first local connection joins and cancels with the last), and UNSUBSCRIBEs
when the last handler goes: never a pattern over the whole stream. Each event is one
PUBLISH; a message reaches each local handler of its channel once, in order, and fan-out
to connections is the handler's business (no per-recipient work here).

Redis pub/sub is at-most-once. When the subscriber connection drops (Redis restarted, a
network cut, or no answer to keepalive pings), a supervisor task reconnects with
exponential backoff and jitter, SUBSCRIBEs every live channel again in one command and,
once Redis confirmed, calls each subscription's `on_gap` so the consumer catches up from
its store. `subscribe` returns after Redis confirmed the subscription (later publishes
are then surely received); while Redis is down it returns at once and the subscription
is made, and reported as a gap, when Redis is back.

`publish` never raises and never hangs the sender: it retries briefly (within
`publish_retry` seconds in all), then logs and drops the message (stored anyway; the
consumers' repair covers it). Publishes queued behind a failed one are dropped untried,
so an outage does not make every queued sender wait out its own timeout; under load
without failures nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import deque
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Connection
from redis.exceptions import RedisError

from confab.adapters.redis_common import (
    DOWN_ERRORS,
    FAILURES,
    command_client,
    connection_pool,
)
from confab.adapters.redis_url import parse_redis_url
from confab.core.errors import Unavailable
from confab.core.ports import GapHandler, MessageHandler

log = logging.getLogger("confab.adapters.bus_redis")

_BACKOFF_START = 0.05


class RedisSubscription:
    """One handler of one channel on this node."""

    __slots__ = ("_bus", "active", "handler", "key", "on_gap", "unconfirmed")

    def __init__(
        self, bus: RedisBus, key: bytes, handler: MessageHandler, on_gap: GapHandler | None
    ) -> None:
        self._bus = bus
        self.key = key
        self.handler = handler
        self.on_gap = on_gap
        self.active = True
        # Made while Redis was unreachable (or unconfirmed): report a gap once it is.
        self.unconfirmed = False

    async def cancel(self) -> None:
        """Stop delivering; the channel is unsubscribed with its last handler."""
        await self._bus._cancel(self)


class _Channel:
    __slots__ = ("ready", "subs")

    def __init__(self) -> None:
        # A tuple, replaced on change: delivery iterates it without copying.
        self.subs: tuple[RedisSubscription, ...] = ()
        # Resolved when Redis confirms the SUBSCRIBE sent on the current connection
        # (True), or the connection is lost first (False). None: none sent yet.
        self.ready: asyncio.Future[bool] | None = None


class RedisBus:
    """`Bus` on Redis pub/sub (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 2.0,
        command_timeout: float = 2.0,
        publish_retry: float = 0.5,
        keepalive: float = 5.0,
        backoff_max: float = 2.0,
        confirm_timeout: float = 5.0,
    ) -> None:
        target = parse_redis_url(url)
        self._prefix = target.prefix
        self._publisher = command_client(
            target,
            single_connection=True,
            connect_timeout=connect_timeout,
            timeout=command_timeout,
        )
        self._pool = connection_pool(
            target, connect_timeout=connect_timeout, timeout=command_timeout
        )
        self._connect_timeout = connect_timeout
        self._publish_retry = publish_retry
        self._keepalive = keepalive
        self._backoff_max = backoff_max
        self._confirm_timeout = confirm_timeout
        self._channels: dict[bytes, _Channel] = {}
        self._waiting: dict[bytes, deque[asyncio.Future[bool]]] = {}
        self._write_lock = asyncio.Lock()
        self._conn: Connection | None = None  # subscribed and being read
        self._supervisor: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()  # the first connection attempt is over
        self._up = asyncio.Event()  # the subscriber connection is up right now
        self._was_connected = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._received = 0  # replies read on the subscriber connection (keepalive)
        self._failures = 0  # publish turns that failed (waiting ones then drop)
        self._publish_lock = asyncio.Lock()
        self._logged_drop: float | None = None
        self._closed = False
        # figures for tests and metrics
        self.reconnects = 0
        self.dropped = 0

    @property
    def connected(self) -> bool:
        """Whether the subscriber connection is up right now."""
        return self._conn is not None

    def channel_count(self) -> int:
        """Channels this node is subscribed to."""
        return len(self._channels)

    async def wait_connected(self) -> None:
        """Start the subscriber connection now (not at the first subscribe) and return
        once it is up, so a node reports ready only with its bus working."""
        if self._closed:
            raise Unavailable("the bus is closed", code="bus_closed")
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name="confab-redis-bus"
            )
        await self._up.wait()

    # publishing

    async def publish(self, channel: str, message: bytes) -> None:
        """One PUBLISH; on failure retry briefly, then log and drop (never raise).

        Publishes go out one at a time, in call order, on the one connection: waiting
        for a turn is not bounded (a busy node is not a failing Redis), each turn is,
        by `publish_retry` seconds. Those that were waiting while a turn failed are
        dropped untried, so a queue of senders behind an unreachable Redis drains at
        once instead of each waiting out its own timeout; a publish that comes later
        tries again (the first one after Redis is back goes through).
        """
        if self._closed:
            return
        key = (self._prefix + channel).encode()
        loop = asyncio.get_running_loop()
        failures = self._failures
        async with self._publish_lock:
            if self._failures != failures:
                self._drop(channel, "Redis failed while this publish waited")
                return
            deadline = loop.time() + self._publish_retry
            delay = _BACKOFF_START
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._publisher.publish(key, message)
                    return
                except DOWN_ERRORS as error:
                    # (Running out of time lands here too: TimeoutError.)
                    if loop.time() + delay >= deadline or self._closed:
                        self._drop(channel, error)
                        self._failures += 1
                        return
                except RedisError as error:
                    self._drop(channel, error)
                    return
                await asyncio.sleep(delay)
                delay *= 2

    def _drop(self, channel: str, error: BaseException | str) -> None:
        self.dropped += 1
        # A line every 10 s at most: a storm of sends during an outage must not flood the log.
        now = asyncio.get_running_loop().time()
        if self._logged_drop is None or now - self._logged_drop >= 10.0:
            self._logged_drop = now
            log.warning(
                "Redis bus publish dropped (receivers repair from the store)",
                extra={"channel": channel, "error": str(error), "dropped": self.dropped},
            )

    # subscribing

    async def subscribe(
        self, channel: str, handler: MessageHandler, *, on_gap: GapHandler | None = None
    ) -> RedisSubscription:
        """See `Bus.subscribe`; returns once Redis confirmed (or at once if it is down)."""
        if self._closed:
            raise Unavailable("the bus is closed", code="bus_closed")
        key = (self._prefix + channel).encode()
        sub = RedisSubscription(self, key, handler, on_gap)
        chan = self._channels.get(key)
        if chan is None:
            chan = self._channels[key] = _Channel()
        chan.subs += (sub,)
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name="confab-redis-bus"
            )
        if not self._attempted.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._attempted.wait(), self._connect_timeout * 2)
        if chan.ready is None:
            await self._send_subscribe(key, chan)
        ready = chan.ready
        confirmed = False
        if ready is not None:
            try:
                confirmed = await asyncio.wait_for(asyncio.shield(ready), self._confirm_timeout)
            except TimeoutError:
                log.warning("Redis did not confirm a subscription in time", extra={"key": key})
        if not confirmed and sub.active:
            sub.unconfirmed = True
        return sub

    async def _send_subscribe(self, key: bytes, chan: _Channel) -> None:
        async with self._write_lock:
            conn = self._conn
            # Under the lock: the supervisor may have (re)subscribed it meanwhile.
            if conn is None or chan.ready is not None or self._channels.get(key) is not chan:
                return
            chan.ready = self._waiter(key)
            # On failure the reader fails too, and the reconnect subscribes it again.
            with contextlib.suppress(*DOWN_ERRORS):
                await conn.send_command("SUBSCRIBE", key, check_health=False)

    def _waiter(self, key: bytes) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(future)
        return future

    async def _cancel(self, sub: RedisSubscription) -> None:
        if not sub.active:
            return
        sub.active = False
        chan = self._channels.get(sub.key)
        if chan is None:
            return
        chan.subs = tuple(s for s in chan.subs if s is not sub)
        if chan.subs:
            return
        del self._channels[sub.key]
        async with self._write_lock:
            conn = self._conn
            if conn is not None:
                with contextlib.suppress(*DOWN_ERRORS):
                    await conn.send_command("UNSUBSCRIBE", sub.key, check_health=False)

    # the subscriber connection

    async def _supervise(self) -> None:
        delay = _BACKOFF_START
        while not self._closed:
            conn: Connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                delay = _BACKOFF_START
                await self._serve(conn)
            except FAILURES as error:
                if not self._closed:
                    log.warning(
                        "Redis bus subscriber disconnected; reconnecting",
                        extra={"error": str(error) or type(error).__name__},
                    )
            finally:
                self._offline()
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            self._attempted.set()
            if self._closed:
                return
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._backoff_max)

    async def _serve(self, conn: Connection) -> None:
        """Subscribe every live channel on `conn`, then read it until it fails."""
        async with self._write_lock:
            keys = list(self._channels)
            futures = []
            for key in keys:
                chan = self._channels[key]
                chan.ready = self._waiter(key)
                futures.append(chan.ready)
            if keys:
                await conn.send_command("SUBSCRIBE", *keys, check_health=False)
            self._conn = conn
            self._up.set()
        # Every subscription made before this connection may have missed messages if a
        # connection was lost before; otherwise only those made while Redis was down.
        reconnected = self._was_connected
        if reconnected:
            self.reconnects += 1
            log.info("Redis bus reconnected", extra={"channels": len(keys)})
        self._was_connected = True
        gaps = [
            sub
            for key in keys
            for sub in self._channels[key].subs
            if sub.on_gap is not None and (reconnected or sub.unconfirmed)
        ]
        if gaps:
            self._spawn(self._announce_gaps(futures, gaps))
        self._attempted.set()
        reader = asyncio.get_running_loop().create_task(self._read(conn))
        keeper = asyncio.get_running_loop().create_task(self._keep_alive(conn, reader))
        try:
            await asyncio.wait([reader])
        finally:
            keeper.cancel()
            reader.cancel()
            await asyncio.gather(keeper, reader, return_exceptions=True)
        if reader.cancelled():
            raise TimeoutError("no answer to keepalive pings")
        error = reader.exception()
        if error is not None:
            raise error

    async def _read(self, conn: Connection) -> None:
        channels, waiting = self._channels, self._waiting
        while True:
            reply: Any = await conn.read_response(timeout=math.inf)
            self._received += 1
            if not isinstance(reply, list) or len(reply) < 3:
                continue  # PONG outside subscribed mode
            kind = reply[0]
            if kind == b"message":
                chan = channels.get(reply[1])
                if chan is None:
                    continue  # unsubscribed meanwhile
                for sub in chan.subs:
                    try:
                        await sub.handler(reply[2])
                    except Exception:
                        log.exception("bus handler failed", extra={"key": reply[1]})
            elif kind == b"subscribe":
                queue = waiting.get(reply[1])
                if queue:
                    future = queue.popleft()
                    if not queue:
                        del waiting[reply[1]]
                    if not future.done():
                        future.set_result(True)

    async def _keep_alive(self, conn: Connection, reader: asyncio.Task[None]) -> None:
        """PING when the connection is quiet; no reply to two pings: drop it."""
        seen, unanswered = self._received, 0
        while True:
            await asyncio.sleep(self._keepalive)
            if self._received != seen:
                seen, unanswered = self._received, 0
                continue
            if unanswered >= 2:
                reader.cancel()
                return
            unanswered += 1
            try:
                async with self._write_lock:
                    await conn.send_command("PING", check_health=False)
            except DOWN_ERRORS:
                reader.cancel()
                return

    def _offline(self) -> None:
        self._conn = None
        self._up.clear()
        for queue in self._waiting.values():
            for future in queue:
                if not future.done():
                    future.set_result(False)
        self._waiting.clear()
        for chan in self._channels.values():
            chan.ready = None

    async def _announce_gaps(
        self, futures: list[asyncio.Future[bool]], subs: list[RedisSubscription]
    ) -> None:
        await asyncio.wait(futures, timeout=self._confirm_timeout)
        if any(f.done() and not f.result() for f in futures):
            return  # lost again before confirming: the next connection reports them
        for sub in subs:
            sub.unconfirmed = False
            if sub.active and sub.on_gap is not None:
                try:
                    await sub.on_gap()
                except Exception:
                    log.exception("bus gap handler failed", extra={"key": sub.key})

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # shutdown

    async def close(self) -> None:
        """Stop the subscriber, drop every subscription and close both connections."""
        if self._closed:
            return
        self._closed = True
        for chan in self._channels.values():
            for sub in chan.subs:
                sub.active = False
        self._channels.clear()
        tasks = [*self._tasks, *([self._supervisor] if self._supervisor else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._publisher.aclose(close_connection_pool=True)
        with contextlib.suppress(Exception):
            await self._pool.aclose()
