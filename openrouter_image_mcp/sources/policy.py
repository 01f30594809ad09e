"""The operator's rules for which hosts and addresses image URLs may reach.

Patterns (IMAGE_MCP_ALLOWED_HOSTS / IMAGE_MCP_BLOCKED_HOSTS) are a host name matched exactly
and case-insensitively, `*.suffix` for any subdomain of suffix (not suffix itself), or an IP
address. A blocked IP address also refuses every host that resolves to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import ErrorCode, ToolFailure
from ..settings import Settings
from .addresses import IPAddress, parse_ip_literal, refusal_reason

_ALLOW_HINT = "add the host to IMAGE_MCP_ALLOWED_HOSTS if this deployment should reach it"


@dataclass(frozen=True, slots=True)
class HostPattern:
    host: str
    subdomains_only: bool

    @classmethod
    def parse(cls, pattern: str) -> HostPattern:
        text = pattern.strip()
        if text.startswith("*."):
            return cls(normalize_host(text[2:]), subdomains_only=True)
        return cls(normalize_host(text), subdomains_only=False)

    def matches(self, host: str) -> bool:
        if self.subdomains_only:
            return host.endswith(f".{self.host}")
        return host == self.host


def normalize_host(host: str) -> str:
    """Lower-case, without brackets or a trailing dot; IP literals in canonical form."""
    name = host.strip().strip("[]").rstrip(".").lower()
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
            raise ToolFailure(
                ErrorCode.BLOCKED_HOST,
                f"{host} is on this server's block list (IMAGE_MCP_BLOCKED_HOSTS); "
                "use an image hosted elsewhere",
            )
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
            if any(pattern.matches(str(address)) for pattern in self.blocked):
                raise ToolFailure(
                    ErrorCode.BLOCKED_HOST,
                    f"{subject} on this server's block list (IMAGE_MCP_BLOCKED_HOSTS); "
                    "use an image hosted elsewhere",
                )
            # A host the operator listed may be private: that is what the allow list is for.
            if not self.allowed and (reason := refusal_reason(address)):
                raise ToolFailure(
                    ErrorCode.BLOCKED_HOST,
                    f"{subject} {reason}; this server does not fetch from such addresses; "
                    f"{_ALLOW_HINT}",
                )


def _patterns(entries: Iterable[str]) -> tuple[HostPattern, ...]:
    return tuple(HostPattern.parse(entry) for entry in entries if entry.strip())
