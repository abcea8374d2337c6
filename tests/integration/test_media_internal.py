"""Chat's HTTP media client against the media role's internal endpoints (the real routes,
over ASGI): the same answers as the in-process client, and bad requests refused clearly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

import httpx
import pytest

from confab.adapters.media_http import HttpMediaClient
from confab.core import internal_api, jsoncodec
from confab.core.errors import Unavailable
from confab.core.metrics import Metrics
from confab.media.services.client import InProcessMediaClient
from confab.media.services.uploads import UploadService
from confab.media.web_internal import internal_routes
from confab.node.app import NodeState, build_app
from tests.unit.test_previews import KEY, PNG, FakeFetcher, client, html

A, B = "https://a.example/1", "https://b.example/2"


@dataclass
class Media:
    local: InProcessMediaClient
    uploads: UploadService
    transport: httpx.ASGITransport
    http: httpx.AsyncClient


@pytest.fixture
async def media() -> AsyncIterator[Media]:
    local, uploads = client(FakeFetcher({A: html(A)}))
    app = build_app(
        internal_routes(local, internal_api.internal_key(KEY)),
        NodeState(roles=("media",)),
        Metrics(),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://media.test") as http:
        yield Media(local, uploads, transport, http)


def remote(media: Media, key: str = KEY) -> HttpMediaClient:
    return HttpMediaClient("http://media.test", key, transport=media.transport)


async def test_the_remote_client_answers_like_the_in_process_one(media: Media) -> None:
    info, _ = await media.uploads.upload(PNG)
    ids = [info.id, "0" * 64, "not-an-id", info.id]
    over_http = remote(media)
    local_found = await media.local.describe_attachments(ids)
    remote_found = await over_http.describe_attachments(ids)
    assert list(remote_found) == [info.id]
    # The same signed URLs and sizes: a message looks the same on either kind of node.
    assert {k: asdict(v) for k, v in remote_found.items()} == {
        k: asdict(v) for k, v in local_found.items()
    }
    local_previews = await media.local.link_previews([A, B])
    remote_previews = await over_http.link_previews([A, B])
    assert [asdict(p) for p in remote_previews] == [asdict(p) for p in local_previews]
    assert [p.url for p in remote_previews] == [A]
    assert remote_previews[0].image is not None
    await over_http.aclose()


async def test_a_chat_node_with_another_key_gets_a_clear_refusal(media: Media) -> None:
    info, _ = await media.uploads.upload(PNG)
    wrong = remote(media, key="not-the-media-key")
    with pytest.raises(Unavailable) as refused:
        await wrong.describe_attachments([info.id])
    assert "CONFAB_MEDIA_SECURITY_KEY" in str(refused.value)
    assert await wrong.link_previews([A]) == []
    await wrong.aclose()


async def _post(media: Media, endpoint: str, body: bytes, *, signed: bool = True) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signed:
        key = internal_api.internal_key(KEY)
        headers[internal_api.HEADER] = internal_api.sign_request(key, endpoint, body)
    return await media.http.post(endpoint, content=body, headers=headers)


@pytest.mark.parametrize(
    ("endpoint", "body", "status", "reason"),
    [
        (internal_api.ATTACHMENTS, b"{not json", 400, "invalid_json"),
        (internal_api.ATTACHMENTS, b'{"ids": "abc"}', 400, "bad_ids"),
        (internal_api.ATTACHMENTS, b'{"ids": [1, 2]}', 400, "bad_ids"),
        (internal_api.ATTACHMENTS, b"[]", 400, "bad_ids"),
        (internal_api.ATTACHMENTS, jsoncodec.dumps({"ids": ["a"] * 101}), 400, "too_many_ids"),
        (internal_api.ATTACHMENTS, jsoncodec.dumps({"ids": ["a" * 65]}), 400, "bad_ids"),
        (internal_api.PREVIEWS, b'{"ids": []}', 400, "bad_urls"),
        (internal_api.PREVIEWS, jsoncodec.dumps({"urls": ["x"] * 21}), 400, "too_many_urls"),
        (internal_api.PREVIEWS, jsoncodec.dumps({"urls": ["h" * 2049]}), 400, "bad_urls"),
        (
            internal_api.PREVIEWS,
            jsoncodec.dumps({"urls": ["x" * 2000] * 40}),
            413,
            "internal_body_too_large",
        ),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_reason(
    media: Media, endpoint: str, body: bytes, status: int, reason: str
) -> None:
    response = await _post(media, endpoint, body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == reason


async def test_unsigned_or_missigned_requests_are_refused(media: Media) -> None:
    body = b'{"ids": []}'
    unsigned = await _post(media, internal_api.ATTACHMENTS, body, signed=False)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"] == "signature_missing"
    # Signed for the other endpoint: refused.
    key = internal_api.internal_key(KEY)
    header = internal_api.sign_request(key, internal_api.PREVIEWS, body)
    crossed = await media.http.post(
        internal_api.ATTACHMENTS, content=body, headers={internal_api.HEADER: header}
    )
    assert crossed.status_code == 401
    assert crossed.json()["error"] == "signature_invalid"
    # Only POST: a GET is not an internal call.
    assert (await media.http.get(internal_api.ATTACHMENTS)).status_code == 405
