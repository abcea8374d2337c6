"""The safe fetcher against real HTTP servers on loopback addresses.

Each test starts tiny asyncio HTTP origins (raw sockets, so they can lie about lengths,
stall, drip or redirect) on 127.0.0.x, and checks what the fetcher does and what the
origins saw.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

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
from confab.core.metrics import Metrics
from confab.media.fetch import backend as backend_module
from confab.media.fetch.fetcher import SafeFetcher
from confab.media.fetch.policy import FetchPolicy
from tests.conftest import skip_or_fail

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
HTML = b"<!DOCTYPE html><html><head><title>A page</title></head><body>hi</body></html>"
LOOPBACK = ("127.0.0.1/32",)


@dataclass
class Seen:
    """A request an origin received."""

    path: str
    headers: dict[str, str]
    at: float


Route = Callable[["Exchange"], Awaitable[None]]


@dataclass
class Exchange:
    """One request being answered by a route."""

    request: Seen
    writer: asyncio.StreamWriter

    async def send(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        length: int | None = None,
    ) -> None:
        """A whole response; `length` overrides the Content-Length sent (to lie)."""
        fields = {"Content-Length": str(len(body) if length is None else length)}
        fields.update(headers or {})
        await self.head(status, fields)
        self.writer.write(body)
        await self.writer.drain()

    async def head(self, status: int, headers: dict[str, str]) -> None:
        """The status line and headers (always Connection: close)."""
        lines = [f"HTTP/1.1 {status} X", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()


async def never() -> None:
    """A server that stops answering: waits until `Origin.stop` cancels it."""
    await asyncio.Event().wait()


@dataclass
class Origin:
    """A tiny HTTP/1.1 server on one loopback address, with routes and a request log."""

    host: str = "127.0.0.1"
    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> Origin:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Handlers still stalling or dripping are cut off: the test is over.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def route(self, path: str) -> Callable[[Route], Route]:
        def register(handler: Route) -> Route:
            self.routes[path] = handler
            return handler

        return register

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._answer(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        seen = Seen(path=request_line.split(" ")[1], headers=headers, at=time.monotonic())
        self.seen.append(seen)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            handler = self.routes.get(seen.path.split("?")[0])
            exchange = Exchange(seen, writer)
            if handler is None:
                await exchange.send(404, b"no such route")
            else:
                await handler(exchange)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.active -= 1
            writer.close()


@pytest.fixture
async def origins() -> AsyncIterator[Callable[..., Awaitable[Origin]]]:
    """A factory of started origins, all stopped at the end of the test."""
    started: list[Origin] = []

    async def make(host: str = "127.0.0.1", port: int = 0) -> Origin:
        origin = await Origin(host=host, port=port).start()
        started.append(origin)
        return origin

    yield make
    for origin in started:
        await origin.stop()


@pytest.fixture
async def origin(origins: Callable[..., Awaitable[Origin]]) -> Origin:
    """An origin on 127.0.0.1 serving a PNG at /img.png and a page at /page."""
    server = await origins()

    @server.route("/img.png")
    async def image(exchange: Exchange) -> None:
        await exchange.send(body=PNG, headers={"Content-Type": "image/png"})

    @server.route("/page")
    async def page(exchange: Exchange) -> None:
        await exchange.send(body=HTML, headers={"Content-Type": "text/html; charset=utf-8"})

    return server


class FakeResolver:
    """Answers from a table (each name: one answer list per call, the last one repeats)."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        answers = self._answers[host]
        index = min(sum(1 for call in self.calls if call == host), len(answers) - 1)
        self.calls.append(host)
        return answers[index]


