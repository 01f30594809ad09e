"""Download an image over HTTP(S) without letting the URL reach places it must not.

Every hop (the URL and each redirect) is checked the same way: http(s) only, no credentials,
the host lists, then the host is resolved once and every address checked. The request then
goes to a checked address (the URL's host replaced by the IP, the real name kept in the
`Host` header and, for https, in TLS SNI and the certificate check), so DNS cannot answer
differently between the check and the connection. Bodies are streamed under a byte cap and
all hops share one deadline.

Requests go straight to the transport, not through an HTTP client: redirects are this
module's to judge (a client builds the next request itself, and fails on `data:` targets),
and nothing (cookies above all) may carry over from one fetch to the next.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2

from .. import __version__
from ..errors import ErrorCode, ToolFailure, quote_remote
from ..settings import PROJECT_URL
from .addresses import IPAddress, parse_ip_literal
from .messages import too_large
from .models import Resolver
from .policy import HostPolicy, normalize_host

logger = logging.getLogger(__name__)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_REQUEST_HEADERS = {
    # Image hosts (CDNs, Wikimedia) refuse anonymous clients: say who fetches and where to ask.
    "User-Agent": f"openrouter-image-mcp/{__version__} (+{PROJECT_URL})",
    "Accept": "image/*",
    # Images are compressed already; asking for identity keeps the byte cap about real bytes
    # and rules out decompression bombs.
    "Accept-Encoding": "identity",
}


async def resolve_host(host: str, port: int) -> list[str]:
    """The default resolver: the event loop's getaddrinfo, addresses in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int
    timeout_s: float
    connect_timeout_s: float
    max_redirects: int


@dataclass(frozen=True, slots=True)
class Target:
    """One URL to request: `url` carries the normalized host, which checks and messages use."""

    url: httpx2.URL
    host: str
    literal: IPAddress | None

    @classmethod
    def parse(cls, url: str, *, redirected_from: str | None = None) -> Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise _invalid_url("has a malformed host or port") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _refused_scheme(quote_remote(scheme, 20), redirected_from)
        if "@" in parts.netloc:
            raise ToolFailure(
                ErrorCode.BLOCKED_HOST,
                "URLs with a user name or password are refused; use a URL without credentials",
            )
        try:
            host = normalize_host(parts.hostname or "")
        except ValueError:  # an IDN that IDNA cannot encode
            raise _invalid_url("has a malformed host name") from None
        if not host:
            raise _invalid_url("has no host name")
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc = f"{netloc}:{port}"
        try:
            normalized = httpx2.URL(urlunsplit((scheme, netloc, parts.path, parts.query, "")))
        except httpx2.InvalidURL:
            raise _invalid_url("is malformed") from None
        return cls(normalized, normalized.raw_host.decode("ascii"), parse_ip_literal(host))


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: str


