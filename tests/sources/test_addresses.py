"""Which addresses are public, how odd IPv4 spellings read, and the host allow/block lists."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import idna
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.sources.addresses import (
    parse_ip_literal,
    parse_ipv4_loose,
    refusal_reason,
)
from openrouter_image_mcp.sources.policy import HostPattern, HostPolicy, normalize_host
from tests.sources.fakes import ipv6_forms

REFUSED_V4 = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
]  # fmt: skip
REFUSED_V6 = [
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32",
    "64:ff9b:1::/48", "5f00::/16",
]  # fmt: skip
EXTRA_REFUSED = [ipaddress.ip_network(network) for network in REFUSED_V4 + REFUSED_V6]


def _is_plainly_public(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not any(address in network for network in EXTRA_REFUSED)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.0.0.5", "172.31.255.255", "192.168.1.1", "100.64.0.1",
        "169.254.169.254", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "198.18.0.1", "192.0.2.10", "::1", "::", "fd00::1", "fe80::1",
        "fec0::1", "ff02::1", "2001:db8::1", "::7f00:1", "::ffff:127.0.0.1",
        "64:ff9b::a00:5", "64:ff9b:1::808:808", "2002:a9fe:a9fe::1", "2001:0:4136:e378::",
        "::ffff:0:a9fe:a9fe", "5f00::1",
    ],
)  # fmt: skip
def test_refused_addresses(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
     "2002:808:808::1"],
)  # fmt: skip
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_reason_names_the_embedded_ipv4() -> None:
    reason = refusal_reason(ipaddress.ip_address("::ffff:169.254.169.254"))
    assert reason == "an IPv6 form of 169.254.169.254, a link-local (cloud metadata) address"


@given(st.sampled_from(REFUSED_V4 + REFUSED_V6).flatmap(lambda net: st.ip_addresses(network=net)))
def test_every_address_in_a_refused_network_is_refused(address: ipaddress._BaseAddress) -> None:
    assert refusal_reason(address) is not None


@given(st.sampled_from(REFUSED_V4).flatmap(lambda net: st.ip_addresses(network=net)))
def test_every_ipv6_form_of_a_refused_ipv4_is_refused(v4: ipaddress.IPv4Address) -> None:
    for form, v6 in ipv6_forms(v4).items():
        assert refusal_reason(v6) is not None, form


@given(st.ip_addresses(v=4).filter(_is_plainly_public))
def test_public_ipv4_and_its_ipv6_forms_are_allowed(v4: ipaddress.IPv4Address) -> None:
    assert refusal_reason(v4) is None
    for form, v6 in ipv6_forms(v4).items():
        assert refusal_reason(v6) is None, form


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("017700000001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_odd_ip_spellings_are_read_by_value(spelling: str, address: str) -> None:
    assert parse_ip_literal(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "text", ["example.com", "256.1.1.1", "1.2.3.4.5", "08.1.1.1", "0x", "", "1.2.3.256",
             "1.16777216", "1..2", "1.2.3.4."],
)  # fmt: skip
def test_names_and_out_of_range_numbers_are_not_ip_literals(text: str) -> None:
    assert parse_ipv4_loose(text) is None


@st.composite
def ipv4_spellings(draw: st.DrawFn) -> tuple[int, str]:
    """A 32-bit value written as 1-4 inet_aton parts, each in decimal, octal or hex."""
    value = draw(st.integers(0, 2**32 - 1))
    count = draw(st.integers(1, 4))
    leading = [(value >> (8 * (3 - index))) & 0xFF for index in range(count - 1)]
    parts = [*leading, value & ((1 << (8 * (5 - count))) - 1)]
    spelled = [draw(st.sampled_from(["{}", "0{:o}", "0x{:x}", "0X{:X}"])) for _ in parts]
    return value, ".".join(form.format(part) for form, part in zip(spelled, parts, strict=True))


@given(ipv4_spellings())
def test_loose_ipv4_parsing_agrees_with_inet_aton(case: tuple[int, str]) -> None:
    value, spelling = case
    assert parse_ipv4_loose(spelling) == ipaddress.IPv4Address(value)
    assert socket.inet_aton(spelling) == value.to_bytes(4, "big")


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("Example.COM", "example.com", True),
        ("example.com.", "example.com", True),
        ("example.com", "www.example.com", False),
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "badexample.com", False),
        ("[::1]", "::1", True),
        ("0x7f.1", "127.0.0.1", True),
        # IDN names match in either spelling, whichever the pattern uses.
        ("bücher.example", "xn--bcher-kva.example", True),
        ("BÜCHER.Example.", "xn--bcher-kva.example", True),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", True),
        ("*.bücher.example", "img.xn--bcher-kva.example", True),
        ("*.xn--bcher-kva.example", "xn--bcher-kva.example", False),
        ("bücher.example", "bucher.example", False),
        # An address matches its IPv4-mapped spelling (the same destination), nothing else.
        ("93.184.216.34", "::ffff:5db8:d822", True),
        ("::ffff:93.184.216.34", "93.184.216.34", True),
        ("[::ffff:5db8:d822]", "::ffff:5db8:d822", True),
        ("93.184.216.34", "64:ff9b::5db8:d822", False),
        ("93.184.216.34", "93.184.216.35", False),
    ],
)
def test_host_patterns(pattern: str, host: str, matches: bool) -> None:
    assert HostPattern.parse(pattern).matches(host) is matches


def _refused(check: Callable[[], None]) -> ToolFailure:
    with pytest.raises(ToolFailure) as failure:
        check()
    assert failure.value.code == ErrorCode.BLOCKED_HOST
    return failure.value


def test_allow_list_admits_only_listed_hosts_and_lets_them_be_private() -> None:
    policy = HostPolicy(allowed=(HostPattern.parse("*.corp.test"),))
    policy.check_host("img.corp.test")
    policy.check_addresses("img.corp.test", [ipaddress.ip_address("10.0.0.5")])
    refusal = _refused(lambda: policy.check_host("example.com"))
    assert "not in this server's allow list (IMAGE_MCP_ALLOWED_HOSTS)" in refusal.message


def test_block_list_wins_over_allow_list_and_applies_to_resolved_addresses() -> None:
    policy = HostPolicy(
        allowed=(HostPattern.parse("*.corp.test"),),
        blocked=(HostPattern.parse("vault.corp.test"), HostPattern.parse("10.9.9.9")),
    )
    assert "block list" in _refused(lambda: policy.check_host("vault.corp.test")).message
    addresses = [ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("10.9.9.9")]
    refusal = _refused(lambda: policy.check_addresses("img.corp.test", addresses))
    assert "resolves to 10.9.9.9, which is on this server's block list" in refusal.message


def test_any_refused_address_among_several_refuses_the_host() -> None:
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]
    with pytest.raises(ToolFailure) as failure:
        HostPolicy().check_addresses("mixed.test", addresses)
    assert failure.value.code == ErrorCode.BLOCKED_HOST
    assert "resolves to 10.0.0.5, which is a private address" in failure.value.message
    assert "IMAGE_MCP_ALLOWED_HOSTS" in failure.value.message


@pytest.mark.parametrize(
    ("spelling", "normalized"),
    [
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.EXAMPLE", "xn--bcher-kva.example"),
        ("bücher\u3002example", "xn--bcher-kva.example"),  # ideographic full stop
        ("XN--BCHER-KVA.example.", "xn--bcher-kva.example"),
        ("[bücher.example]", "xn--bcher-kva.example"),
        ("\u24d4xample.com", "example.com"),  # circled e: UTS #46 maps it, as browsers do
        ("ex\u200bample.com", "example.com"),  # zero-width space: ignored by the mapping
        ("\uff11\uff12\uff17.0.0.1", "127.0.0.1"),  # full-width digits: an address after all
        ("[::FFFF:127.0.0.1]", "::ffff:7f00:1"),
    ],
)
def test_hosts_normalize_to_one_ascii_spelling(spelling: str, normalized: str) -> None:
    assert normalize_host(spelling) == normalized


@pytest.mark.parametrize("spelling", ["\u202eevil.com", "a..bü", "ü" * 64 + ".com", "my_ü.com"])
def test_names_idna_cannot_encode_are_refused(spelling: str) -> None:
    with pytest.raises(idna.IDNAError):
        normalize_host(spelling)


def test_a_pattern_idna_cannot_encode_is_kept_as_written() -> None:
    assert HostPattern.parse("My_Ü.com").host == "my_ü.com"  # no URL host can reach it


_SOME_PRIVATE = HostPattern.parse("*.corp.test")


@given(st.ip_addresses(v=4), st.sampled_from(["mapped", "translated", "nat64", "6to4", "teredo"]))
def test_a_blocked_ipv4_blocks_every_ipv6_form_of_it(v4: ipaddress.IPv4Address, form: str) -> None:
    v6 = ipv6_forms(v4)[form]
    for policy in (
        HostPolicy(blocked=(HostPattern.parse(str(v4)),)),
        HostPolicy(allowed=(_SOME_PRIVATE,), blocked=(HostPattern.parse(str(v4)),)),
    ):
        refusal = _refused(lambda p=policy: p.check_addresses("img.corp.test", [v6]))
        assert f"an IPv6 form of {v4}, which is on this server's block list" in refusal.message
        refusal = _refused(lambda p=policy: p.check_addresses(str(v6), [v6]))
        assert refusal.message.startswith(f"{v6} is an IPv6 form of {v4}")


@given(st.ip_addresses(v=4).filter(lambda v4: int(v4) > 1))
def test_a_blocked_ipv4_blocks_its_ipv4_compatible_form_inside_an_allow_list(
    v4: ipaddress.IPv4Address,
) -> None:
    compatible = ipaddress.IPv6Address(int(v4))  # ::a.b.c.d, refused anyway without a list
    policy = HostPolicy(allowed=(_SOME_PRIVATE,), blocked=(HostPattern.parse(str(v4)),))
    refusal = _refused(lambda: policy.check_addresses("img.corp.test", [compatible]))
    assert f"an IPv6 form of {v4}" in refusal.message


@given(st.ip_addresses(v=4), st.sampled_from(["mapped", "translated", "nat64", "6to4", "teredo"]))
def test_ipv6_forms_of_other_addresses_pass_a_block_list(
    v4: ipaddress.IPv4Address, form: str
) -> None:
    other = ipaddress.IPv4Address((int(v4) + 1) % 2**32)
    v6 = ipv6_forms(v4)[form]
    assume(v6.teredo is None or other not in v6.teredo)  # blocking the Teredo server blocks it
    policy = HostPolicy(allowed=(_SOME_PRIVATE,), blocked=(HostPattern.parse(str(other)),))
    policy.check_addresses("img.corp.test", [v6])
