"""Chat use cases: accounts, rooms, messages. No framework or driver is imported here.

`build_chat_services` wires them on a `ChatStore` and a `Bus`; bootstrap calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

from confab.chat.ports import MediaClient
from confab.chat.services.accounts import AccountService
from confab.chat.services.config import ChatConfig, Clock, memory_limiter, utc_now
from confab.chat.services.dms import DirectMessages
from confab.chat.services.events import RoomEvents
from confab.chat.services.members import MembershipService
from confab.chat.services.messages import MessageService
from confab.chat.services.passwords import PasswordHasher
from confab.chat.services.reactions import ReactionService
from confab.chat.services.rooms import RoomService
from confab.chat.services.sessions import SessionService
from confab.core.chatstore import ChatStore
from confab.core.ports import Bus
from confab.core.ratelimit import RateLimiter
from confab.core.tickets import MemoryTickets, TicketStore

__all__ = [
    "AccountService",
    "ChatConfig",
    "ChatServices",
    "DirectMessages",
    "MembershipService",
    "MessageService",
    "ReactionService",
    "RoomService",
    "build_chat_services",
]


@dataclass
class ChatServices:
    """Everything the chat web layer (HTTP and WebSocket) calls."""

    accounts: AccountService
    rooms: RoomService
    members: MembershipService
    dms: DirectMessages
    messages: MessageService
    reactions: ReactionService
    events: RoomEvents
    store: ChatStore
    limiter: RateLimiter  # every write of the chat: sign-in, registration, posts, frames
    sessions: SessionService  # tickets, tokens per device, what ends sessions


def build_chat_services(
    store: ChatStore,
    bus: Bus,
    config: ChatConfig,
    *,
    limiter: RateLimiter | None = None,
    tickets: TicketStore | None = None,
    clock: Clock = utc_now,
    media: MediaClient | None = None,
) -> ChatServices:
    """Wire the services.

    `limiter`: the rate limiter with `config.limits()` (shared by every node in a fleet);
    None counts in this process only. `tickets`: the WebSocket tickets (shared by every
    node in a fleet); None keeps them in this process.
    `media`: the media role (attachments, link previews); None refuses attachments.
    """
    events = RoomEvents(bus)
    limiter = memory_limiter(config) if limiter is None else limiter
    hasher = PasswordHasher(config.hash_params, config.hash_concurrency)
    accounts = AccountService(store, hasher, limiter, config.token_ttl, clock)
    rooms = RoomService(store, events, clock)
    sessions = SessionService(
        store,
        accounts,
        bus,
        MemoryTickets() if tickets is None else tickets,
        limiter,
        ticket_ttl=config.ticket_ttl_seconds,
        clock=clock,
    )
    return ChatServices(
        accounts=accounts,
        rooms=rooms,
        members=MembershipService(store, rooms, events, clock),
        dms=DirectMessages(store, rooms, events, clock),
        messages=MessageService(store, rooms, events, clock, media),
        reactions=ReactionService(store, rooms, events, clock),
        events=events,
        store=store,
        limiter=limiter,
        sessions=sessions,
    )
