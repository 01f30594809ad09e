"""Turn a tool's `image_path` argument into image bytes, whatever form it takes."""

from __future__ import annotations

from types import TracebackType

import httpx2

from ..settings import Settings
from ..tls import client_tls_context
from .classify import classify
from .fetch import FetchLimits, UrlFetcher, resolve_host
from .files import FileSandbox
from .inline import decode_base64, decode_data_url
from .models import Resolver, SourceImage
from .policy import HostPolicy


class ImageLoader:
    """Loads images from URLs, local files, data URLs and base64 under the server's limits.

    Owns one HTTP transport for all fetches; close it with `aclose()` (or `async with`).
    `resolver` and `transport` exist for tests and unusual deployments.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._max_bytes = settings.max_image_bytes
        # Used directly, not through a client: no redirects, cookies or environment proxies
        # (a proxy would bypass address pinning), see fetch.py.
        self._transport = transport or _default_transport()
        self._fetcher = UrlFetcher(
            self._transport,
            HostPolicy.from_settings(settings),
            resolver or resolve_host,
            FetchLimits(
                max_bytes=settings.max_image_bytes,
                timeout_s=settings.fetch_timeout_s,
                connect_timeout_s=settings.fetch_connect_timeout_s,
                max_redirects=settings.max_redirects,
            ),
        )
        self._files = FileSandbox(
            settings.effective_file_roots,
            settings.max_image_bytes,
            # Over stdio the server runs on the user's own machine; over HTTP its paths are
            # none of the caller's business.
            reveal_paths=settings.transport == "stdio",
        )

    async def load(self, image_path: str) -> SourceImage:
        """The image bytes `image_path` refers to; raises ToolFailure when they cannot be had."""
        text = image_path.strip()
        kind = classify(text)
        if kind == "url":
            data = await self._fetcher.fetch(text)
        elif kind == "file":
            data = await self._files.read(text)
        elif kind == "data_url":
            data = decode_data_url(text, self._max_bytes)
        else:
            data = decode_base64(text, self._max_bytes)
        return SourceImage(data, kind)

    def is_remote(self, image_path: str) -> bool:
        """Whether loading `image_path` waits on the network (raises ToolFailure if invalid)."""
        return classify(image_path.strip()) == "url"

    def is_inline(self, image_path: str) -> bool:
        """Whether `image_path` carries the image itself (data URL or base64)."""
        return classify(image_path.strip()) in ("data_url", "base64")

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> ImageLoader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _default_transport() -> httpx2.AsyncHTTPTransport:
    # No keep-alive: connections are opened to a pinned IP with a per-request TLS name, so a
    # pooled connection could otherwise serve a different host name than it was verified for.
    return httpx2.AsyncHTTPTransport(
        verify=client_tls_context(), limits=httpx2.Limits(max_keepalive_connections=0)
    )
