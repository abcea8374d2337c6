"""Account services on the in-memory store: register, sign in, tokens, throttling."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2Hasher

from confab.adapters.chatstore_memory import MemoryChatStore
from confab.chat.domain import Token
from confab.chat.services import ChatConfig, build_chat_services
from confab.chat.services.passwords import HashParams
from confab.chat.services.sessions import token_id
from confab.core.errors import Conflict, InvalidInput, RateLimited, Unauthorized
from confab.core.memory import InProcessBus
from tests.unit.chatkit import Chat, chat

__all__ = ["chat"]


# accounts


async def test_register_sign_in_authenticate_sign_out(chat: Chat) -> None:
    accounts = chat.services.accounts
    user = await accounts.register("Alice", "correct horse")
    assert user.username == "alice"
    stored = await chat.store.get_user("alice")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert "correct horse" not in stored.password_hash

    token = await accounts.sign_in("ALICE", "correct horse", "1.2.3.4")
    assert isinstance(token, Token) and len(token.token) >= 40
    assert token.expires_at == chat.clock.now + timedelta(hours=1)
    assert await accounts.authenticate(token.token) == user
    # Only the hash of the token is stored.
    digest = hashlib.sha256(token.token.encode()).hexdigest()
    assert await chat.store.user_for_token(digest, chat.clock.now) is not None
    assert await chat.store.user_for_token(token.token, chat.clock.now) is None

    await accounts.sign_out(token.token)
    with pytest.raises(Unauthorized) as revoked:
        await accounts.authenticate(token.token)
    assert revoked.value.reason == "invalid_token"


async def test_registration_rules(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    with pytest.raises(Conflict) as taken:
        await accounts.register("ALICE", "password2")
    assert taken.value.reason == "username_taken"
    with pytest.raises(InvalidInput) as short:
        await accounts.register("bob", "short")
    assert short.value.reason == "password_too_short"
    with pytest.raises(InvalidInput) as bad:
        await accounts.register("b", "password1")
    assert bad.value.reason == "invalid_username"


async def test_wrong_credentials_get_one_answer(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    answers = []
    for username, password in [("alice", "wrong-pass"), ("nobody", "password1"), ("x", "y")]:
        with pytest.raises(Unauthorized) as refused:
            await accounts.sign_in(username, password, f"client-{username}")
        answers.append((refused.value.reason, refused.value.detail))
    assert len(set(answers)) == 1
    assert answers[0][0] == "bad_credentials"


async def test_sign_in_is_throttled_per_username_and_client(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await accounts.sign_in("alice", "guess-guess", "1.1.1.1")
    with pytest.raises(RateLimited) as throttled:
        await accounts.sign_in("alice", "password1", "1.1.1.1")  # even the right one
    assert throttled.value.reason == "signin_throttled"
    # Another client, or another username from this client, is not affected.
    await accounts.sign_in("alice", "password1", "2.2.2.2")
    with pytest.raises(Unauthorized):
        await accounts.sign_in("bob", "password1", "1.1.1.1")


async def test_a_username_spray_from_one_address_is_throttled_and_says_when(
    chat: Chat,
) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    for i in range(8):
        with pytest.raises(Unauthorized):
            await accounts.sign_in(f"user{i}", "guess-guess", "6.6.6.6")
    with pytest.raises(RateLimited) as throttled:
        await accounts.sign_in("user99", "guess-guess", "6.6.6.6")
    assert throttled.value.reason == "signin_throttled"
    assert throttled.value.retry_after > 0
    await accounts.sign_in("alice", "password1", "7.7.7.7")  # the owner, elsewhere


async def test_only_failures_count_the_owner_signs_in_again_and_again(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    for _ in range(20):  # well over both limits, all successes
        await accounts.sign_in("alice", "password1", "1.1.1.1")


async def test_registrations_are_limited_per_address(chat: Chat) -> None:
    accounts = chat.services.accounts
    for i in range(6):
        await accounts.register(f"new{i}", "password1", "8.8.8.8")
    with pytest.raises(RateLimited) as throttled:
        await accounts.register("new6", "password1", "8.8.8.8")
    assert throttled.value.reason == "register_throttled"
    await accounts.register("new6", "password1", "9.9.9.9")


async def test_tokens_expire(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    token = await accounts.sign_in("alice", "password1", "c")
    chat.clock.now += timedelta(hours=1, seconds=1)
    with pytest.raises(Unauthorized):
        await accounts.authenticate(token.token)
    for bad in ("", "x" * 500, "not-a-token"):
        with pytest.raises(Unauthorized):
            await accounts.authenticate(bad)


async def test_hashing_does_not_block_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop keeps running while argon2 hashes (in a thread, the GIL released).

    Counted inside the hash itself: the hashing thread reads the loop's tick count as it
    starts and as it ends. Hashing on the loop, or holding the GIL through it, leaves the
    two equal whatever the machine's load; a wall-clock ratio did not.
    """
    store = MemoryChatStore()
    config = ChatConfig(hash_params=HashParams(time_cost=3, memory_kib=32 * 1024))
    services = build_chat_services(store, InProcessBus(), config)
    ticks = 0
    during: list[int] = []
    real_hash = Argon2Hasher.hash

    def observed_hash(self: Argon2Hasher, password: str | bytes, **kwargs: Any) -> str:
        before = ticks
        try:
            return real_hash(self, password, **kwargs)
        finally:
            during.append(ticks - before)

    monkeypatch.setattr(Argon2Hasher, "hash", observed_hash)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await services.accounts.register("alice", "password1")
    finally:
        task.cancel()
        await store.close()
    assert len(during) == 1  # the registration hashed once
    assert during[0] > 0  # and the loop ran while it did


async def test_a_ticket_costs_one_lookup_of_its_token_and_counts_as_a_post(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts, sessions, store = chat.services.accounts, chat.services.sessions, chat.store
    await accounts.register("alice", "password1")
    token = (await accounts.sign_in("alice", "password1", "c")).token
    lookups: list[str] = []
    for name in ("get_token", "user_for_token"):
        looked_up = getattr(store, name)

        async def counted(*args: Any, _name: str = name, _real: Any = looked_up) -> Any:
            lookups.append(_name)
            return await _real(*args)

        monkeypatch.setattr(store, name, counted)
    ticket = await sessions.issue_ticket(token)
    assert lookups == ["get_token"]  # the token once: it names the user too
    assert (await sessions.redeem_ticket(ticket)).user.username == "alice"
    for bad in ("", "x" * 129, "not-a-token"):
        with pytest.raises(Unauthorized) as refused:
            await sessions.issue_ticket(bad)
        assert refused.value.reason == "invalid_token"
    # Tickets are writes: the user's post limit runs out (its burst, then refusals).
    with pytest.raises(RateLimited):
        for _ in range(1000):
            await sessions.issue_ticket(token)


# rooms


async def test_valid_token_ids_after_a_sign_out(chat: Chat) -> None:
    accounts, sessions = chat.services.accounts, chat.services.sessions
    await accounts.register("alice", "password1")
    first = await accounts.sign_in("alice", "password1", "c")
    second = await accounts.sign_in("alice", "password1", "c")
    _, held = await sessions.list_tokens(first.token)
    ids = [token_id(record.token_hash) for record in held]
    assert len(ids) == 2
    await sessions.sign_out(second.token)
    current, _ = await sessions.list_tokens(first.token)
    assert await sessions.valid_token_ids("alice", [*ids, "nonsense"]) == {current}
    assert await sessions.valid_token_ids("nobody", ids) == set()
