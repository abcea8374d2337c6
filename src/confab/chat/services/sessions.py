"""Sessions: WebSocket tickets, tokens listed and revoked per device, sign-out everywhere,
password change and deactivation, each ending the live connections of what it revokes.

A token's public id is the first 16 hex digits of its stored hash: it names the token in
listings and in `DELETE /api/tokens/{id}`, and can sign nobody in. Whatever ends sessions
publishes `session_ended` on the user's bus channel (`confab.chat.userfeed`), so that every
node closes the matching WebSockets at once; HTTP refuses the token from the same moment,
since it is gone from the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from confab.chat.busevent import user_channel
from confab.chat.domain import User
from confab.chat.services.accounts import AccountService, checked_token_hash
from confab.chat.services.config import POST, Clock, utc_now
from confab.chat.userfeed import session_ended_frame
from confab.core.chatstore import ChatStore, TokenRecord
from confab.core.errors import NotFound, Unauthorized
from confab.core.ids import random_token
from confab.core.ports import Bus
from confab.core.ratelimit import RateLimiter
from confab.core.tickets import TicketStore

_MAX_TICKET = 64  # longer than any ticket issued: refused before any lookup
DEACTIVATED = "!deactivated"  # the password hash of a deactivated account: verifies nothing


def token_id(hashed: str) -> str:
    """The public id of a token, from its stored hash."""
    return hashed[:16]


def _ticket_key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in token as its connection follows it."""

    user: User
    token_id: str
    expires_at: datetime


class SessionService:
    """What ends sessions, and what lets a WebSocket follow one."""

    def __init__(
        self,
        store: ChatStore,
        accounts: AccountService,
        bus: Bus,
        tickets: TicketStore,
        limiter: RateLimiter,
        *,
        ticket_ttl: float = 30.0,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._bus = bus
        self._tickets = tickets
        self._limiter = limiter
        self._ticket_ttl = ticket_ttl
        self._clock = clock

    async def _record(self, token: str) -> TokenRecord:
        # The one lookup of the token: it names the user too.
        record = await self._store.get_token(checked_token_hash(token), self._clock())
        if record is None:
            raise Unauthorized("the token is invalid or expired", code="invalid_token")
        return record

    async def _ended(self, username: str, ids: list[str] | None) -> None:
        await self._bus.publish(user_channel(username), session_ended_frame(ids))

    # WebSocket tickets

    async def issue_ticket(self, token: str) -> str:
        """A one-time ticket for `/ws?ticket=`, good for a few seconds; a write, limited as
        the user's other posts are."""
        record = await self._record(token)
        await self._limiter.ratelimit(POST, record.username)
        ticket = random_token(32)
        await self._tickets.put(_ticket_key(ticket), record.token_hash, self._ticket_ttl)
        return ticket

    async def redeem_ticket(self, ticket: str) -> Session:
        """The session a ticket was issued for; the ticket is spent (`Unauthorized` again)."""
        if not ticket or len(ticket) > _MAX_TICKET:
            raise Unauthorized("the ticket is invalid, used or expired", code="invalid_ticket")
        hashed = await self._tickets.take(_ticket_key(ticket))
        record = None if hashed is None else await self._store.get_token(hashed, self._clock())
        if record is None:
            raise Unauthorized("the ticket is invalid, used or expired", code="invalid_ticket")
        return Session(
            User(record.user_id, record.username), token_id(hashed or ""), record.expires_at
        )

    @property
    def ticket_ttl(self) -> float:
        """Seconds a ticket stays good."""
        return self._ticket_ttl

    async def valid_token_ids(self, username: str, ids: list[str]) -> set[str]:
        """The ids among `ids` that still name an unexpired token of `username`."""
        user = await self._store.get_user(username)
        if user is None:
            return set()
        held = await self._store.list_tokens(user.id, self._clock())
        return {token_id(record.token_hash) for record in held} & set(ids)

    # tokens per device

    async def list_tokens(self, token: str) -> tuple[str, list[TokenRecord]]:
        """The caller's token id, and every unexpired token of theirs."""
        record = await self._record(token)
        return token_id(record.token_hash), await self._store.list_tokens(
            record.user_id, self._clock()
        )

    async def revoke(self, token: str, revoked_id: str) -> None:
        """Revoke one of the caller's tokens by its id (`NotFound` for any other id)."""
        record = await self._record(token)
        for held in await self._store.list_tokens(record.user_id, self._clock()):
            if token_id(held.token_hash) == revoked_id:
                await self._store.delete_token(held.token_hash)
                await self._ended(record.username, [revoked_id])
                return
        raise NotFound("no such token", code="token_not_found")

    async def sign_out(self, token: str) -> None:
        """Revoke the caller's token; its connections close."""
        record = await self._record(token)
        await self._store.delete_token(record.token_hash)
        await self._ended(record.username, [token_id(record.token_hash)])

    async def sign_out_everywhere(self, token: str) -> int:
        """Revoke every token of the caller; all their connections close. How many."""
        record = await self._record(token)
        hashes = await self._store.delete_user_tokens(record.user_id)
        await self._ended(record.username, None)
        return len(hashes)

    # account changes that end every session

    async def change_password(self, token: str, current: str, new: str) -> None:
        """Set a new password (the current one is asked for); every session ends."""
        record = await self._record(token)
        await self._accounts.set_password(record.username, current, new)
        await self._store.delete_user_tokens(record.user_id)
        await self._ended(record.username, None)

    async def deactivate(self, token: str, current: str) -> None:
        """Close the account (the password is asked for): no sign-in, every session ends.

        The name stays taken, so nobody can take over what others knew as this user.
        """
        record = await self._record(token)
        await self._accounts.check_password_of(record.username, current)
        await self._store.set_password_hash(record.user_id, DEACTIVATED)
        await self._store.delete_user_tokens(record.user_id)
        await self._ended(record.username, None)
