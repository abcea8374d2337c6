"""Accounts and session tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from confab.chat.domain import Token, User, check_password, normalize_username
from confab.chat.services.config import REGISTER, SIGNIN, SIGNIN_ADDRESS, Clock, utc_now
from confab.chat.services.passwords import PasswordHasher
from confab.core.chatstore import ChatStore
from confab.core.errors import Conflict, InvalidInput, Unauthorized
from confab.core.ids import random_token
from confab.core.ratelimit import RateLimiter

# Longer than any token we issue: a bigger one is refused before any hashing or query.
_MAX_TOKEN = 128


def token_hash(token: str) -> str:
    """What is stored for a token: its hex SHA-256 (a leaked table signs nobody in)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _could_be_ours(token: str) -> bool:
    """Not empty, and no longer than any token we issue."""
    return bool(token) and len(token) <= _MAX_TOKEN


def checked_token_hash(token: str) -> str:
    """The stored hash of a bearer token; `Unauthorized` for one that cannot be ours,
    before any hashing or query."""
    if not _could_be_ours(token):
        raise Unauthorized("the token is invalid or expired", code="invalid_token")
    return token_hash(token)


def _bad_credentials() -> Unauthorized:
    # One answer whether the user exists or not.
    return Unauthorized("wrong username or password", code="bad_credentials")


class AccountService:
    """Register, sign in (throttled), authenticate a bearer token, sign out."""

    def __init__(
        self,
        store: ChatStore,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        token_ttl: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._limiter = limiter
        self._token_ttl = token_ttl
        self._clock = clock

    async def register(self, username: str, password: str, address: str = "local") -> User:
        """Create an account; `Conflict("username_taken")` if the name is used.

        Registrations are limited per client `address` (`RateLimited`)."""
        await self._limiter.ratelimit(
            REGISTER, address, code="register_throttled", detail="too many new accounts"
        )
        name = normalize_username(username)
        check_password(password)
        # Checked first so that a taken name costs no hashing (the insert still decides).
        if await self._store.get_user(name) is not None:
            raise Conflict(f"username {name!r} is taken", code="username_taken")
        encoded = await self._hasher.hash(password)
        record = await self._store.create_user(name, encoded, self._clock())
        return User(record.id, record.username)

    async def sign_in(self, username: str, password: str, address: str) -> Token:
        """A new session token; `Unauthorized` on wrong credentials, `RateLimited` if hurried.

        Failures are counted per (username, `address`) and per `address` (a spray of
        usernames), never per username alone: guesses from elsewhere cannot lock the owner
        out. Each attempt takes from both buckets before the password is checked (so that
        parallel guesses cannot slip past) and a success gives it back. The answers are
        the same whether the account exists or not.
        """
        pair = f"{username.lower()[:64]}|{address}"
        detail = "too many sign-in attempts; wait and try again"
        await self._limiter.ratelimit(
            SIGNIN_ADDRESS, address, code="signin_throttled", detail=detail
        )
        try:
            await self._limiter.ratelimit(SIGNIN, pair, code="signin_throttled", detail=detail)
        except BaseException:
            await self._limiter.refund(SIGNIN_ADDRESS, address)
            raise
        token = await self._check_and_issue(username, password)
        await self._limiter.refund(SIGNIN_ADDRESS, address)
        await self._limiter.refund(SIGNIN, pair)
        return token

    async def _check_and_issue(self, username: str, password: str) -> Token:
        try:
            name = normalize_username(username)
            check_password(password)
        except InvalidInput:
            raise _bad_credentials() from None
        user = await self._store.get_user(name)
        if user is None:
            await self._hasher.spend(password)
            raise _bad_credentials()
        if not await self._hasher.verify(user.password_hash, password):
            raise _bad_credentials()
        if self._hasher.needs_rehash(user.password_hash):
            await self._store.set_password_hash(user.id, await self._hasher.hash(password))
        now = self._clock()
        await self._store.delete_expired_tokens(user.id, now)
        token = random_token(32)
        expires_at = now + self._token_ttl
        await self._store.create_token(token_hash(token), user.id, now, expires_at)
        return Token(token, expires_at)

    async def check_password_of(self, username: str, password: str) -> int:
        """The user id if `password` is `username`'s; `Unauthorized` otherwise.

        Failures count like sign-in failures (a stolen token does not buy guesses)."""
        pair = f"{username}|current-password"
        await self._limiter.ratelimit(SIGNIN, pair, code="signin_throttled")
        user = await self._store.get_user(username)
        if user is None or not await self._hasher.verify(user.password_hash, password):
            raise Unauthorized("the current password is wrong", code="bad_credentials")
        await self._limiter.refund(SIGNIN, pair)
        return user.id

    async def set_password(self, username: str, current: str, new: str) -> None:
        """Replace `username`'s password once `current` is checked."""
        user_id = await self.check_password_of(username, current)
        check_password(new)
        await self._store.set_password_hash(user_id, await self._hasher.hash(new))

    async def authenticate(self, token: str) -> User:
        """The user a bearer token belongs to; `Unauthorized("invalid_token")` otherwise."""
        record = await self._store.user_for_token(checked_token_hash(token), self._clock())
        if record is None:
            raise Unauthorized("the token is invalid or expired", code="invalid_token")
        return User(record.id, record.username)

    async def sign_out(self, token: str) -> None:
        """Revoke a token (an unknown one is not an error)."""
        if _could_be_ours(token):
            await self._store.delete_token(token_hash(token))
