"""The HTTP media client's failure policy (timeouts, retries, circuit), request signing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from confab.adapters.circuit import CircuitBreaker
from confab.adapters.media_http import HttpMediaClient, RemoteAttachment
from confab.core import internal_api, jsoncodec
from confab.core.errors import InvalidInput, Unauthorized, Unavailable, UpstreamFailed
from tests.conftest import free_port

KEY = "policy-test-key"
UPLOAD = "ab" * 32
ATTACHMENT = {
    "id": UPLOAD,
    "width": 4,
    "height": 3,
    "thumbnail_url": f"/media/s/fit-in/640x640/upload/{UPLOAD}",
    "full_url": f"/media/t/fit-in/2048x2048/upload/{UPLOAD}",
}


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Media:
    """A scripted media node: each request takes the next answer (the last one repeats)."""

    answers: list[Callable[[httpx.Request], httpx.Response]]
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return answer(request)


def ok(request: httpx.Request) -> httpx.Response:
    if request.url.path == internal_api.ATTACHMENTS:
        return httpx.Response(200, json={"attachments": [ATTACHMENT]})
    urls = jsoncodec.loads(request.content)["urls"]
    return httpx.Response(
        200,
        json={
            "previews": [{"url": u, "title": "t", "description": None, "image": None} for u in urls]
        },
    )


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def status(code: int, body: object = None) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, json=body)


def client(media: Media, **options: object) -> HttpMediaClient:
    defaults: dict[str, object] = {"backoff": 0.001, "timeout": 2.0}
    return HttpMediaClient(
        "http://media.test/",
        KEY,
        transport=httpx.MockTransport(media.handle),
        **{**defaults, **options},  # type: ignore[arg-type]
    )


# signing


def test_a_signature_verifies_only_for_its_key_endpoint_body_and_time() -> None:
    key = internal_api.internal_key(KEY)
    header = internal_api.sign_request(key, internal_api.ATTACHMENTS, b"{}", now=1000)
    internal_api.verify_request(key, internal_api.ATTACHMENTS, b"{}", header, now=1100)
    cases = [
        (internal_api.internal_key("other"), internal_api.ATTACHMENTS, b"{}", header, 1000),
        (key, internal_api.PREVIEWS, b"{}", header, 1000),
        (key, internal_api.ATTACHMENTS, b"{ }", header, 1000),
        (key, internal_api.ATTACHMENTS, b"{}", header, 1000 + 301),
        (key, internal_api.ATTACHMENTS, b"{}", header, 1000 - 301),
        (key, internal_api.ATTACHMENTS, b"{}", None, 1000),
        (key, internal_api.ATTACHMENTS, b"{}", "t=x,v1=00", 1000),
        (key, internal_api.ATTACHMENTS, b"{}", "garbage", 1000),
    ]
    reasons = []
    for case_key, endpoint, body, case_header, now in cases:
        with pytest.raises(Unauthorized) as refused_:
            internal_api.verify_request(case_key, endpoint, body, case_header, now=now)
        reasons.append(refused_.value.reason)
    assert reasons == ["signature_invalid"] * 3 + ["signature_expired"] * 2 + [
        "signature_missing",
        "signature_malformed",
        "signature_malformed",
    ]
    # The request key is not the URL-signing key itself.
    assert internal_api.internal_key(KEY) != KEY.encode()


# circuit breaker


def test_the_circuit_opens_after_failures_and_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, reset_after=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "closed"
    breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # the others wait for its outcome
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
    with pytest.raises(ValueError):
        CircuitBreaker(failures=0)


# retries, deadlines, circuit


async def test_connection_errors_and_5xx_are_retried_then_succeed() -> None:
    media = Media([refused, status(503), ok])
    remote = client(media, retries=2)
    found = await remote.describe_attachments([UPLOAD])
    assert found == {UPLOAD: RemoteAttachment(**ATTACHMENT)}  # type: ignore[arg-type]
    assert len(media.requests) == 3
    # Each attempt is signed, for the logical endpoint.
    for request in media.requests:
        internal_api.verify_request(
            internal_api.internal_key(KEY),
            internal_api.ATTACHMENTS,
            request.content,
            request.headers[internal_api.HEADER],
        )
    assert str(media.requests[0].url) == "http://media.test/media/internal/attachments"
    await remote.aclose()


async def test_media_down_refuses_attachments_clearly_and_gives_no_previews() -> None:
    media = Media([refused])
    remote = client(media, retries=2)
    with pytest.raises(Unavailable) as down:
        await remote.describe_attachments([UPLOAD])
    assert down.value.reason == "media_unavailable"
    assert "media service is unavailable" in down.value.detail
    assert len(media.requests) == 3  # one try and two retries
    assert await remote.link_previews(["https://a.example/"]) == []
    await remote.aclose()


async def test_a_closed_port_fails_fast() -> None:
    remote = HttpMediaClient(f"http://127.0.0.1:{free_port()}", KEY, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await remote.describe_attachments([UPLOAD])
    assert time.monotonic() - started < 2.0
    await remote.aclose()


async def test_a_hanging_media_node_costs_a_send_at_most_the_deadline() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()  # never answers
        return httpx.Response(200)

    remote = HttpMediaClient(
        "http://media.test", KEY, timeout=0.3, transport=httpx.MockTransport(hang)
    )
    started = time.monotonic()
    with pytest.raises(Unavailable) as slow:
        await remote.describe_attachments([UPLOAD])
    assert time.monotonic() - started < 1.5
    assert "within 0.3 s" in slow.value.detail
    await remote.aclose()


async def test_the_open_circuit_fails_at_once_then_a_trial_closes_it() -> None:
    clock = Clock()
    media = Media([refused])
    remote = client(media, retries=0, breaker=CircuitBreaker(3, 10, clock))
    for _ in range(3):
        with pytest.raises(Unavailable):
            await remote.describe_attachments([UPLOAD])
    asked = len(media.requests)
    with pytest.raises(Unavailable) as fast:
        await remote.describe_attachments([UPLOAD])
    assert "recent requests" in fast.value.detail
    assert await remote.link_previews(["https://a.example/"]) == []
    assert len(media.requests) == asked  # nothing was sent while open
    media.answers.append(ok)  # media is back
    clock.now += 10
    assert list(await remote.describe_attachments([UPLOAD])) == [UPLOAD]
    assert remote.breaker.state == "closed"
    previews = await remote.link_previews(["https://a.example/"])
    assert [p.url for p in previews] == ["https://a.example/"]
    await remote.aclose()


async def test_answers_that_are_not_retried() -> None:
    media = Media([status(401, {"error": "signature_invalid", "detail": "bad"})])
    remote = client(media)
    with pytest.raises(Unavailable) as unsigned:
        await remote.describe_attachments([UPLOAD])
    assert "CONFAB_MEDIA_SECURITY_KEY" in unsigned.value.detail
    assert len(media.requests) == 1

    media = Media([status(400, {"error": "too_many_ids", "detail": "at most 100 ids"})])
    remote = client(media)
    with pytest.raises(InvalidInput) as bad:
        await remote.describe_attachments([UPLOAD])
    assert (bad.value.reason, bad.value.detail) == ("too_many_ids", "at most 100 ids")
    assert remote.breaker.state == "closed"  # media answered: it is up

    for body in ({"attachments": [{"id": 1}]}, {"nothing": []}, "not an object"):
        remote = client(Media([status(200, body)]))
        with pytest.raises(UpstreamFailed) as odd:
            await remote.describe_attachments([UPLOAD])
        assert odd.value.reason == "media_bad_answer"
        assert await remote.link_previews(["https://a.example/"]) == []
        await remote.aclose()
    assert await remote.describe_attachments([]) == {}
    assert await remote.link_previews([]) == []