class UrlFetcher:
    """Fetches image bytes from http(s) URLs under the host policy and the fetch limits."""

    def __init__(
        self,
        transport: httpx2.AsyncBaseTransport,
        policy: HostPolicy,
        resolver: Resolver,
        limits: FetchLimits,
    ) -> None:
        self._transport = transport
        self._policy = policy
        self._resolver = resolver
        self._limits = limits
        # Reads are bounded by the one deadline for the whole fetch, see `fetch`.
        self._timeouts = httpx2.Timeout(None, connect=limits.connect_timeout_s).as_dict()

    async def fetch(self, url: str) -> bytes:
        target = Target.parse(url)
        try:
            with anyio.fail_after(self._limits.timeout_s):
                return await self._follow(target)
        except TimeoutError:
            raise ToolFailure(
                ErrorCode.FETCH_FAILED,
                f"fetching the image from {target.host} timed out after "
                f"{self._limits.timeout_s:g} s; try again, or use a faster or smaller source",
            ) from None

    async def _follow(self, target: Target) -> bytes:
        for _ in range(self._limits.max_redirects + 1):
            addresses = await self._checked_addresses(target)
            outcome = await self._request_any(target, addresses)
            if isinstance(outcome, bytes):
                return outcome
            target = Target.parse(outcome.location, redirected_from=target.host)
        raise ToolFailure(
            ErrorCode.FETCH_FAILED,
            f"the URL redirected more than {self._limits.max_redirects} times; pass the final "
            "image URL directly",
            retryable=False,
        )

    async def _checked_addresses(self, target: Target) -> list[IPAddress]:
        self._policy.check_host(target.host)
        addresses = [target.literal] if target.literal else await self._resolve(target)
        self._policy.check_addresses(target.host, addresses)
        return addresses

    async def _resolve(self, target: Target) -> list[IPAddress]:
        try:
            answers = await self._resolver(target.host, target.url.port or _default_port(target))
            addresses = [ip_address(answer) for answer in answers]
        except (OSError, ValueError) as exc:
            logger.debug("resolving %s failed: %r", target.host, exc)
            addresses = []
        if not addresses:
            raise ToolFailure(
                ErrorCode.FETCH_FAILED,
                f"could not resolve the host name {target.host}; check the URL",
            )
        return addresses

    async def _request_any(self, target: Target, addresses: list[IPAddress]) -> bytes | _Redirect:
        """Try the checked addresses in resolver order until one accepts the connection."""
        failure: httpx2.TransportError | None = None
        for address in addresses:
            try:
                return await self._request(target, address)
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                logger.debug("connecting to %s at %s failed: %r", target.host, address, exc)
                failure = exc
            except httpx2.HTTPError as exc:
                raise _transfer_failed(target, exc) from None
        raise ToolFailure(
            ErrorCode.FETCH_FAILED,
            f"could not connect to {target.host} ({_reason(failure)}); check the URL or try "
            "again later",
        )

    async def _request(self, target: Target, address: IPAddress) -> bytes | _Redirect:
        extensions: dict[str, object] = {"timeout": self._timeouts}
        if target.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        request = httpx2.Request(
            "GET",
            target.url.copy_with(host=str(address)),
            headers={"Host": target.url.netloc.decode("ascii"), **_REQUEST_HEADERS},
            extensions=extensions,
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            return await self._handle(target, response)
        finally:
            await response.aclose()

    async def _handle(self, target: Target, response: httpx2.Response) -> bytes | _Redirect:
        location = response.headers.get("Location")
        if response.status_code in _REDIRECT_STATUSES and location:
            try:
                return _Redirect(str(target.url.join(location)))
            except httpx2.InvalidURL:
                raise ToolFailure(
                    ErrorCode.FETCH_FAILED,
                    f"{target.host} redirected to an invalid URL; pass the final image URL",
                    retryable=False,
                ) from None
        if not response.is_success:
            raise ToolFailure(
                ErrorCode.FETCH_FAILED,
                f"{target.host} answered HTTP {response.status_code} "
                f"{quote_remote(response.reason_phrase, 40)}; "
                "check that the URL points to a publicly readable image",
                retryable=response.status_code >= 500
                or response.status_code in _RETRYABLE_STATUSES,
            )
        return await self._read_body(target, response)

    async def _read_body(self, target: Target, response: httpx2.Response) -> bytes:
        max_bytes = self._limits.max_bytes
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ToolFailure(
                ErrorCode.FETCH_FAILED,
                f"{target.host} sent the image {quote_remote(encoding, 20)}-compressed although "
                "identity was requested; serve it uncompressed or pass it as a data URL",
                retryable=False,
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large(f"the image at {target.host}", max_bytes)
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > max_bytes:
                raise too_large(f"the image at {target.host}", max_bytes)
        return bytes(body)


def _default_port(target: Target) -> int:
    return 443 if target.url.scheme == "https" else 80


def _invalid_url(problem: str) -> ToolFailure:
    # The URL itself is not echoed: its path or query may carry tokens.
    return ToolFailure(
        ErrorCode.INVALID_INPUT,
        f"the image URL {problem}; pass a URL like https://example.com/image.png",
    )


def _refused_scheme(scheme: str, redirected_from: str | None) -> ToolFailure:
    if redirected_from is None:
        problem = f"{scheme or 'scheme-less'} URLs are not fetched"
    else:
        problem = f"{redirected_from} redirected to a {scheme}: URL, which is not followed"
    return ToolFailure(
        ErrorCode.BLOCKED_HOST, f"{problem}; use an http:// or https:// URL of the image itself"
    )


def _transfer_failed(target: Target, exc: httpx2.HTTPError) -> ToolFailure:
    return ToolFailure(
        ErrorCode.FETCH_FAILED,
        f"downloading the image from {target.host} failed ({_reason(exc)}); try again later",
    )


def _reason(exc: Exception | None) -> str:
    if exc is None:
        return "no address to connect to"
    return quote_remote(str(exc), 160) or type(exc).__name__
