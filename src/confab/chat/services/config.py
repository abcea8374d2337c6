"""The chat services' knobs, read from settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confab.chat.services.passwords import HashParams
from confab.core.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ChatConfig:
    """Token lifetime, sign-in throttling and password hashing cost."""

    token_ttl: timedelta = timedelta(days=30)
    signin_attempts: int = 10
    signin_window_seconds: float = 60.0
    hash_params: HashParams = field(default_factory=HashParams)
    # Each hash holds `memory_kib`; more at once than cores only queues in threads.
    hash_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatConfig:
        """The config the settings describe."""
        return cls(
            token_ttl=timedelta(seconds=settings.chat_token_ttl_seconds),
            signin_attempts=settings.chat_signin_attempts,
            signin_window_seconds=settings.chat_signin_window_seconds,
            hash_params=HashParams(
                time_cost=settings.chat_password_time_cost,
                memory_kib=settings.chat_password_memory_kib,
            ),
        )
