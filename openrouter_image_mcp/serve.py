"""Running the server on the chosen transport until it is told to stop."""

from __future__ import annotations

import logging

from .logs import configure_logging
from .readiness import readiness_problems
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
    # uvicorn, the connection guard and the HTTP app load only for HTTP: a stdio session
    # answers `initialize` sooner without them.
    from .serve_http import serve_http

    await serve_http(mcp, settings)


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
