"""Uploads need a grant from a chat node, and each user has an upload rate and a byte
quota (issue 11, part 2)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING

from confab.core.upload_grants import HEADER, sign_grant, upload_grant_key
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.sources import jpeg

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
KEY = "upload-test-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    env = {
        **CHEAP_PASSWORD_HASHING,
        "CONFAB_MEDIA_SECURITY_KEY": KEY,
        "CONFAB_MEDIA_RENDER_PROCESSES": "1",
        "CONFAB_MEDIA_UPLOAD_QUOTA_BYTES": "60000",
        "CONFAB_MEDIA_UPLOAD_BURST": "3",
        "CONFAB_MEDIA_UPLOAD_PER_MINUTE": "1",
    }
    with confab_server(tmp_path_factory.mktemp("uploads") / "data", env=env) as handle:
        yield handle


def _grant(api: httpx.Client) -> dict[str, str]:
    body = {"username": f"u{uuid.uuid4().hex[:10]}", "password": PASSWORD}
    assert api.post("/api/accounts", json=body).status_code == 201
    token = api.post("/api/tokens", json=body).json()["token"]
    granted = api.post("/api/upload-grants", headers={"Authorization": f"Bearer {token}"})
    assert granted.status_code == 201
    grant = granted.json()
    assert grant["header"] == HEADER
    return {HEADER: grant["grant"]}


def _upload(api: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return api.post(
        "/media/uploads", content=body, headers={"Content-Type": "image/jpeg", **headers}
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "upload_grant_missing"),
        ({HEADER: "nonsense"}, "upload_grant_invalid"),
        ({HEADER: sign_grant(upload_grant_key("another-key"), "ann", 60)}, "upload_grant_invalid"),
        (
            {HEADER: sign_grant(upload_grant_key(KEY), "ann", 60, now=1000.0)},
            "upload_grant_expired",
        ),
    ],
)
def test_an_upload_without_a_valid_grant_is_401(
    server: ServerHandle, headers: dict[str, str], reason: str
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        refused = _upload(api, jpeg(64, 64), headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == reason


def test_each_user_has_an_upload_rate_and_a_byte_quota(server: ServerHandle) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as api:
        ann, bob = _grant(api), _grant(api)
        small = [jpeg(32 + i, 32) for i in range(4)]
        assert [_upload(api, body, ann).status_code for body in small[:3]] == [201] * 3
        hurried = _upload(api, small[3], ann)
        assert hurried.status_code == 429
        assert hurried.json()["error"] == "upload_rate"
        assert int(hurried.headers["Retry-After"]) >= 1
        # Bob's allowance is his own; one upload over his whole quota is a 413.
        big = jpeg(400, 300, quality=95)
        assert len(big) > 60000
        too_big = _upload(api, big, bob)
        assert too_big.status_code == 413
        medium = jpeg(300, 200, quality=95)
        assert 30000 < len(medium) <= 60000, len(medium)
        assert _upload(api, medium, bob).status_code == 201
        over = _upload(api, jpeg(301, 200, quality=95), bob)
        assert over.status_code == 429
        assert over.json()["error"] == "upload_quota"
        assert int(over.headers["Retry-After"]) >= 1


def test_a_media_only_node_without_a_shared_key_refuses_uploads(tmp_path: Path) -> None:
    with (
        confab_server(tmp_path / "media", "--roles", "media", command="serve") as node,
        httpx.Client(base_url=node.url, timeout=30) as api,
    ):
        minted = {HEADER: sign_grant(upload_grant_key("any"), "ann", 60)}
        refused = _upload(api, jpeg(64, 64), minted)
        assert refused.status_code == 403
        assert refused.json()["error"] == "uploads_disabled"
