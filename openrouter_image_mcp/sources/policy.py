"""The operator's rules for which hosts and addresses image URLs may reach.

Patterns (IMAGE_MCP_ALLOWED_HOSTS / IMAGE_MCP_BLOCKED_HOSTS) are a host name matched exactly
and case-insensitively, `*.suffix` for any subdomain of suffix (not suffix itself), or an IP
address. Names compare in their ASCII (punycode) form, so an IDN matches in either spelling.
An IP address matches its IPv4-mapped IPv6 spelling (the same destination); a blocked IPv4
address also refuses every IPv6 address that carries it (NAT64, 6to4, Teredo, SIIT), and every
host that resolves to any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import idna

from ..errors import ErrorCode, ToolFailure
from ..settings import Settings
from .addresses import IPAddress, carried_ipv4, destination, parse_ip_literal, refusal_reason

_ALLOW_HINT = "add the host to IMAGE_MCP_ALLOWED_HOSTS if this deployment should reach it"
_BLOCK_LIST = "on this server's block list (IMAGE_MCP_BLOCKED_HOSTS); use an image hosted elsewhere"


@dataclass(frozen=True, slots=True)
class HostPattern:
    host: str
    subdomains_only: bool = False
    address: IPAddress | None = None  # the destination, when the pattern is an IP address

    @classmethod
    def parse(cls, pattern: str) -> HostPattern:
        text = pattern.strip()
        if text.startswith("*."):
            return cls(_pattern_host(text[2:]), subdomains_only=True)
        host = _pattern_host(text)
        literal = parse_ip_literal(host)
        return cls(host, address=None if literal is None else destination(literal))

    def matches(self, host: str) -> bool:
        """Whether the (normalized) host name or IP literal `host` is what this names."""
        if self.address is not None:
            literal = parse_ip_literal(host)
            return literal is not None and destination(literal) == self.address
        if self.subdomains_only:
            return host.endswith(f".{self.host}")
        return host == self.host

    def carried_by(self, address: IPAddress) -> bool:
        """Whether `address` is this pattern's address or an IPv6 form carrying it."""
        return self.address is not None and (
            destination(address) == self.address or self.address in carried_ipv4(address)
        )


def normalize_host(host: str) -> str:
    """Lower-case ASCII without brackets or a trailing dot: IDN names in punycode (UTS #46
    mapping, as browsers do), IP literals in canonical form.

    Raises ValueError (idna.IDNAError) for a name IDNA cannot encode.
    """
    name = host.strip().strip("[]")
    if not name.isascii():
        name = idna.encode(name, uts46=True).decode("ascii")
    name = name.rstrip(".").lower()
    literal = parse_ip_literal(name)
    return name if literal is None else str(literal)


@dataclass(frozen=True, slots=True)
class HostPolicy:
    allowed: tuple[HostPattern, ...] = ()
    blocked: tuple[HostPattern, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPolicy:
        return cls(_patterns(settings.allowed_hosts), _patterns(settings.blocked_hosts))

    def check_host(self, host: str) -> None:
        """Refuse a (normalized) host by name, before anything is resolved."""
        if any(pattern.matches(host) for pattern in self.blocked):
            raise ToolFailure(ErrorCode.BLOCKED_HOST, f"{host} is {_BLOCK_LIST}")
        if self.allowed and not any(pattern.matches(host) for pattern in self.allowed):
            raise ToolFailure(
                ErrorCode.BLOCKED_HOST,
                f"{host} is not in this server's allow list (IMAGE_MCP_ALLOWED_HOSTS); use an "
                "image from an allowed host, or add this host to IMAGE_MCP_ALLOWED_HOSTS",
            )

    def check_addresses(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """Refuse unless every address `host` resolved to may be connected to."""
        for address in addresses:
            subject = (
                f"{host} is" if host == str(address) else f"{host} resolves to {address}, which is"
            )
            if blocking := next((p for p in self.blocked if p.carried_by(address)), None):
                if address != blocking.address:
                    subject = f"{subject} an IPv6 form of {blocking.address}, which is"
                raise ToolFailure(ErrorCode.BLOCKED_HOST, f"{subject} {_BLOCK_LIST}")
            # A host the operator listed may be private: that is what the allow list is for.
            if not self.allowed and (reason := refusal_reason(address)):
                raise ToolFailure(
                    ErrorCode.BLOCKED_HOST,
                    f"{subject} {reason}; this server does not fetch from such addresses; "
                    f"{_ALLOW_HINT}",
                )


def _pattern_host(text: str) -> str:
    try:
        return normalize_host(text)
    except ValueError:
        # No URL host can match it: hosts IDNA cannot encode are refused before any check.
        return text.strip().rstrip(".").lower()


def _patterns(entries: Iterable[str]) -> tuple[HostPattern, ...]:
    return tuple(HostPattern.parse(entry) for entry in entries if entry.strip())
