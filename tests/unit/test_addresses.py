"""The address classifier: what the fetcher may dial, over IPv4 and IPv6 forms."""

from __future__ import annotations

from ipaddress import IPv6Address, ip_address

import pytest

from confab.core.errors import Forbidden, InvalidInput
from confab.media.fetch.addresses import (
    check_address,
    check_port,
    embedded_ipv4,
    forbidden_reason,
    is_allowed,
    parse_address,
    parse_networks,
    parse_ports,
)

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "cgnat"),
    ("100.100.100.200", "cgnat"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmark"),
    ("198.19.255.255", "benchmark"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456:789a::1", "private"),
    ("fec0::1", "private"),
    ("ff02::1", "multicast"),
    ("ff05::2", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001::1", "reserved"),  # Teredo
    ("2001:2::1", "reserved"),  # benchmarking
    ("100::1", "reserved"),  # discard-only
    ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64
    ("4000::1", "reserved"),  # outside global unicast
    ("::ffff:127.0.0.1", "loopback (as IPv6)"),
    ("::ffff:7f00:1", "loopback (as IPv6)"),
    ("::ffff:10.0.0.1", "private (as IPv6)"),
    ("::ffff:169.254.169.254", "link-local (as IPv6)"),
    ("::ffff:0.0.0.0", "unspecified (as IPv6)"),
    ("::127.0.0.1", "loopback (as IPv6)"),  # IPv4-compatible
    ("64:ff9b::7f00:1", "loopback (as IPv6)"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local (as IPv6)"),  # NAT64 of 169.254.169.254
    ("2002:7f00:1::1", "loopback (as IPv6)"),  # 6to4 of 127.0.0.1
    ("2002:c0a8:101::1", "private (as IPv6)"),  # 6to4 of 192.168.1.1
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "2606:4700:4700::1111",
    "2a00:1450:4001:82a::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_internal_addresses_are_refused_with_their_reason(text: str, reason: str) -> None:
    address = ip_address(text)
    assert forbidden_reason(address) == reason
    with pytest.raises(Forbidden) as caught:
        check_address(address)
    assert caught.value.reason == "source_forbidden"
    assert reason in caught.value.detail


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_are_allowed(text: str) -> None:
    address = ip_address(text)
    assert forbidden_reason(address) is None
    check_address(address)  # does not raise


def test_allow_networks_open_exactly_what_they_name() -> None:
    allow = parse_networks(["127.0.0.1/32", "10.1.0.0/16", "fd00::/8"])
    check_address(ip_address("127.0.0.1"), allow)
    check_address(ip_address("10.1.2.3"), allow)
    check_address(ip_address("fd00::5"), allow)
    # The same host written as an IPv4-mapped IPv6 address is the same destination.
    check_address(ip_address("::ffff:127.0.0.1"), allow)
    for outside in ("127.0.0.2", "10.2.0.1", "::1", "169.254.169.254", "fc00::1"):
        with pytest.raises(Forbidden):
            check_address(ip_address(outside), allow)


def test_nat64_form_is_not_opened_by_an_ipv4_allowance() -> None:
    # NAT64 translates on a gateway: 64:ff9b::7f00:1 is the gateway's loopback, not ours.
    allow = parse_networks(["127.0.0.1/32"])
    assert not is_allowed(ip_address("64:ff9b::7f00:1"), allow)


def test_bad_allow_network_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_networks(["10.0.0.0/33"])
    assert caught.value.reason == "bad_allow_network"
    assert "10.0.0.0/33" in caught.value.detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::1", "::1"), ("example.com", None)],
)
def test_parse_address_tells_literals_from_names(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == expected


def test_embedded_ipv4_of_transition_forms() -> None:
    assert str(embedded_ipv4(IPv6Address("::ffff:10.0.0.1"))) == "10.0.0.1"
    assert str(embedded_ipv4(IPv6Address("64:ff9b::7f00:1"))) == "127.0.0.1"
    assert str(embedded_ipv4(IPv6Address("2002:7f00:1::1"))) == "127.0.0.1"
    assert embedded_ipv4(IPv6Address("2606:4700::1")) is None


@pytest.mark.parametrize(
    ("port", "allow", "allowed"),
    [
        (80, (), True),
        (443, (), True),
        (8080, (), False),
        (22, (), False),
        (6379, (), False),
        (8080, ("8080",), True),
        (8081, ("8080",), False),
        (9050, ("9000-9100",), True),
        (9100, ("9000-9100",), True),
        (9101, ("9000-9100",), False),
        (22, ("8080", "9000-9100"), False),
    ],
)
def test_only_80_443_and_the_allowed_ports_are_dialed(
    port: int, allow: tuple[str, ...], allowed: bool
) -> None:
    ranges = parse_ports(allow)
    if allowed:
        check_port(port, ranges)
    else:
        with pytest.raises(Forbidden) as caught:
            check_port(port, ranges)
        assert caught.value.reason == "source_forbidden"
        assert f"port {port}" in caught.value.detail


@pytest.mark.parametrize("bad", ["0", "65536", "http", "9100-9000", "80-", "-1", ""])
def test_bad_ports_are_refused_at_start(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_ports([bad])
    assert caught.value.reason == "bad_allow_port"
