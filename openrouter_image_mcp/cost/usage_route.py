"""GET /usage: today's calls, cache hits and spend per client, plus totals, as JSON.

Guarded by the same bearer tokens as /mcp (open only when the server runs without tokens).
Any accepted token sees every client's counters: they are an operator's view of the
deployment, and hold no secrets. With Redis the numbers cover every replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastmcp import Context, FastMCP
from fastmcp.server.auth import AccessToken
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..auth import requires_token
from .outage import OUTAGE_RETRY_AFTER_S, StoreUnavailable

if TYPE_CHECKING:
    from ..runtime import Runtime

USAGE_PATH = "/usage"
NO_STORE = {"Cache-Control": "no-store"}


def add_usage_route(mcp: FastMCP) -> None:
    """Register GET /usage on `mcp`; call it after the server's auth is configured."""

    @mcp.custom_route(USAGE_PATH, methods=["GET"])
    @requires_token(mcp.auth)
    async def usage(request: Request, token: AccessToken | None) -> Response:
        runtime: Runtime | None = Context(mcp).lifespan_context.get("runtime")
        if runtime is None:
            return _unavailable("the server is starting or stopping; retry in a few seconds")
        try:
            report = await runtime.cost.usage()
        except StoreUnavailable:
            return _unavailable("the shared usage store (Redis) is unreachable; retry shortly")
        return JSONResponse(report, headers=NO_STORE)


def _unavailable(message: str) -> Response:
    return JSONResponse(
        {"error": message},
        status_code=503,
        headers={**NO_STORE, "Retry-After": str(int(OUTAGE_RETRY_AFTER_S))},
    )
