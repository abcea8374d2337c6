"""Chat services on the in-memory store and bus, with a clock and a recorder of frames."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from confab.adapters.chatstore_memory import MemoryChatStore
from confab.chat.busevent import decode
from confab.chat.domain import User
from confab.chat.services import ChatConfig, ChatServices, build_chat_services
from confab.chat.services.passwords import HashParams
from confab.core import jsoncodec
from confab.core.memory import InProcessBus

# Cheap hashing: these tests are about behaviour, not argon2's cost.
FAST = HashParams(time_cost=1, memory_kib=64, parallelism=1)


@dataclass
class Clock:
    now: datetime = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Recorder:
    """Every frame published, per channel, decoded (the envelope's seq checked)."""

    frames: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of(self, room: str) -> list[dict[str, Any]]:
        return self.frames.get(f"room.{room}", [])

    def to(self, user: str) -> list[dict[str, Any]]:
        return self.frames.get(f"user.{user}", [])


@dataclass
class Chat:
    services: ChatServices
    store: MemoryChatStore
    bus: InProcessBus
    clock: Clock
    published: Recorder

    async def listen(self, *channels: str) -> None:
        """Record `room.<name>` for plain names, or the channel given with its prefix."""
        for name in channels:
            channel = name if "." in name else f"room.{name}"

            async def record(message: bytes, channel: str = channel) -> None:
                event = decode(message)
                frame = jsoncodec.loads(event.payload)
                assert event.seq == frame.get("seq", 0) and event.type == frame["type"]
                self.published.frames.setdefault(channel, []).append(frame)

            await self.bus.subscribe(channel, record)

    async def user(self, name: str) -> User:
        await self.services.accounts.register(name, "password-" + name)
        token = await self.services.accounts.sign_in(name, "password-" + name, "test")
        return await self.services.accounts.authenticate(token.token)


class Yielding:
    """A store whose every call first gives the event loop a few turns (seeded), as a
    database round trip would: interleavings a memory store never produces happen."""

    def __init__(self, store: MemoryChatStore, rng: random.Random) -> None:
        self._store = store
        self._rng = rng

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            for _ in range(self._rng.randrange(4)):
                await asyncio.sleep(0)
            return await method(*args, **kwargs)

        return call


def make_chat(bus: InProcessBus | None = None, rng: random.Random | None = None) -> Chat:
    """A fresh chat on memory (no migrations, no files); with `rng`, store calls yield."""
    store = MemoryChatStore()
    bus = InProcessBus() if bus is None else bus
    clock = Clock()
    config = ChatConfig(
        signin_attempts=5,
        signin_address_attempts=8,
        register_burst=6,
        hash_params=FAST,
        token_ttl=timedelta(hours=1),
        ws_rate=10_000.0,  # frames are not what these tests limit
        ws_burst=10_000.0,
    )
    port: Any = store if rng is None else Yielding(store, rng)
    services = build_chat_services(port, bus, config, clock=clock)
    return Chat(services, store, bus, clock, Recorder())


@pytest.fixture
async def chat() -> AsyncIterator[Chat]:
    made = make_chat()
    yield made
    await made.services.messages.aclose()
    await made.store.close()
