"""The network backend that vets every address right before dialing it.

httpcore calls `connect_tcp` with the host name from the URL. Here the name is resolved
once, each answer is checked, and only a checked address is dialed, as an IP literal:
there is no second lookup that DNS rebinding could answer differently. TLS still runs
against the name (httpcore passes it as `server_hostname` to `start_tls`), and the Host
header comes from the URL, so certificates and virtual hosts work as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import httpcore

from confab.core.errors import Forbidden
from confab.media.fetch.addresses import (
    IPAddress,
    IPNetwork,
    PortRange,
    check_address,
    check_port,
    parse_address,
)
from confab.media.fetch.resolver import Resolver


class VettingBackend(httpcore.AsyncNetworkBackend):
    """Resolves with `resolver`, refuses forbidden ports and addresses, dials the vetted
    ones. Every hop (redirects included) connects through here."""

    def __init__(
        self,
        resolver: Resolver,
        allow: Sequence[IPNetwork],
        inner: httpcore.AsyncNetworkBackend | None = None,
        ports: Sequence[PortRange] = (),
    ) -> None:
        self._resolver = resolver
        self._allow = tuple(allow)
        self._ports = tuple(ports)
        self._inner = inner or httpcore.AnyIOBackend()

    async def vet(self, host: str, port: int, timeout: float | None) -> list[str]:
        """The addresses of `host` that may be dialed; Forbidden if there are none.

        A name with some forbidden answers is narrowed to the allowed ones: only those
        are ever dialed, so the forbidden ones do no harm. The port is checked first, so
        a forbidden one costs no name lookup.
        """
        check_port(port, self._ports)
        literal = parse_address(host)
        if literal is not None:
            candidates: list[IPAddress] = [literal]
        else:
            try:
                async with asyncio.timeout(timeout):
                    answers = await self._resolver.resolve(host, port)
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
            candidates = [address for text in answers if (address := parse_address(text))]
        vetted: list[str] = []
        refusal: Forbidden | None = None
        for address in candidates:
            try:
                check_address(address, self._allow)
            except Forbidden as exc:
                refusal = refusal or exc
                continue
            vetted.append(str(address))
        if not vetted:
            detail = refusal.detail if refusal else "no usable address"
            raise Forbidden(f"{host}: {detail}", code="source_forbidden")
        return vetted

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to a vetted address of `host` (tried in order)."""
        addresses = await self.vet(host, port, timeout)
        options = list(socket_options or ())
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._dial(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # vet() never returns an empty list
        raise failure

    async def _dial(
        self,
        address: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: list[httpcore.SOCKET_OPTION],
    ) -> httpcore.AsyncNetworkStream:
        # The one place a socket is opened: always to an IP literal that passed vet().
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: web sources are reached over TCP only."""
        raise Forbidden("unix sockets are not a web source", code="source_forbidden")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does (used by httpcore's connect retries)."""
        await self._inner.sleep(seconds)
