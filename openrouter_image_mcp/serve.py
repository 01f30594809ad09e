"""Running the server on the chosen transport until it is told to stop."""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable

import uvicorn
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp

from .connections import connection_budget, guarded_protocol, open_file_limit, raise_fd_limit
from .http_app import MCP_PATH, build_http_app, readiness_problems
from .listen import bind_listeners, listening_url
from .logs import configure_logging
from .server import build_server
from .settings import Settings
from .telemetry.export import start_tracing

logger = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Serve until stopped; raises `ListenFailure` when the HTTP port cannot be bound."""
    # Importing FastMCP (which happens with this module) gives its logger a handler of its own
    # that bypasses ours, redaction included; route it through ours again.
    configure_logging(settings)
    start_tracing()  # only when OTEL_* variables ask for traces (README: Tracing)
    log_start_notices(settings)
    mcp = build_server(settings)
    if settings.transport == "stdio":
        logger.info("serving MCP over stdio")
        await mcp.run_stdio_async(show_banner=False)
        return
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


def log_start_notices(settings: Settings) -> None:
    """What an operator should know before the first call: what is missing, what is off."""
    for problem in readiness_problems(settings):
        logger.warning(problem)
    roots = settings.effective_file_roots
    if roots:
        logger.info("local image files are readable under %s", ", ".join(map(str, roots)))
    elif settings.transport == "stdio":
        logger.warning(
            "local image files are off: the working directory is the filesystem root, which is "
            "never a file root by accident; set IMAGE_MCP_FILE_ROOTS to the directories images "
            "may be read from"
        )
    else:
        logger.info(
            "local image files are off over HTTP; set IMAGE_MCP_FILE_ROOTS to the directories "
            "images may be read from"
        )


def log_listening(settings: Settings, sockets: list[socket.socket]) -> None:
    for sock in sockets:
        logger.info("serving MCP at %s%s", listening_url(sock), MCP_PATH)
    if not settings.binds_loopback and not settings.allowed_origins:
        logger.info(
            "any Host header is accepted; set IMAGE_MCP_ALLOWED_ORIGINS to the public name "
            "clients use (e.g. https://mcp.example.com) to restrict it"
        )
