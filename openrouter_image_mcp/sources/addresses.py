"""Which IP addresses a fetched URL may connect to, and how IP literals in hosts are spelled.

An address is public when it is `is_global` and outside the extra refused ranges below (the
stdlib's `is_global` lets multicast, site-local and some special-purpose ranges through).
IPv6 forms that carry an IPv4 address (mapped, translated, NAT64, 6to4, Teredo) are judged
by that IPv4.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address

# Checked in order, so the more specific ranges come first where they overlap.
_REFUSED_RANGES: tuple[tuple[IPv4Network | IPv6Network, str], ...] = tuple(
    (ip_network(network), label)
    for network, label in (
        ("0.0.0.0/8", "a 'this network'"),
        ("10.0.0.0/8", "a private"),
        ("100.64.0.0/10", "a carrier-grade NAT"),
        ("127.0.0.0/8", "a loopback"),
        ("169.254.0.0/16", "a link-local (cloud metadata)"),
        ("172.16.0.0/12", "a private"),
        ("192.0.0.0/24", "an IETF protocol"),
        ("192.0.2.0/24", "a documentation"),
        ("192.88.99.0/24", "a 6to4 relay"),
        ("192.168.0.0/16", "a private"),
        ("198.18.0.0/15", "a benchmarking"),
        ("198.51.100.0/24", "a documentation"),
        ("203.0.113.0/24", "a documentation"),
        ("224.0.0.0/4", "a multicast"),
        ("255.255.255.255/32", "a broadcast"),
        ("240.0.0.0/4", "a reserved"),
        ("::/128", "an unspecified"),
        ("::1/128", "a loopback"),
        ("::/96", "an IPv4-compatible (deprecated)"),
        # Local-use NAT64: where the IPv4 sits inside it is the operator's choice, so it
        # cannot be judged by an embedded address.
        ("64:ff9b:1::/48", "a local-use NAT64"),
        ("100::/64", "a discard-only"),
        ("5f00::/16", "a segment-routing (not global)"),
        ("2001:db8::/32", "a documentation"),
        ("3fff::/20", "a documentation"),
        ("fc00::/7", "a unique-local (private)"),
        ("fe80::/10", "a link-local"),
        ("fec0::/10", "a site-local"),
        ("ff00::/8", "a multicast"),
    )
)

_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_TRANSLATED = IPv6Network("::ffff:0:0:0/96")  # SIIT (RFC 6145)
_IPV4_COMPATIBLE = IPv6Network("::/96")

_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def refusal_reason(address: IPAddress) -> str | None:
    """Why the server must not connect to `address`, as "a <kind> address"; None if public."""
    if isinstance(address, IPv6Address) and (embedded := embedded_ipv4(address)):
        for inner in embedded:
            if reason := refusal_reason(inner):
                return f"an IPv6 form of {inner}, {reason}"
        return None
    for network, label in _REFUSED_RANGES:
        if address in network:  # never true across IP versions
            return f"{label} address"
    return None if address.is_global else "a non-public address"


def destination(address: IPAddress) -> IPAddress:
    """The address a connection really reaches: an IPv4-mapped IPv6 address is its IPv4."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def carried_ipv4(address: IPAddress) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses `address` is or embeds (empty for an IPv6 address carrying none),
    counting the deprecated IPv4-compatible form (`::a.b.c.d`), which old tunnels still route."""
    if isinstance(address, IPv4Address):
        return (address,)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1
        return (IPv4Address(int(address)),)
    return embedded_ipv4(address)


def embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address stands for (empty when it carries none)."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return (IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    return ()


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host spells directly, or None when it is a name.

    Accepts the odd IPv4 spellings resolvers honour (inet_aton rules: `2130706433`,
    `0177.0.0.1`, `0x7f.1`, `127.1`), so they are judged by value, not treated as names.
    """
    try:
        return ip_address(host)
    except ValueError:
        return parse_ipv4_loose(host)


def parse_ipv4_loose(text: str) -> IPv4Address | None:
    """Parse IPv4 the way inet_aton does: 1-4 parts, decimal, octal (0...) or hex (0x...).

    The last part fills all the bytes the earlier parts leave (`10.1` is 10.0.0.1).
    """
    parts = text.split(".")
    if len(parts) > 4 or not all(_IPV4_PART.fullmatch(part) for part in parts):
        return None
    *leading, last = [_part_value(part) for part in parts]
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return IPv4Address(number)


def _part_value(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part, 16)
    return int(part, 8) if part.startswith("0") else int(part)
