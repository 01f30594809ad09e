"""Running the server on the chosen transport until it is told to stop."""

from __future__ import annotations

import logging
import math

import uvicorn
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp

from .http_app import MCP_PATH, build_http_app
from .logs import configure_logging
from .server import build_server
from .settings import Settings

logger = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    # Importing FastMCP (which happens with this module) gives its logger a handler of its own
    # that bypasses ours, redaction included; route it through ours again.
    configure_logging(settings)
    mcp = build_server(settings)
    if settings.transport == "stdio":
        logger.info("serving MCP over stdio")
        await mcp.run_stdio_async(show_banner=False)
        return
    log_listening(settings)
    let_calls_finish_on_shutdown()
    await uvicorn.Server(uvicorn_config(build_http_app(mcp, settings), settings)).serve()


def let_calls_finish_on_shutdown() -> None:
    """Keep answer streams open after SIGTERM until uvicorn's grace period runs out.

    sse-starlette (which the MCP SDK answers with) otherwise ends every open event stream the
    moment uvicorn gets SIGTERM, cutting in-flight tool calls off mid-answer. Stateless calls
    then finish normally; a stateful client's idle GET stream holds shutdown for the full
    grace period before uvicorn cancels it.
    """
    AppStatus.disable_automatic_graceful_drain()


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the logging configure_logging set up
        # On SIGTERM uvicorn stops accepting connections, lets in-flight calls run this long,
        # then cancels them.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        server_header=False,
    )


def log_listening(settings: Settings) -> None:
    logger.info("serving MCP at http://%s:%s%s", settings.host, settings.port, MCP_PATH)
    if not settings.binds_loopback and not settings.allowed_origins:
        logger.info(
            "any Host header is accepted; set IMAGE_MCP_ALLOWED_ORIGINS to the public name "
            "clients use (e.g. https://mcp.example.com) to restrict it"
        )
