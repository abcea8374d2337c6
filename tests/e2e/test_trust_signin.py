"""Sign-in throttling that an attacker cannot turn against the account's owner (issue 11).

The node trusts 127.0.0.1 as its proxy (`CONFAB_TRUSTED_PROXIES`), so each request's
X-Forwarded-For names the client, as behind the shipped nginx.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING

from tests.e2e.server import ServerHandle, confab_server

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
ENV = {
    **CHEAP_PASSWORD_HASHING,
    "CONFAB_TRUSTED_PROXIES": "127.0.0.1/32",
    "CONFAB_CHAT_SIGNIN_ATTEMPTS": "10",
    "CONFAB_CHAT_SIGNIN_ADDRESS_ATTEMPTS": "20",
    "CONFAB_CHAT_REGISTER_BURST": "5",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with confab_server(tmp_path_factory.mktemp("trust") / "data", env=ENV) as handle:
        yield handle


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def _sign_in(api: httpx.Client, user: str, password: str, address: str) -> httpx.Response:
    body = {"username": user, "password": password}
    return api.post("/api/tokens", json=body, headers=_from(address))


def _register(api: httpx.Client, address: str) -> str:
    name = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": name, "password": PASSWORD}
    assert api.post("/api/accounts", json=body, headers=_from(address)).status_code == 201
    return name


def test_a_password_spray_from_one_address_never_locks_the_owner_out(
    server: ServerHandle,
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        owner = _register(api, "198.51.100.1")
        answers = [_sign_in(api, owner, f"wrong-{i}-guess", "203.0.113.9") for i in range(12)]
        assert [r.status_code for r in answers[:10]] == [401] * 10
        throttled = answers[10]
        assert throttled.status_code == 429
        assert throttled.json()["error"] == "signin_throttled"
        assert int(throttled.headers["Retry-After"]) >= 1
        # The owner, from another address, right away.
        assert _sign_in(api, owner, PASSWORD, "198.51.100.7").status_code == 200


def test_a_username_spray_from_one_address_is_throttled_with_uniform_answers(
    server: ServerHandle,
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        real = _register(api, "198.51.100.2")
        names = [real if i % 5 == 0 else f"ghost{i}" for i in range(25)]
        answers = [_sign_in(api, name, "guess-guess-1", "203.0.113.25") for name in names]
        statuses = [r.status_code for r in answers]
        assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
        # Existing or not, the same answer.
        assert len({r.content for r in answers[:20]}) == 1
        assert all("Retry-After" in r.headers for r in answers[20:])


def test_registrations_are_limited_per_address(server: ServerHandle) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        for _ in range(5):
            _register(api, "192.0.2.50")
        body = {"username": "onemore", "password": PASSWORD}
        refused = api.post("/api/accounts", json=body, headers=_from("192.0.2.50"))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        _register(api, "192.0.2.51")


def test_forwarded_addresses_count_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    env = {**ENV, "CONFAB_TRUSTED_PROXIES": "10.99.0.0/16"}  # not this client
    with (
        confab_server(tmp_path / "data", env=env) as node,
        httpx.Client(base_url=node.url, timeout=30) as api,
    ):
        owner = _register(api, "1.1.1.1")
        # Each guess claims another address: the node sees them all as 127.0.0.1.
        answers = [_sign_in(api, owner, "wrong-guess-x", f"203.0.113.{i}") for i in range(11)]
        assert [r.status_code for r in answers] == [401] * 10 + [429]


def test_http_posting_is_limited_per_user_with_retry_after(server: ServerHandle) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        name = _register(api, "198.51.100.60")
        token = _sign_in(api, name, PASSWORD, "198.51.100.60").json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        room = f"r{uuid.uuid4().hex[:8]}"
        assert api.post("/api/rooms", json={"name": room}, headers=auth).status_code == 201
        stored = 0
        for i in range(300):  # a burst of 30 writes (the room took one), then 5 a second
            sent = api.post(f"/api/rooms/{room}/messages", json={"text": f"m{i}"}, headers=auth)
            if sent.status_code == 429:
                break
            assert sent.status_code == 201
            stored += 1
        assert sent.status_code == 429 and stored >= 29
        assert sent.json()["error"] == "rate_limited"
        assert int(sent.headers["Retry-After"]) >= 1
        # Another user is not slowed down by this one.
        other = _register(api, "198.51.100.61")
        other_token = _sign_in(api, other, PASSWORD, "198.51.100.61").json()["token"]
        made = api.post(
            "/api/rooms",
            json={"name": f"r{uuid.uuid4().hex[:8]}"},
            headers={"Authorization": f"Bearer {other_token}"},
        )
        assert made.status_code == 201
