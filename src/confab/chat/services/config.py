"""The chat services' knobs, read from settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confab.chat.services.passwords import HashParams
from confab.core.ratelimit import Limit, MemoryBuckets, RateLimiter
from confab.core.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ChatConfig:
    """Token lifetime, the limits of the chat's writes and password hashing cost."""

    token_ttl: timedelta = timedelta(days=30)
    ticket_ttl_seconds: float = 30.0  # a WebSocket ticket is good this long, once
    signin_attempts: int = 10  # per (username, address) per window
    signin_address_attempts: int = 30  # per address per window, whatever the usernames
    signin_window_seconds: float = 60.0
    register_per_hour: int = 30  # per address
    register_burst: int = 10
    post_rate: float = 5.0  # HTTP writes per user per second
    post_burst: float = 30.0
    ws_rate: float = 20.0  # WebSocket frames per user per second
    ws_burst: float = 60.0
    hash_params: HashParams = field(default_factory=HashParams)
    # Each hash holds `memory_kib`; more at once than cores only queues in threads.
    hash_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatConfig:
        """The config the settings describe."""
        return cls(
            token_ttl=timedelta(seconds=settings.chat_token_ttl_seconds),
            ticket_ttl_seconds=settings.chat_ws_ticket_ttl_seconds,
            signin_attempts=settings.chat_signin_attempts,
            signin_address_attempts=settings.chat_signin_address_attempts,
            signin_window_seconds=settings.chat_signin_window_seconds,
            register_per_hour=settings.chat_register_per_hour,
            register_burst=settings.chat_register_burst,
            post_rate=settings.chat_post_rate,
            post_burst=settings.chat_post_burst,
            ws_rate=settings.chat_ws_rate,
            ws_burst=settings.chat_ws_burst,
            hash_params=HashParams(
                time_cost=settings.chat_password_time_cost,
                memory_kib=settings.chat_password_memory_kib,
            ),
        )

    def limits(self) -> dict[str, Limit]:
        """The chat's actions and their limits, for the one `RateLimiter`."""
        window = self.signin_window_seconds
        return {
            SIGNIN: Limit.per(self.signin_attempts, window),
            SIGNIN_ADDRESS: Limit.per(self.signin_address_attempts, window),
            REGISTER: Limit.per(self.register_per_hour, 3600.0, burst=self.register_burst),
            POST: Limit(self.post_rate, self.post_burst),
            WS_FRAME: Limit(self.ws_rate, self.ws_burst),
        }


# The chat's rate-limited actions (see `ChatConfig.limits`).
SIGNIN = "signin"  # requester: "<username>|<address>"
SIGNIN_ADDRESS = "signin_address"  # requester: the client address
REGISTER = "register"  # requester: the client address
POST = "post"  # HTTP writes; requester: the username
WS_FRAME = "ws_frame"  # WebSocket client frames; requester: the username


def memory_limiter(config: ChatConfig) -> RateLimiter:
    """A limiter counting in this process only (one node, or tests)."""
    return RateLimiter(MemoryBuckets(), config.limits())
