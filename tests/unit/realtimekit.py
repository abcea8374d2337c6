"""WebSocket sessions without sockets: a recording connection and a realtime on memory."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from confab.chat.outgoing import Outgoing
from confab.chat.services.sessions import token_id
from confab.chat.web.connection import Connection
from confab.chat.web.session import Realtime, Session
from confab.chat.web.ws import RealtimeConfig, build_realtime
from tests.unit.chatkit import Chat


class Recording(Connection):
    """A connection that keeps every frame written to it, decoded."""

    __slots__ = ("frames",)

    def __init__(self, user: str) -> None:
        super().__init__(user)
        self.frames: list[dict[str, Any]] = []

    def deliver(self, frame: Outgoing) -> None:
        if not self.closed:
            self.frames += [json.loads(f.payload) for f in frame.frames()]

    def close(self, code: int, reason: str = "") -> None:
        self.closed = True

    def backlog(self) -> int:
        return 0

    async def drained(self, below: int) -> None:
        return None

    def of(self, room: str) -> list[dict[str, Any]]:
        """Frames of `room` with a seq (room events)."""
        return [f for f in self.frames if f.get("room") == room and "seq" in f]


def realtime(chat: Chat) -> Realtime:
    """The WebSocket layer of `chat` (hub, presence, limits) on its bus."""
    config = RealtimeConfig(presence_grace=0.0)
    return build_realtime(chat.services, chat.bus, config)


async def connect(rt: Realtime, chat: Chat, name: str) -> tuple[Session, Recording]:
    """A session of the already registered user `name`."""
    record = await chat.store.get_user(name)
    assert record is not None
    from confab.chat.domain import User

    conn = Recording(name)
    session = Session(rt, User(record.id, record.username), conn)
    rt.connections += 1
    if rt.feed is not None:  # a real session (a bus gap re-checks it), that never expires here
        token_hash = hashlib.sha256(f"{name}-{id(conn)}".encode()).hexdigest()
        await chat.store.create_token(
            token_hash, record.id, chat.clock(), chat.clock() + timedelta(days=1)
        )
        await rt.feed.attach(name, conn, token_id(token_hash), float("inf"))
    return session, conn


async def frame(session: Session, **body: Any) -> None:
    """Handle one client frame."""
    await session.handle(json.dumps(body))
