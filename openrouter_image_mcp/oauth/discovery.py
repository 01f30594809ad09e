"""Where the authorization server publishes its signing keys.

IMAGE_MCP_OAUTH_JWKS_URI names it directly; otherwise the issuer's metadata says, found the
ways RFC 8414 and OpenID Connect Discovery define (`/.well-known/oauth-authorization-server`
inserted before the issuer's path, then `openid-configuration` appended to it and inserted
before it). A document only counts if its `issuer` is exactly the configured one (RFC 8414
§3.3) and its `jwks_uri` is https (or loopback). Looked up on first use rather than at start,
so the server starts, and serves static-token clients, while the authorization server is
still down; a failed lookup is retried at most once per `retry_interval_s`.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import anyio
import httpx2

from ..settings import check_https_url
from ..tls import client_tls_context

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 10.0


class DiscoveryError(Exception):
    """The issuer's metadata could not be fetched or does not name a usable key set."""


def metadata_urls(issuer: str) -> list[str]:
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    urls = [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}{path}/.well-known/openid-configuration",
        f"{origin}/.well-known/openid-configuration{path}",
    ]
    return list(dict.fromkeys(urls))


class KeySetLocation:
    """The JWKS URI of one issuer: configured, or discovered once and then remembered."""

    def __init__(self, issuer: str, jwks_uri: str | None, retry_interval_s: float) -> None:
        self.issuer = issuer
        self._jwks_uri = jwks_uri
        self._retry_interval_s = retry_interval_s
        self._retry_at = 0.0
        self._lock = anyio.Lock()

    async def jwks_uri(self) -> str | None:
        """The key set's URL; None while the issuer's metadata cannot be had."""
        if self._jwks_uri is not None:
            return self._jwks_uri
        async with self._lock:
            if self._jwks_uri is None and time.monotonic() >= self._retry_at:
                try:
                    self._jwks_uri = await self._discover()
                except DiscoveryError as error:
                    self._retry_at = time.monotonic() + self._retry_interval_s
                    logger.warning("OAuth tokens cannot be checked yet: %s", error)
        return self._jwks_uri

    async def _discover(self) -> str:
        problems = []
        async with httpx2.AsyncClient(
            timeout=FETCH_TIMEOUT_S, follow_redirects=False, verify=client_tls_context()
        ) as client:
            for url in metadata_urls(self.issuer):
                try:
                    return await self._jwks_uri_from(client, url)
                except (httpx2.HTTPError, ValueError) as error:
                    problems.append(f"{url}: {error}")
        raise DiscoveryError(
            f"no usable metadata for issuer {self.issuer} ({'; '.join(problems)}); "
            "check IMAGE_MCP_OAUTH_ISSUER, or set IMAGE_MCP_OAUTH_JWKS_URI"
        )

    async def _jwks_uri_from(self, client: httpx2.AsyncClient, url: str) -> str:
        response = await client.get(url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        if document.get("issuer") != self.issuer:
            raise ValueError("its issuer is not IMAGE_MCP_OAUTH_ISSUER")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("no jwks_uri")
        return check_https_url(jwks_uri)
