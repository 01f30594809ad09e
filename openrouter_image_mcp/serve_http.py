"""Serving streamable HTTP under uvicorn until told to stop."""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable

import uvicorn
from fastmcp import FastMCP
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp

from .connections import connection_budget, guarded_protocol, open_file_limit, raise_fd_limit
from .http_app import MCP_PATH, build_http_app
from .listen import bind_listeners, listening_url
from .settings import Settings

logger = logging.getLogger(__name__)


async def serve_http(mcp: FastMCP, settings: Settings) -> None:
    """Serve `mcp` at /mcp; raises `ListenFailure` when the port cannot be bound."""
    sockets = bind_listeners(settings.host, settings.port)
    try:
        raise_fd_limit()
        config = uvicorn_config(build_http_app(mcp, settings), settings)
        let_calls_finish_on_shutdown()
        server = AnnouncingServer(config, lambda: log_listening(settings, sockets))
        await server.serve(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, saying where it serves once it really does (app started, listening)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


def let_calls_finish_on_shutdown() -> None:
    """Keep answer streams open after SIGTERM until uvicorn's grace period runs out.

    sse-starlette (which the MCP SDK answers with) otherwise ends every open event stream the
    moment uvicorn gets SIGTERM, cutting in-flight tool calls off mid-answer. Stateless calls
    then finish normally; a stateful client's idle GET stream holds shutdown for the full
    grace period before uvicorn cancels it.
    """
    AppStatus.disable_automatic_graceful_drain()


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    fd_limit = open_file_limit()
    budget = connection_budget(settings, fd_limit)
    if budget.max_connections < settings.max_connections:
        logger.warning(
            "IMAGE_MCP_MAX_CONNECTIONS lowered from %d to %d to fit the open-file limit of %d; "
            "raise that limit (ulimit -n, or docker run --ulimit nofile=...) for more",
            settings.max_connections,
            budget.max_connections,
            fd_limit,
        )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the logging configure_logging set up
        # The cap on connections and the deadline for request headers (see connections.py).
        http=guarded_protocol(budget),
        backlog=budget.backlog,
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]  # any number works
        # On SIGTERM uvicorn stops accepting connections, lets in-flight calls run this long,
        # then cancels them.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        server_header=False,
    )


def log_listening(settings: Settings, sockets: list[socket.socket]) -> None:
    for sock in sockets:
        logger.info("serving MCP at %s%s", listening_url(sock), MCP_PATH)
    if not settings.binds_loopback and not settings.allowed_origins:
        logger.info(
            "any Host header is accepted; set IMAGE_MCP_ALLOWED_ORIGINS to the public name "
            "clients use (e.g. https://mcp.example.com) to restrict it"
        )
