"""What the token-guarded plain routes beside /mcp (/usage, /metrics) share: the server's
runtime, and error answers that no cache keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastmcp import Context, FastMCP
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from .runtime import Runtime

NO_STORE = {"Cache-Control": "no-store"}
NOT_RUNNING = "the server is starting or stopping; retry in a few seconds"


def running_runtime(mcp: FastMCP) -> Runtime | None:
    """`mcp`'s runtime while its lifespan runs; None while it starts or stops."""
    return Context(mcp).lifespan_context.get("runtime")


def refusal(message: str, status_code: int, *, retry_after_s: float | None = None) -> Response:
    headers = dict(NO_STORE)
    if retry_after_s is not None:
        headers["Retry-After"] = str(int(retry_after_s))
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)
