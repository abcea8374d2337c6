"""Chat use cases: accounts, rooms, messages. No framework or driver is imported here.

`build_chat_services` wires them on a `ChatStore` and a `Bus`; bootstrap calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

from confab.chat.ports import MediaClient
from confab.chat.services.accounts import AccountService
from confab.chat.services.config import ChatConfig, Clock, utc_now
from confab.chat.services.dms import DirectMessages
from confab.chat.services.events import RoomEvents
from confab.chat.services.members import MembershipService
from confab.chat.services.messages import MessageService
from confab.chat.services.passwords import PasswordHasher
from confab.chat.services.reactions import ReactionService
from confab.chat.services.rooms import RoomService
from confab.chat.services.throttle import (
    AttemptLimiter,
    FallbackAttemptLimiter,
    MemoryAttemptLimiter,
)
from confab.core.chatstore import ChatStore
from confab.core.ports import Bus

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


def build_chat_services(
    store: ChatStore,
    bus: Bus,
    config: ChatConfig,
    *,
    limiter: AttemptLimiter | None = None,
    clock: Clock = utc_now,
    media: MediaClient | None = None,
) -> ChatServices:
    """Wire the services.

    `limiter`: sign-in throttling shared by every node; None counts in this process
    only (as does the local stand-in while a shared one is unavailable).
    `media`: the media role (attachments, link previews); None refuses attachments.
    """
    events = RoomEvents(bus)
    local = MemoryAttemptLimiter(config.signin_attempts, config.signin_window_seconds)
    limiter = local if limiter is None else FallbackAttemptLimiter(limiter, local)
    hasher = PasswordHasher(config.hash_params, config.hash_concurrency)
    accounts = AccountService(store, hasher, limiter, config.token_ttl, clock)
    rooms = RoomService(store, events, clock)
    return ChatServices(
        accounts=accounts,
        rooms=rooms,
        members=MembershipService(store, rooms, events, clock),
        dms=DirectMessages(store, rooms, events, clock),
        messages=MessageService(store, rooms, events, clock, media),
        reactions=ReactionService(store, rooms, events, clock),
        events=events,
        store=store,
    )
