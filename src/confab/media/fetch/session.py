"""The HTTP side of the safe fetcher: connections, limits and the fetch, hop by hop.

Each hop (the first request and every redirect) is checked as a URL, waits its turn under
the per-host, rate and global limits, and dials only addresses vetted at connect time
(`backend.VettingBackend`). The body streams under a byte cap and is judged by its magic
bytes. The whole fetch, waits included, runs under one deadline. Whatever goes wrong
leaves as a `confab.core.errors` subclass with a reason code.

`SafeFetcher` imports this module (and with it httpx and httpcore) on its first fetch.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Final

import httpcore
import httpx

from confab.core.errors import (
    ConfabError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    UnsupportedMedia,
    UpstreamFailed,
    UpstreamTimeout,
)
from confab.media.domain.sniff import SNIFF_PREFIX_BYTES, is_html, sniff
from confab.media.fetch.backend import VettingBackend
from confab.media.fetch.decoding import BoundedDecoder
from confab.media.fetch.fetcher import Fetched, Want
from confab.media.fetch.limits import KeyedSemaphore, Pacer
from confab.media.fetch.policy import FetchPolicy
from confab.media.fetch.resolver import Resolver
from confab.media.fetch.transport import VettedTransport

log = logging.getLogger("confab.media.fetch")

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_HTML_MEDIA_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
_ACCEPT: Final[dict[str, str]] = {
    "image": "image/avif,image/webp,image/*;q=0.9,*/*;q=0.5",
    "page": "text/html,application/xhtml+xml;q=0.9,image/*;q=0.8,*/*;q=0.5",
}


class FetchSession:
    """A fetcher's connection pool and limits (`SafeFetcher` makes one; close it)."""

    def __init__(
        self, policy: FetchPolicy, resolver: Resolver, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._policy = policy
        self._backend = VettingBackend(resolver, policy.networks, ports=policy.ports)
        self._transport = VettedTransport(
            self._backend, max_connections=policy.concurrency, ssl_context=ssl_context
        )
        self._timeout = httpx.Timeout(
            connect=policy.connect_timeout,
            read=policy.read_timeout,
            write=policy.read_timeout,
            pool=policy.total_timeout,
        ).as_dict()
        self._global = asyncio.Semaphore(policy.concurrency)
        self._per_host = KeyedSemaphore(policy.per_host)
        self._pacer = Pacer(policy.per_host_rate_per_minute)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._transport.aclose()

    async def fetch(self, url: str, want: Want) -> Fetched:
        """The body of `url` (following redirects), or a ConfabError saying why not."""
        if want not in _ACCEPT:
            raise InvalidInput(f"cannot fetch a {want!r}", code="bad_fetch_kind")
        current = _checked_url(url, redirected=False)
        deadline = self._policy.total_timeout
        try:
            async with asyncio.timeout(deadline) as scope:
                for _ in range(self._policy.max_redirects + 1):
                    outcome = await self._hop(current, want)
                    if isinstance(outcome, Fetched):
                        return outcome
                    current = outcome
        except ConfabError:
            raise
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            detail = f"fetch took longer than {deadline:g}s" if scope.expired() else str(exc)
            raise UpstreamTimeout(detail or "timed out", code="upstream_timeout") from None
        except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
            raise UpstreamTimeout(_describe(exc, current), code="upstream_timeout") from None
        except (httpx.HTTPError, httpcore.ProxyError, httpcore.NetworkError) as exc:
            raise UpstreamFailed(_describe(exc, current), code="upstream_error") from None
        except (httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
            raise UpstreamFailed(_describe(exc, current), code="upstream_error") from None
        except (ValueError, UnicodeError, LookupError) as exc:
            # Malformed upstream data that a library rejected in its own words.
            raise UpstreamFailed(_describe(exc, current), code="upstream_error") from None
        except Exception as exc:
            # Anything else a network library lets out (e.g. an ExceptionGroup from anyio):
            # still the upstream's failure to the caller, but logged in full for us.
            log.warning("unexpected error fetching %s", current, exc_info=True)
            raise UpstreamFailed(_describe(exc, current), code="upstream_error") from None
        raise UpstreamFailed(
            f"more than {self._policy.max_redirects} redirects", code="too_many_redirects"
        )

    async def _hop(self, url: httpx.URL, want: Want) -> Fetched | httpx.URL:
        """One request: the final result, or the URL a redirect points to."""
        host = url.host
        async with self._per_host.hold(host):
            await self._pacer.wait(host)
            async with self._global:
                request = httpx.Request(
                    "GET",
                    url,
                    headers={
                        "User-Agent": self._policy.user_agent,
                        "Accept": _ACCEPT[want],
                        # Plain bytes, please; compressed ones are inflated under the cap
                        # anyway (decoding.py), but need not be.
                        "Accept-Encoding": "identity",
                    },
                    extensions={"timeout": self._timeout},
                )
                response = await self._transport.handle_async_request(request)
                response.request = request
                try:
                    return await self._handle(response, want)
                finally:
                    await response.aclose()

    async def _handle(self, response: httpx.Response, want: Want) -> Fetched | httpx.URL:
        status = response.status_code
        if status in _REDIRECT_STATUSES:
            return _redirect_target(response)
        if 400 <= status < 500:
            # thumbor answers 404 for an origin's 4xx: the source is not there for us.
            raise NotFound(f"{response.url} answered HTTP {status}", code="source_not_found")
        if not 200 <= status < 300:
            raise UpstreamFailed(f"{response.url} answered HTTP {status}", code="upstream_status")
        return await self._read(response, want)

    async def _read(self, response: httpx.Response, want: Want) -> Fetched:
        cap = self._policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise TooLarge(
                f"source declares {declared} bytes, over the cap of {cap}", code="source_too_large"
            )
        content_type = response.headers.get("content-type")
        decoder = BoundedDecoder(response.headers.get("content-encoding"), cap)
        body = bytearray()
        kind: str | None = None
        received = 0
        # Raw bytes, decoded here under the cap (httpx would inflate each chunk unbounded).
        async for raw in response.aiter_raw():
            received += len(raw)
            if received > cap:
                raise TooLarge(f"source is over the cap of {cap} bytes", code="source_too_large")
            body += decoder.feed(raw)
            if kind is None and len(body) >= SNIFF_PREFIX_BYTES:
                # Judge early: a 50 MB non-image is refused after 16 KiB, not 50 MB.
                kind = _judge(bytes(body[:SNIFF_PREFIX_BYTES]), content_type, want)
        body += decoder.flush()
        if kind is None:
            kind = _judge(bytes(body), content_type, want)
        return Fetched(
            url=str(response.url), data=bytes(body), content_type=content_type, kind=kind
        )


def _checked_url(url: str | httpx.URL, *, redirected: bool) -> httpx.URL:
    """`url` parsed, if it is an http(s) URL with a host and no credentials."""

    # A bad URL given to us is the caller's error; one a redirect gives is the source's.
    def refuse(detail: str) -> ConfabError:
        if redirected:
            return Forbidden(f"redirect refused: {detail}", code="source_forbidden")
        return InvalidInput(detail, code="bad_source_url")

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise refuse(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise refuse(f"scheme {parsed.scheme!r} is not http or https")
    if not parsed.host:
        raise refuse("the URL has no host")
    if parsed.userinfo:
        raise refuse("credentials in URLs are not accepted")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise refuse(f"port {parsed.port} is out of range")
    return parsed.copy_with(fragment=None)


def _redirect_target(response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise UpstreamFailed(
            f"{response.url} redirected (HTTP {response.status_code}) without a Location",
            code="upstream_status",
        )
    try:
        target = response.url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UpstreamFailed(f"bad redirect location: {exc}", code="upstream_error") from None
    return _checked_url(target, redirected=True)


def _judge(head: bytes, content_type: str | None, want: Want) -> str:
    """The sniffed kind of a body starting with `head`, if `want` accepts it."""
    kind = sniff(head)
    if want == "image":
        if kind is None:
            raise UnsupportedMedia(
                f"the source is not an image (Content-Type {content_type or 'absent'})",
                code="source_not_image",
            )
        return kind
    if kind is not None:
        return kind
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _HTML_MEDIA_TYPES or is_html(head):
        return "html"
    raise UnsupportedMedia(
        f"the source is neither an HTML page nor an image (Content-Type {content_type})",
        code="source_not_page",
    )


def _describe(exc: BaseException, url: httpx.URL) -> str:
    text = str(exc) or type(exc).__name__
    return f"fetching {url}: {text}"
