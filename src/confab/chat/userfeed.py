"""Per-user bus channels: `user.<username>`, for every live connection of that user.

A node subscribes to a user's channel while that user has connections on it, and
unsubscribes when the last one goes. On the channel:

Messages are `confab.chat.busevent` envelopes (the header names the frame's type, so a
frame is passed on without decoding its JSON).

- `{"type": "session_ended", "tokens": [id, ...]}` (or `"all": true`) is a control event:
  the connections of those sessions close at once with `CLOSE_SESSION_ENDED` (4001), on
  every node. Sign-out, token revocation, sign-out everywhere, password change and
  account deactivation publish it (`confab.chat.services.sessions`).
- Any other frame is delivered as it is to every connection of the user on this node
  (`room_added`, `room_removed`: `RoomEvents.to_user` publishes them).

The bus may lose messages while it reconnects: after such a gap the feed asks
`still_valid` which of the user's sessions here still exist, and closes the others, so a
sign-out published during a Redis outage still takes effect once the bus is back.

The feed also caps each user's connections on this node (`max_per_user`), and closes a
connection when its token expires: a timer per connection (cancelled when it closes), set
from the feed's clock; `expire_due` closes every connection expired by that clock, which is
what tests call after moving it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from confab.chat.busevent import decode, encode_ephemeral, user_channel
from confab.core import jsoncodec
from confab.core.ports import Bus, Subscription

log = logging.getLogger("confab.chat.userfeed")

CLOSE_SESSION_ENDED = 4001  # signed out, revoked, expired, password changed, deactivated
CLOSE_TOO_MANY_CONNECTIONS = 4029  # over CONFAB_CHAT_WS_MAX_PER_USER on this node

# (username, token ids) -> the ids among them that are still valid sessions.
ValidSessions = Callable[[str, list[str]], Awaitable[set[str]]]


def session_ended_frame(token_ids: list[str] | None) -> bytes:
    """The control event ending the sessions of `token_ids` (None: all of the user's)."""
    body = {"all": True} if token_ids is None else {"tokens": token_ids}
    return encode_ephemeral("session_ended", jsoncodec.dumps({"type": "session_ended", **body}))


class FeedConnection(Protocol):
    """What the feed needs of a live connection."""

    closed: bool

    def send(self, payload: bytes) -> None:
        """Queue a frame for this connection."""

    def close(self, code: int, reason: str = "") -> None:
        """Close it with `code`."""


@dataclass(slots=True)
class _Follow:
    """What the feed knows of one connection: its session and when that expires."""

    token_id: str
    expires_at: float
    timer: asyncio.TimerHandle | None = None


@dataclass
class _User:
    """One user's connections on this node, and the subscription while there are any."""

    conns: dict[FeedConnection, _Follow] = field(default_factory=dict)
    subscription: Subscription | None = None
    ready: asyncio.Future[None] | None = None


class UserFeed:
    """The `user.<name>` channels of the users connected to this node."""

    def __init__(
        self,
        bus: Bus,
        *,
        max_per_user: int = 20,
        clock: Callable[[], float] = time.time,
        still_valid: ValidSessions | None = None,
    ) -> None:
        self._bus = bus
        self._max = max_per_user
        self._still_valid = still_valid
        self._clock = clock
        self._users: dict[str, _User] = {}

    def count(self, username: str) -> int:
        """Connections of `username` on this node."""
        entry = self._users.get(username)
        return 0 if entry is None else len(entry.conns)

    def full(self, username: str) -> bool:
        """Whether `username` already has as many connections here as allowed."""
        return self.count(username) >= self._max

    async def attach(
        self, username: str, conn: FeedConnection, token_id: str, expires_at: float
    ) -> None:
        """Follow `conn` of `username`'s session `token_id`, until `detach` or it ends."""
        entry = self._users.get(username)
        if entry is None:
            entry = self._users[username] = _User()
        follow = entry.conns[conn] = _Follow(token_id, expires_at)
        self._arm(username, conn, follow)
        if entry.subscription is None:
            if entry.ready is None:
                entry.ready = asyncio.get_running_loop().create_future()
                try:
                    entry.subscription = await self._bus.subscribe(
                        user_channel(username),
                        lambda frame: self._on_frame(username, frame),
                        on_gap=lambda: self._recheck(username),
                    )
                finally:
                    entry.ready.set_result(None)
                    entry.ready = None
                if not entry.conns:  # all left while subscribing
                    await self._drop(username, entry)
            else:
                await entry.ready

    def detach(self, username: str, conn: FeedConnection) -> None:
        """`conn` closed: forget it, and the channel with the user's last connection."""
        entry = self._users.get(username)
        follow = None if entry is None else entry.conns.pop(conn, None)
        if entry is None or follow is None:
            return
        if follow.timer is not None:
            follow.timer.cancel()
        if not entry.conns and entry.ready is None:
            asyncio.get_running_loop().create_task(self._drop(username, entry))

    async def _drop(self, username: str, entry: _User) -> None:
        if entry.conns or self._users.get(username) is not entry:
            return
        del self._users[username]
        if entry.subscription is not None:
            try:
                await entry.subscription.cancel()
            except Exception:
                log.exception("leaving a user channel failed", extra={"user": username})

    async def _on_frame(self, username: str, frame: bytes) -> None:
        entry = self._users.get(username)
        if entry is None:
            return
        try:
            event = decode(frame)
        except (ValueError, UnicodeDecodeError):
            log.warning("dropping a malformed user frame", extra={"user": username})
            return
        if event.type == "session_ended":
            self._end_sessions(entry, event.payload)
            return
        for conn in list(entry.conns):
            if not conn.closed:
                conn.send(event.payload)

    async def _recheck(self, username: str) -> None:
        """After a bus gap: close the connections whose session ended meanwhile."""
        entry = self._users.get(username)
        if entry is None or self._still_valid is None:
            return
        ids = sorted({follow.token_id for follow in entry.conns.values()})
        try:
            valid = await self._still_valid(username, ids)
        except Exception:
            log.exception("checking sessions after a bus gap failed", extra={"user": username})
            return
        for conn, follow in list(entry.conns.items()):
            if follow.token_id not in valid:
                conn.close(CLOSE_SESSION_ENDED, "session ended")

    def _end_sessions(self, entry: _User, frame: bytes) -> None:
        try:
            event = jsoncodec.loads(frame)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        ids = event.get("tokens")
        ended = set(ids) if isinstance(ids, list) else None
        if ended is None and event.get("all") is not True:
            return
        for conn, follow in list(entry.conns.items()):
            if ended is None or follow.token_id in ended:
                conn.close(CLOSE_SESSION_ENDED, "session ended")

    # token expiry

    def _arm(self, username: str, conn: FeedConnection, follow: _Follow) -> None:
        delay = max(0.0, follow.expires_at - self._clock())
        loop = asyncio.get_running_loop()
        follow.timer = loop.call_later(delay, self._expire, username, conn)

    def _expire(self, username: str, conn: FeedConnection) -> None:
        entry = self._users.get(username)
        follow = None if entry is None else entry.conns.get(conn)
        if follow is None or conn.closed:
            return
        if self._clock() < follow.expires_at:  # the loop's clock ran ahead of ours
            self._arm(username, conn, follow)
            return
        follow.timer = None
        conn.close(CLOSE_SESSION_ENDED, "session expired")

    def expire_due(self) -> int:
        """Close every connection whose token has expired by the feed's clock; how many."""
        now = self._clock()
        closed = 0
        for entry in list(self._users.values()):
            for conn, follow in list(entry.conns.items()):
                if follow.expires_at <= now and not conn.closed:
                    if follow.timer is not None:
                        follow.timer.cancel()
                        follow.timer = None
                    conn.close(CLOSE_SESSION_ENDED, "session expired")
                    closed += 1
        return closed

    async def close(self) -> None:
        """Stop the timers and leave every channel."""
        for username, entry in list(self._users.items()):
            for follow in entry.conns.values():
                if follow.timer is not None:
                    follow.timer.cancel()
            entry.conns.clear()
            await self._drop(username, entry)