@pytest.fixture
def dials(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) any fetcher opens a socket to during the test."""
    opened: list[tuple[str, int]] = []
    real_dial = backend_module.VettingBackend._dial

    async def recording_dial(
        self: backend_module.VettingBackend, address: str, port: int, *args: Any
    ) -> Any:
        opened.append((address, port))
        return await real_dial(self, address, port, *args)

    monkeypatch.setattr(backend_module.VettingBackend, "_dial", recording_dial)
    return opened


def policy(**overrides: object) -> FetchPolicy:
    """A test policy: short timeouts, loopback 127.0.0.1 and the test origins' ports
    opened unless told otherwise."""
    values: dict[str, object] = {
        "allow_networks": LOOPBACK,
        "allow_ports": ("1024-65535",),
        "max_bytes": 64 * 1024,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "total_timeout": 5.0,
        "max_redirects": 3,
    }
    values.update(overrides)
    return FetchPolicy(**values)  # type: ignore[arg-type]


async def fetch_error(
    fetcher: SafeFetcher, url: str, kind: type[ConfabError], *, want: str = "image"
) -> ConfabError:
    """The error `fetcher.fetch(url)` raises, checked to be a `kind`."""
    with pytest.raises(kind) as caught:
        await fetcher.fetch(url, want=want)  # type: ignore[arg-type]
    return caught.value


# --- fetching, and where it connects --------------------------------------------------------


async def test_fetch_ok(origin: Origin, dials: list[tuple[str, int]]) -> None:
    metrics = Metrics()
    fetcher = SafeFetcher(policy(user_agent="confab-test/1"), metrics=metrics)
    try:
        fetched = await fetcher.fetch(origin.url("/img.png"))
    finally:
        await fetcher.aclose()
    assert metrics.fetches.labels("ok")._value.get() == 1
    assert fetched.data == PNG
    assert fetched.kind == "png"
    assert fetched.content_type == "image/png"
    assert fetched.url == origin.url("/img.png")
    assert dials == [("127.0.0.1", origin.port)]
    request = origin.seen[0]
    assert request.headers["user-agent"] == "confab-test/1"
    assert request.headers["accept-encoding"] == "identity"


async def test_a_name_is_dialed_by_its_vetted_address_and_keeps_its_host_header(
    origin: Origin, dials: list[tuple[str, int]]
) -> None:
    resolver = FakeResolver({"images.example": [["127.0.0.1"]]})
    fetcher = SafeFetcher(policy(), resolver=resolver)
    try:
        fetched = await fetcher.fetch(origin.url("/img.png", host="images.example"))
    finally:
        await fetcher.aclose()
    assert fetched.data == PNG
    assert dials == [("127.0.0.1", origin.port)]
    assert origin.seen[0].headers["host"] == f"images.example:{origin.port}"


async def test_loopback_is_refused_unless_allowed(origin: Origin) -> None:
    metrics = Metrics()
    fetcher = SafeFetcher(policy(allow_networks=()), metrics=metrics)
    try:
        error = await fetch_error(fetcher, origin.url("/img.png"), Forbidden)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_forbidden"
    assert "127.0.0.1 is loopback" in error.detail
    assert origin.seen == []
    assert metrics.fetch_refusals.labels("source_forbidden")._value.get() == 1
    assert metrics.fetches.labels("refused")._value.get() == 1


async def test_an_allowance_opens_only_its_own_network(origin: Origin) -> None:
    fetcher = SafeFetcher(policy(allow_networks=("127.0.0.2/32",)))
    try:
        await fetch_error(fetcher, origin.url("/img.png"), Forbidden)
    finally:
        await fetcher.aclose()
    assert origin.seen == []


async def test_a_redirect_to_a_forbidden_address_is_refused_on_the_hop(
    origins: Callable[..., Awaitable[Origin]], dials: list[tuple[str, int]]
) -> None:
    inside = await origins("127.0.0.1")
    outside = await origins("127.0.0.2")

    @outside.route("/go")
    async def go(exchange: Exchange) -> None:
        await exchange.send(302, headers={"Location": inside.url("/secret")})

    fetcher = SafeFetcher(policy(allow_networks=("127.0.0.2/32",)))
    try:
        error = await fetch_error(fetcher, outside.url("/go"), Forbidden)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_forbidden"
    assert "127.0.0.1 is loopback" in error.detail
    assert [seen.path for seen in outside.seen] == ["/go"]
    assert inside.seen == []
    assert dials == [("127.0.0.2", outside.port)]


async def test_an_allowed_network_is_still_limited_by_ports(
    origin: Origin, dials: list[tuple[str, int]]
) -> None:
    fetcher = SafeFetcher(policy(allow_ports=()))
    try:
        error = await fetch_error(fetcher, origin.url("/img.png"), Forbidden)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_forbidden"
    assert f"port {origin.port} is not allowed" in error.detail
    assert origin.seen == [] and dials == []
    opened = SafeFetcher(policy(allow_ports=(str(origin.port),)))
    try:
        assert (await opened.fetch(origin.url("/img.png"))).kind == "png"
    finally:
        await opened.aclose()


async def test_a_redirect_to_a_port_not_allowed_is_refused_on_the_hop(
    origins: Callable[..., Awaitable[Origin]], dials: list[tuple[str, int]]
) -> None:
    first = await origins("127.0.0.1")
    second = await origins("127.0.0.1")

    @first.route("/go")
    async def go(exchange: Exchange) -> None:
        await exchange.send(302, headers={"Location": second.url("/img.png")})

    fetcher = SafeFetcher(policy(allow_ports=(str(first.port),)))
    try:
        error = await fetch_error(fetcher, first.url("/go"), Forbidden)
    finally:
        await fetcher.aclose()
    assert f"port {second.port} is not allowed" in error.detail
    assert second.seen == []
    assert dials == [("127.0.0.1", first.port)]


async def test_a_host_that_cannot_be_resolved_is_not_found() -> None:
    fetcher = SafeFetcher(policy())
    try:
        error = await fetch_error(fetcher, "http://no-such-host.invalid/img.png", NotFound)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_unresolvable"
    assert "no-such-host.invalid" in error.detail


async def test_allowed_redirects_are_followed_to_the_final_url(origin: Origin) -> None:
    @origin.route("/old")
    async def old(exchange: Exchange) -> None:
        await exchange.send(301, headers={"Location": "/img.png"})

    fetcher = SafeFetcher(policy())
    try:
        fetched = await fetcher.fetch(origin.url("/old"))
    finally:
        await fetcher.aclose()
    assert fetched.url == origin.url("/img.png")
    assert fetched.kind == "png"


async def test_localhost_is_refused(origin: Origin) -> None:
    fetcher = SafeFetcher(policy(allow_networks=()))
    try:
        error = await fetch_error(fetcher, origin.url("/img.png", host="localhost"), Forbidden)
    finally:
        await fetcher.aclose()
    assert "localhost" in error.detail
    assert "loopback" in error.detail
    assert origin.seen == []


@pytest.mark.parametrize("host", ["[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "2130706433"])
async def test_literal_internal_addresses_are_refused(host: str) -> None:
    fetcher = SafeFetcher(policy(allow_networks=()))
    try:
        error = await fetch_error(fetcher, f"http://{host}:9/img.png", Forbidden)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_forbidden"


async def test_a_name_resolving_to_a_private_address_is_never_dialed(
    dials: list[tuple[str, int]],
) -> None:
    resolver = FakeResolver({"evil.example": [["10.0.0.5"]]})
    fetcher = SafeFetcher(policy(), resolver=resolver)
    try:
        error = await fetch_error(fetcher, "http://evil.example/img.png", Forbidden)
    finally:
        await fetcher.aclose()
    assert "10.0.0.5 is private" in error.detail
    assert resolver.calls == ["evil.example"]
    assert dials == []


async def test_mixed_answers_dial_only_the_allowed_address(
    origin: Origin, dials: list[tuple[str, int]]
) -> None:
    resolver = FakeResolver({"mixed.example": [["10.0.0.5", "169.254.169.254", "127.0.0.1"]]})
    fetcher = SafeFetcher(policy(), resolver=resolver)
    try:
        fetched = await fetcher.fetch(origin.url("/img.png", host="mixed.example"))
    finally:
        await fetcher.aclose()
    assert fetched.data == PNG
    assert dials == [("127.0.0.1", origin.port)]


async def test_dns_rebinding_cannot_move_the_connection(
    origins: Callable[..., Awaitable[Origin]], dials: list[tuple[str, int]]
) -> None:
    # The name first resolves to an allowed address, then to another one: the fetch
    # connects to the address it checked, and a later connection checks the new answer.
    good = await origins("127.0.0.1")
    evil = await origins("127.0.0.3", port=good.port)

    @good.route("/img.png")
    async def image(exchange: Exchange) -> None:
        await exchange.send(body=PNG, headers={"Content-Type": "image/png"})

    resolver = FakeResolver({"rebind.example": [["127.0.0.1"], ["127.0.0.3"]]})
    url = good.url("/img.png", host="rebind.example")
    first = SafeFetcher(policy(), resolver=resolver)
    try:
        fetched = await first.fetch(url)
    finally:
        await first.aclose()
    assert fetched.data == PNG
    assert dials == [("127.0.0.1", good.port)]

    second = SafeFetcher(policy(), resolver=resolver)
    try:
        error = await fetch_error(second, url, Forbidden)
    finally:
        await second.aclose()
    assert "127.0.0.3 is loopback" in error.detail
    assert resolver.calls == ["rebind.example", "rebind.example"]
    assert dials == [("127.0.0.1", good.port)]
    assert evil.seen == []


async def test_the_fetcher_keeps_serving_after_refusals_and_timeouts(origin: Origin) -> None:
    @origin.route("/stall")
    async def stall(exchange: Exchange) -> None:
        await never()

    resolver = FakeResolver({"evil.example": [["10.0.0.5"]], "good.example": [["127.0.0.1"]]})
    fetcher = SafeFetcher(policy(read_timeout=0.1, per_host=1, concurrency=1), resolver=resolver)
    try:
        for _ in range(2):
            await fetch_error(fetcher, "http://evil.example/img.png", Forbidden)
            await fetch_error(fetcher, origin.url("/stall"), UpstreamTimeout)
            fetched = await fetcher.fetch(origin.url("/img.png", host="good.example"))
            assert fetched.data == PNG
    finally:
        await fetcher.aclose()


async def test_an_allowed_ipv6_literal_is_fetched(
    origins: Callable[..., Awaitable[Origin]], dials: list[tuple[str, int]]
) -> None:
    try:
        server = await origins("::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")

    @server.route("/img.png")
    async def image(exchange: Exchange) -> None:
        await exchange.send(body=PNG)

    fetcher = SafeFetcher(policy(allow_networks=("::1/128",)))
    try:
        fetched = await fetcher.fetch(f"http://[::1]:{server.port}/img.png")
    finally:
        await fetcher.aclose()
    assert fetched.data == PNG
    assert dials == [("::1", server.port)]


# --- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/img.png",
        "file:///etc/passwd",
        "http://user:secret@127.0.0.1/img.png",
        "http://:80/img.png",
        "http://127.0.0.1:99999/",
        "not a url",
        "",
    ],
)
async def test_bad_urls_are_invalid_input(url: str) -> None:
    fetcher = SafeFetcher(policy())
    try:
        error = await fetch_error(fetcher, url, InvalidInput)
    finally:
        await fetcher.aclose()
    assert error.reason == "bad_source_url"


async def test_a_redirect_to_another_scheme_is_refused(origin: Origin) -> None:
    @origin.route("/to-file")
    async def to_file(exchange: Exchange) -> None:
        await exchange.send(302, headers={"Location": "file:///etc/passwd"})

    fetcher = SafeFetcher(policy())
    try:
        error = await fetch_error(fetcher, origin.url("/to-file"), Forbidden)
    finally:
        await fetcher.aclose()
    assert "file" in error.detail


async def test_redirect_cap(origin: Origin) -> None:
    @origin.route("/loop")
    async def loop(exchange: Exchange) -> None:
        await exchange.send(302, headers={"Location": f"/loop?n={len(origin.seen)}"})

    fetcher = SafeFetcher(policy(max_redirects=3))
    try:
        error = await fetch_error(fetcher, origin.url("/loop"), UpstreamFailed)
    finally:
        await fetcher.aclose()
    assert error.reason == "too_many_redirects"
    assert len(origin.seen) == 4  # the first request and three redirects followed


# --- upstream answers -------------------------------------------------------------------------


async def test_origin_4xx_is_source_not_found(origin: Origin) -> None:
    """thumbor answers 404 when the origin does not give the image (issue 12)."""
    metrics = Metrics()
    fetcher = SafeFetcher(policy(), metrics=metrics)
    try:
        error = await fetch_error(fetcher, origin.url("/missing"), NotFound)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_not_found"
    assert "404" in error.detail
    assert metrics.fetches.labels("failed")._value.get() == 1


async def test_connection_refused_is_upstream_error(
    origins: Callable[..., Awaitable[Origin]],
) -> None:
    closed = await origins()
    url = closed.url("/img.png")
    await closed.stop()
    fetcher = SafeFetcher(policy())
    try:
        error = await fetch_error(fetcher, url, UpstreamFailed)
    finally:
        await fetcher.aclose()
    assert error.reason == "upstream_error"


async def test_a_garbage_answer_is_upstream_error(origin: Origin) -> None:
    @origin.route("/garbage")
    async def garbage(exchange: Exchange) -> None:
        exchange.writer.write(b"\x00\x01 this is not HTTP\r\n\r\n")
        await exchange.writer.drain()

    fetcher = SafeFetcher(policy())
    try:
        error = await fetch_error(fetcher, origin.url("/garbage"), UpstreamFailed)
    finally:
        await fetcher.aclose()
    assert error.reason == "upstream_error"


# --- content ---------------------------------------------------------------------------------


async def test_a_body_that_is_not_an_image_is_refused(origin: Origin) -> None:
    @origin.route("/fake.png")
    async def fake(exchange: Exchange) -> None:
        await exchange.send(body=HTML, headers={"Content-Type": "image/png"})

    metrics = Metrics()
    fetcher = SafeFetcher(policy(), metrics=metrics)
    try:
        error = await fetch_error(fetcher, origin.url("/fake.png"), UnsupportedMedia)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_not_image"
    assert metrics.fetch_refusals.labels("source_not_image")._value.get() == 1


async def test_an_image_is_known_by_its_bytes_not_its_content_type(origin: Origin) -> None:
    @origin.route("/mislabelled")
    async def mislabelled(exchange: Exchange) -> None:
        await exchange.send(body=PNG, headers={"Content-Type": "text/plain"})

    fetcher = SafeFetcher(policy())
    try:
        fetched = await fetcher.fetch(origin.url("/mislabelled"))
    finally:
        await fetcher.aclose()
    assert fetched.kind == "png"


async def test_a_large_non_image_is_refused_after_its_first_bytes(origin: Origin) -> None:
    sent = 0

    @origin.route("/big.bin")
    async def big(exchange: Exchange) -> None:
        nonlocal sent
        await exchange.head(200, {"Content-Type": "image/jpeg"})
        for _ in range(1024):  # 64 MiB if read to the end; the fetcher stops at 16 KiB
            exchange.writer.write(b"x" * 65536)
            await exchange.writer.drain()
            sent += 65536

    fetcher = SafeFetcher(policy(max_bytes=128 * 1024 * 1024))
    try:
        error = await fetch_error(fetcher, origin.url("/big.bin"), UnsupportedMedia)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_not_image"
    assert sent < 32 * 1024 * 1024  # what socket buffers absorbed, not the whole body


async def test_pages_accept_html_and_images(origin: Origin) -> None:
    @origin.route("/data.json")
    async def data(exchange: Exchange) -> None:
        await exchange.send(body=b'{"a": 1}', headers={"Content-Type": "application/json"})

    @origin.route("/unlabelled")
    async def unlabelled(exchange: Exchange) -> None:
        await exchange.send(body=HTML)

    fetcher = SafeFetcher(policy())
    try:
        page = await fetcher.fetch(origin.url("/page"), want="page")
        sniffed = await fetcher.fetch(origin.url("/unlabelled"), want="page")
        image = await fetcher.fetch(origin.url("/img.png"), want="page")
        error = await fetch_error(fetcher, origin.url("/data.json"), UnsupportedMedia, want="page")
    finally:
        await fetcher.aclose()
    assert (page.kind, page.data) == ("html", HTML)
    assert sniffed.kind == "html"
    assert image.kind == "png"
    assert error.reason == "source_not_page"
    assert "text/html" in origin.seen[0].headers["accept"]


# --- byte cap --------------------------------------------------------------------------------


async def test_a_declared_length_over_the_cap_is_refused_before_reading(origin: Origin) -> None:
    @origin.route("/huge")
    async def huge(exchange: Exchange) -> None:
        await exchange.send(body=PNG, headers={"Content-Type": "image/png"}, length=10**9)
        await never()  # would stall a fetcher that waited for the body

    fetcher = SafeFetcher(policy(max_bytes=64 * 1024))
    started = time.monotonic()
    try:
        error = await fetch_error(fetcher, origin.url("/huge"), TooLarge)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_too_large"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("framing", ["close-delimited", "chunked"])
async def test_the_cap_holds_while_streaming(origin: Origin, framing: str) -> None:
    sent = 0

    @origin.route("/stream")
    async def stream(exchange: Exchange) -> None:
        nonlocal sent
        chunked = framing == "chunked"
        headers = {"Content-Type": "image/png"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        await exchange.head(200, headers)  # no Content-Length: nothing to check up front
        for index in range(2000):
            part = PNG if index == 0 else b"\0" * 8192
            exchange.writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await exchange.writer.drain()
            sent += len(part)

    fetcher = SafeFetcher(policy(max_bytes=64 * 1024))
    try:
        error = await fetch_error(fetcher, origin.url("/stream"), TooLarge)
    finally:
        await fetcher.aclose()
    assert error.reason == "source_too_large"
    assert sent < 2000 * 8192  # the fetcher hung up long before the end


async def test_a_short_declared_length_is_all_that_is_read(origin: Origin) -> None:
    @origin.route("/liar")
    async def liar(exchange: Exchange) -> None:
        await exchange.send(body=PNG + b"\0" * 200_000, headers={}, length=len(PNG))

    fetcher = SafeFetcher(policy(max_bytes=64 * 1024))
    try:
        fetched = await fetcher.fetch(origin.url("/liar"))
    finally:
        await fetcher.aclose()
    assert fetched.data == PNG


async def test_a_body_just_at_the_cap_is_accepted(origin: Origin) -> None:
    body = PNG + b"\0" * (4096 - len(PNG))

    @origin.route("/exact")
    async def exact(exchange: Exchange) -> None:
        await exchange.send(body=body)

    fetcher = SafeFetcher(policy(max_bytes=4096))
    try:
        fetched = await fetcher.fetch(origin.url("/exact"))
    finally:
        await fetcher.aclose()
    assert len(fetched.data) == 4096


async def test_a_gzip_bomb_is_stopped_at_the_cap(origin: Origin) -> None:
    bomb = gzip.compress(PNG + b"\0" * (16 * 1024 * 1024))

    @origin.route("/bomb.png")
    async def serve_bomb(exchange: Exchange) -> None:
        await exchange.send(body=bomb, headers={"Content-Encoding": "gzip"})

    @origin.route("/small.png")
    async def serve_small(exchange: Exchange) -> None:
        await exchange.send(body=gzip.compress(PNG), headers={"Content-Encoding": "gzip"})

    @origin.route("/brotli.png")
    async def serve_brotli(exchange: Exchange) -> None:
        await exchange.send(body=PNG, headers={"Content-Encoding": "br"})

    fetcher = SafeFetcher(policy(max_bytes=1024 * 1024))
    try:
        error = await fetch_error(fetcher, origin.url("/bomb.png"), TooLarge)
        small = await fetcher.fetch(origin.url("/small.png"))
        unsupported = await fetch_error(fetcher, origin.url("/brotli.png"), UpstreamFailed)
    finally:
        await fetcher.aclose()
    assert len(bomb) < 1024 * 1024  # under the cap on the wire, 16 MiB inflated
    assert error.reason == "source_too_large"
    assert small.data == PNG
    assert unsupported.reason == "upstream_error"


# --- timeouts --------------------------------------------------------------------------------


async def test_a_stalled_server_hits_the_read_timeout(origin: Origin) -> None:
    @origin.route("/stall")
    async def stall(exchange: Exchange) -> None:
        await exchange.head(200, {"Content-Length": "60000"})
        exchange.writer.write(PNG)
        await never()

    metrics = Metrics()
    fetcher = SafeFetcher(policy(read_timeout=0.3), metrics=metrics)
    started = time.monotonic()
    try:
        error = await fetch_error(fetcher, origin.url("/stall"), UpstreamTimeout)
    finally:
        await fetcher.aclose()
    assert error.reason == "upstream_timeout"
    assert 0.25 < time.monotonic() - started < 2
    assert metrics.fetches.labels("timeout")._value.get() == 1


async def test_a_dripping_server_hits_the_total_deadline(origin: Origin) -> None:
    @origin.route("/drip")
    async def drip(exchange: Exchange) -> None:
        await exchange.head(200, {"Content-Length": "60000"})
        exchange.writer.write(PNG)
        for _ in range(100):  # a byte every 50 ms never trips the read timeout
            await asyncio.sleep(0.05)
            exchange.writer.write(b"\0")
            await exchange.writer.drain()

    fetcher = SafeFetcher(policy(read_timeout=1.0, total_timeout=0.3))
    started = time.monotonic()
    try:
        error = await fetch_error(fetcher, origin.url("/drip"), UpstreamTimeout)
    finally:
        await fetcher.aclose()
    assert "0.3s" in error.detail
    assert 0.25 < time.monotonic() - started < 1.2


async def test_the_deadline_covers_redirect_hops(origin: Origin) -> None:
    @origin.route("/slow-hop")
    async def slow_hop(exchange: Exchange) -> None:
        await asyncio.sleep(0.1)  # under the read timeout, each hop alone is fine
        await exchange.send(302, headers={"Location": "/slow-hop"})

    fetcher = SafeFetcher(policy(read_timeout=1.0, total_timeout=0.3, max_redirects=10))
    try:
        await fetch_error(fetcher, origin.url("/slow-hop"), UpstreamTimeout)
    finally:
        await fetcher.aclose()
    assert 2 <= len(origin.seen) <= 4


# --- limits ----------------------------------------------------------------------------------


async def test_per_host_concurrency_is_respected(origin: Origin) -> None:
    @origin.route("/held")
    async def held(exchange: Exchange) -> None:
        await asyncio.sleep(0.1)
        await exchange.send(body=PNG)

    fetcher = SafeFetcher(policy(per_host=2, concurrency=10))
    try:
        results = await asyncio.gather(*(fetcher.fetch(origin.url("/held")) for _ in range(6)))
    finally:
        await fetcher.aclose()
    assert all(result.data == PNG for result in results)
    assert len(origin.seen) == 6
    assert origin.peak == 2


async def test_global_concurrency_spans_hosts(
    origins: Callable[..., Awaitable[Origin]],
) -> None:
    servers = [await origins("127.0.0.1"), await origins("127.0.0.2")]
    active = 0
    peak = 0

    async def held(exchange: Exchange) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.1)
        active -= 1
        await exchange.send(body=PNG)

    for server in servers:
        server.routes["/held"] = held
    fetcher = SafeFetcher(policy(allow_networks=("127.0.0.0/30",), per_host=4, concurrency=3))
    try:
        urls = [server.url("/held") for server in servers for _ in range(4)]
        await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    finally:
        await fetcher.aclose()
    assert peak == 3


async def test_the_rate_limit_spaces_requests_to_a_host(origin: Origin) -> None:
    fetcher = SafeFetcher(policy(per_host_rate_per_minute=600))  # one every 100 ms
    try:
        await asyncio.gather(*(fetcher.fetch(origin.url("/img.png")) for _ in range(4)))
    finally:
        await fetcher.aclose()
    arrivals = sorted(seen.at for seen in origin.seen)
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == 3
    assert all(gap >= 0.08 for gap in gaps), gaps


async def test_waiting_for_the_rate_limit_is_bounded_by_the_deadline(origin: Origin) -> None:
    fetcher = SafeFetcher(policy(per_host_rate_per_minute=6, total_timeout=0.3))  # 10 s apart
    try:
        await fetcher.fetch(origin.url("/img.png"))
        started = time.monotonic()
        await fetch_error(fetcher, origin.url("/img.png"), UpstreamTimeout)
    finally:
        await fetcher.aclose()
    assert time.monotonic() - started < 1
    assert len(origin.seen) == 1


# --- TLS: the name is verified although the IP is dialed --------------------------------------


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
             "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        skip_or_fail(f"openssl cannot make a test certificate: {exc}")
    return cert, key


@pytest.mark.parametrize(("cert_name", "ok"), [("media.test", True), ("other.test", False)])
async def test_tls_verifies_the_name_while_dialing_the_vetted_address(
    tmp_path: Path, dials: list[tuple[str, int]], cert_name: str, ok: bool
) -> None:
    cert, key = _self_signed(tmp_path, cert_name)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    sni: list[str | None] = []

    def remember_sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        sni.append(name)

    server_context.sni_callback = remember_sni

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len(PNG)}\r\n\r\n"
            writer.write(head.encode() + PNG)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    resolver = FakeResolver({"media.test": [["127.0.0.1"]]})
    fetcher = SafeFetcher(policy(), resolver=resolver, ssl_context=client_context)
    url = f"https://media.test:{port}/img.png"
    try:
        if ok:
            fetched = await fetcher.fetch(url)
            assert fetched.data == PNG
        else:
            error = await fetch_error(fetcher, url, UpstreamFailed)
            assert error.reason == "upstream_error"
    finally:
        await fetcher.aclose()
        server.close()
        await server.wait_closed()
    assert dials == [("127.0.0.1", port)]
    assert sni == ["media.test"]
