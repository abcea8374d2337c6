"""Name resolution for the fetcher, behind a Protocol so tests can inject answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Protocol

from confab.core.errors import NotFound, UpstreamFailed

# getaddrinfo answers that mean "no such name" (as opposed to a resolver that is down).
_NO_SUCH_NAME = frozenset(
    code
    for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
    if (code := getattr(socket, name, None)) is not None
)


def unresolvable(host: str) -> NotFound:
    """The error for a source host that has no address."""
    return NotFound(f"the host {host} cannot be found", code="source_unresolvable")


class Resolver(Protocol):
    """Turns a host name into the IP addresses (as text) it stands for."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """Every address of `host`, in preference order. NotFound (`source_unresolvable`)
        if it has none; UpstreamFailed if the resolver could not answer."""
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
        except UnicodeError:
            raise unresolvable(host) from None
        except socket.gaierror as exc:
            if exc.errno in _NO_SUCH_NAME:
                raise unresolvable(host) from None
            raise UpstreamFailed(
                f"the host {host} could not be looked up now ({exc.strerror})",
                code="upstream_error",
            ) from None
        addresses: list[str] = []
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise unresolvable(host)
        return addresses
