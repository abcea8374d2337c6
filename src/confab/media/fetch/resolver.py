"""Name resolution for the fetcher, behind a Protocol so tests can inject answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Protocol

from confab.core.errors import UpstreamFailed


class Resolver(Protocol):
    """Turns a host name into the IP addresses (as text) it stands for."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """Every address of `host`, in preference order; UpstreamFailed if it has none."""
        ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo, run off the event loop)."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """Every TCP address of `host`, without duplicates, in getaddrinfo's order."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise UpstreamFailed(f"cannot resolve {host}: {exc}", code="upstream_error") from None
        addresses: list[str] = []
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise UpstreamFailed(f"{host} has no IP address", code="upstream_error")
        return addresses
