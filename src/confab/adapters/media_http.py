"""Chat's `MediaClient` over HTTP: a chat node reaching the media role on other machines.

It implements `confab.chat.ports.MediaClient` structurally (adapters import no service),
calling the internal endpoints of `confab.core.internal_api` on `CONFAB_MEDIA_URL` (a media
node, or the load balancer in front of the media nodes), each request signed.

Failure policy, so that media trouble never holds a message up for long:
- each call has a deadline (attachments: a few seconds, since a send waits on it; previews:
  longer, since they run in the background), connect timeouts are short;
- both endpoints are idempotent reads, so connection errors, timeouts and 5xx answers are
  retried with exponential backoff and jitter, inside the deadline;
- a circuit breaker opens after consecutive failed calls: then calls fail at once for a
  while (a send with attachments gets `Unavailable("media_unavailable")`, a 503 or an
  error frame; previews are simply absent) instead of every sender waiting out a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from confab.adapters.circuit import CircuitBreaker
from confab.core import internal_api, jsoncodec
from confab.core.errors import (
    ConfabError,
    InvalidInput,
    Unavailable,
    UpstreamFailed,
)

log = logging.getLogger("confab.media_http")


@dataclass(frozen=True, slots=True)
class RemoteAttachment:
    """An upload as the media role describes it (chat's `AttachmentView`)."""

    id: str
    width: int
    height: int
    thumbnail_url: str
    full_url: str


@dataclass(frozen=True, slots=True)
class RemotePreview:
    """A link preview as the media role gives it (chat's `LinkPreview`)."""

    url: str
    title: str | None
    description: str | None
    image: str | None


class _Retryable(Exception):
    """One attempt failed in a way another attempt may not (network, timeout, 5xx)."""


def _unavailable(detail: str) -> Unavailable:
    return Unavailable(f"the media service is unavailable: {detail}", code="media_unavailable")


def _bad_answer(endpoint: str) -> UpstreamFailed:
    return UpstreamFailed(
        f"the media service answered {endpoint} with an unexpected body", code="media_bad_answer"
    )


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("expected a string or null")


def _attachment(item: Any) -> RemoteAttachment:
    width, height = item["width"], item["height"]
    strings = (item["id"], item["thumbnail_url"], item["full_url"])
    if not all(isinstance(v, str) for v in strings) or not all(
        type(v) is int for v in (width, height)
    ):
        raise TypeError("bad attachment")
    return RemoteAttachment(item["id"], width, height, item["thumbnail_url"], item["full_url"])


def _preview(item: Any) -> RemotePreview:
    if not isinstance(item["url"], str):
        raise TypeError("bad preview")
    return RemotePreview(
        item["url"],
        _optional_str(item["title"]),
        _optional_str(item["description"]),
        _optional_str(item["image"]),
    )


class HttpMediaClient:
    """Describes uploads and previews links by calling a media node over HTTP."""

    def __init__(
        self,
        base_url: str,
        security_key: str,
        *,
        connect_timeout: float = 2.0,
        timeout: float = 5.0,
        preview_timeout: float = 45.0,
        retries: int = 2,
        backoff: float = 0.1,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._key = internal_api.internal_key(security_key)
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._preview_timeout = preview_timeout
        self._retries = retries
        self._backoff = backoff
        self.breaker = breaker or CircuitBreaker()
        self._http = httpx.AsyncClient(
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            # Internal calls never follow redirects or read proxies from the environment.
            follow_redirects=False,
            trust_env=False,
        )

    async def describe_attachments(self, upload_ids: Sequence[str]) -> dict[str, RemoteAttachment]:
        """The stored uploads among `upload_ids`, by id; `Unavailable` if media is down."""
        if not upload_ids:
            return {}
        answer = await self._call(internal_api.ATTACHMENTS, {"ids": list(upload_ids)})
        try:
            views = [_attachment(item) for item in answer["attachments"]]
        except (KeyError, TypeError) as error:
            raise _bad_answer(internal_api.ATTACHMENTS) from error
        return {view.id: view for view in views}

    async def link_previews(self, urls: Sequence[str]) -> list[RemotePreview]:
        """Previews of `urls` in order; nothing at all when media fails (never raises)."""
        if not urls:
            return []
        try:
            answer = await self._call(
                internal_api.PREVIEWS, {"urls": list(urls)}, deadline=self._preview_timeout
            )
            return [_preview(item) for item in answer["previews"]]
        except (ConfabError, KeyError, TypeError) as error:
            log.info("no link previews: %s", error, extra={"media_url": self._base})
            return []

    async def _call(
        self, endpoint: str, payload: dict[str, Any], *, deadline: float | None = None
    ) -> Any:
        """POST `payload` to `endpoint`, retried inside `deadline`; the decoded answer."""
        if not self.breaker.allow():
            raise _unavailable("recent requests to it failed; try again in a few seconds")
        budget = self._timeout if deadline is None else deadline
        body = jsoncodec.dumps(payload)
        try:
            async with asyncio.timeout(budget):
                answer = await self._attempts(endpoint, body, budget)
        except TimeoutError:
            self.breaker.failure()
            raise _unavailable(f"no answer within {budget:g} s") from None
        except _Retryable as error:
            self.breaker.failure()
            raise _unavailable(str(error)) from error
        except ConfabError:
            # Media answered (a 4xx, or a body we cannot read): it is up.
            self.breaker.success()
            raise
        except BaseException:
            # Cancelled (the caller gave up): count it, so a half-open trial is not stuck.
            self.breaker.failure()
            raise
        self.breaker.success()
        return answer

    async def _attempts(self, endpoint: str, body: bytes, budget: float) -> Any:
        timeout = httpx.Timeout(budget, connect=min(self._connect_timeout, budget))
        for attempt in range(self._retries + 1):
            try:
                return await self._attempt(endpoint, body, timeout)
            except _Retryable as error:
                if attempt == self._retries:
                    raise
                delay = self._backoff * 2**attempt * (0.5 + random.random())
                log.info(
                    "media request failed, retrying",
                    extra={"endpoint": endpoint, "error": str(error), "delay": round(delay, 3)},
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _attempt(self, endpoint: str, body: bytes, timeout: httpx.Timeout) -> Any:
        headers = {
            "Content-Type": "application/json",
            # Signed per attempt: a retry after a long wait still carries a fresh time.
            internal_api.HEADER: internal_api.sign_request(self._key, endpoint, body),
        }
        try:
            response = await self._http.post(
                self._base + endpoint, content=body, headers=headers, timeout=timeout
            )
        except httpx.TransportError as error:
            raise _Retryable(f"{type(error).__name__} on {self._base}: {error}") from error
        if response.status_code >= 500:
            raise _Retryable(f"{self._base} answered {response.status_code}")
        if response.status_code in (401, 403):
            raise Unavailable(
                "the media service refused this node's signed request: set the same "
                "CONFAB_MEDIA_SECURITY_KEY on chat and media nodes",
                code="media_unavailable",
            )
        if response.status_code >= 400:
            reason, detail = _error_of(response)
            raise InvalidInput(detail or f"media refused the request ({reason})", code=reason)
        try:
            return jsoncodec.loads(response.content)
        except ValueError as error:
            raise _bad_answer(endpoint) from error

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The `{"error", "detail"}` of an error answer, or a reason made of its status."""
    try:
        body = jsoncodec.loads(response.content)
        return str(body["error"]), str(body.get("detail", ""))
    except (ValueError, KeyError, TypeError):
        return f"media_http_{response.status_code}", ""
