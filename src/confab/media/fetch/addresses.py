"""Which IP addresses a fetch may dial: everything public, nothing internal.

The check runs on the address that is about to be dialed (see `backend.VettingBackend`),
never on a name, so DNS tricks cannot move the connection somewhere unchecked. IPv6
forms that carry an IPv4 address (mapped, compatible, 6to4, NAT64) are judged by the
IPv4 address inside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Final

from confab.core.errors import Forbidden, InvalidInput

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Ordered: the first match names the reason, so narrow ranges come before wide ones.
_V4_RULES: Final[tuple[tuple[IPv4Network, str], ...]] = tuple(
    (IPv4Network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "unspecified"),  # "this network"; 0.0.0.0 dials the local host
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "cgnat"),  # shared address space; cloud metadata lives here too
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # incl. the 169.254.169.254 metadata service
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),  # deprecated 6to4 relay anycast
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmark"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V6_RULES: Final[tuple[tuple[IPv6Network, str], ...]] = tuple(
    (IPv6Network(cidr), reason)
    for cidr, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "reserved"),  # local-use NAT64: translates into private space
        ("100::/64", "reserved"),  # discard-only
        ("2001:db8::/32", "documentation"),
        ("2001::/23", "reserved"),  # IETF assignments: Teredo, benchmarking, ORCHID...
        ("3fff::/20", "documentation"),
        ("5f00::/16", "reserved"),  # SRv6 SIDs
        ("fc00::/7", "private"),  # unique local
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),  # deprecated site-local
        ("ff00::/8", "multicast"),
    )
)

_NAT64_WELL_KNOWN: Final = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE: Final = IPv6Network("::/96")
_GLOBAL_UNICAST: Final = IPv6Network("2000::/3")


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings as networks; a bad one is an InvalidInput naming it."""
    networks: list[IPNetwork] = []
    for cidr in cidrs:
        try:
            networks.append(ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise InvalidInput(f"bad network {cidr!r}: {exc}", code="bad_allow_network") from None
    return tuple(networks)


#: Ports any public host may be dialed on; others only when policy lists them.
DEFAULT_PORTS: Final = frozenset({80, 443})


PortRange = tuple[int, int]


def parse_ports(specs: Iterable[str | int]) -> tuple[PortRange, ...]:
    """Ports and inclusive ranges ("8080", "9000-9100") as (low, high) pairs."""
    ranges: list[PortRange] = []
    for spec in specs:
        text = str(spec).strip()
        low_text, dash, high_text = text.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if dash else low
        except ValueError:
            raise InvalidInput(f"bad port {text!r}", code="bad_allow_port") from None
        if not 0 < low <= high < 65536:
            raise InvalidInput(f"bad port range {text!r}", code="bad_allow_port")
        ranges.append((low, high))
    return tuple(ranges)


def check_port(port: int, allow: Sequence[PortRange] = ()) -> None:
    """Raise Forbidden(code="source_forbidden") unless `port` is 80, 443 or allowed.

    Applies to every address, allowed networks included: opening a network for a
    private deployment does not open its every service.
    """
    if port in DEFAULT_PORTS or any(low <= port <= high for low, high in allow):
        return
    raise Forbidden(
        f"port {port} is not allowed (80 and 443 are, and CONFAB_MEDIA_ALLOW_PORTS)",
        code="source_forbidden",
    )


def parse_address(text: str) -> IPAddress | None:
    """`text` as an IP address (brackets and IPv6 zone allowed), or None if it is a name."""
    literal = text.removeprefix("[").removesuffix("]")
    try:
        return ip_address(literal)
    except ValueError:
        return None


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is a transition form."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN or address in _IPV4_COMPATIBLE:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why `address` must not be dialed (e.g. "loopback"), or None if it is public."""
    if isinstance(address, IPv4Address):
        return _v4_reason(address)
    bare = IPv6Address(int(address))  # drop any zone id: ranges don't depend on it
    for network, reason in _V6_RULES:
        if bare in network:
            return reason
    inner = embedded_ipv4(bare)
    if inner is not None:
        inner_reason = _v4_reason(inner)
        return f"{inner_reason} (as IPv6)" if inner_reason else None
    if bare not in _GLOBAL_UNICAST:
        return "reserved"  # everything outside 2000::/3 is unassigned or special
    return None if bare.is_global else "reserved"


def is_allowed(address: IPAddress, allow: Sequence[IPNetwork]) -> bool:
    """Whether policy opens `address` explicitly (it, or the IPv4 it maps, is in `allow`)."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, IPv6Address):
        bare = IPv6Address(int(address))
        candidates = [bare]
        if bare.ipv4_mapped is not None:
            candidates.append(bare.ipv4_mapped)
    return any(
        candidate.version == network.version and candidate in network
        for candidate in candidates
        for network in allow
    )


def check_address(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> None:
    """Raise Forbidden(code="source_forbidden") unless `address` may be dialed."""
    if is_allowed(address, allow):
        return
    reason = forbidden_reason(address)
    if reason is not None:
        raise Forbidden(f"address {address} is {reason}", code="source_forbidden")


def _v4_reason(address: IPv4Address) -> str | None:
    for network, reason in _V4_RULES:
        if address in network:
            return reason
    return None if address.is_global else "reserved"
