"""Password hashing with argon2id, run in threads so the event loop keeps serving."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True)
class HashParams:
    """argon2id cost: OWASP's recommended configuration by default (t=2, 19 MiB, p=1)."""

    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1


class PasswordHasher:
    """argon2id hashes; at most `concurrency` hashes at once (each takes `memory_kib`)."""

    def __init__(self, params: HashParams, concurrency: int) -> None:
        self._hasher = Argon2Hasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The encoded argon2id hash of `password`."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, encoded: str, password: str) -> bool:
        """Whether `password` matches `encoded` (a malformed hash never matches)."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, encoded, password)

    def _verify(self, encoded: str, password: str) -> bool:
        try:
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """Whether `encoded` was made with other parameters than ours."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True

    async def spend(self, password: str) -> None:
        """Cost as much as a verification: unknown users answer as slowly as known ones."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy, password)
