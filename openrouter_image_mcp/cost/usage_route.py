"""GET /usage: today's calls, cache hits, spend and holds per client, as JSON.

Guarded by the same bearer tokens as /mcp (open only when the server runs without tokens).
Each client sees only its own entry; the clients named in IMAGE_MCP_ADMIN_CLIENTS see every
client's and the totals, and so does anyone when the server runs without authentication
(stdio, or a loopback server for local development: there is only one client). With Redis
the numbers cover every replica.
"""

from __future__ import annotations

from fastmcp import FastMCP
from fastmcp.server.auth import AccessToken
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..auth import requires_token
from ..runtime_routes import NO_STORE, NOT_RUNNING, refusal, running_runtime
from .outage import OUTAGE_RETRY_AFTER_S, StoreUnavailable

USAGE_PATH = "/usage"


def add_usage_route(mcp: FastMCP) -> None:
    """Register GET /usage on `mcp`; call it after the server's auth is configured."""

    @mcp.custom_route(USAGE_PATH, methods=["GET"])
    @requires_token(mcp.auth)
    async def usage(request: Request, token: AccessToken | None) -> Response:
        runtime = running_runtime(mcp)
        if runtime is None:
            return _unavailable(NOT_RUNNING)
        viewer = _scope(token, runtime.settings.admin_clients)
        try:
            report = await runtime.cost.usage(viewer)
        except StoreUnavailable:
            return _unavailable("the shared usage store (Redis) is unreachable; retry shortly")
        return JSONResponse(report, headers=NO_STORE)


def _scope(token: AccessToken | None, admins: list[str]) -> str | None:
    """Whose entry the caller may see; None: everyone's."""
    if token is None or token.client_id in admins:
        return None
    return token.client_id


def _unavailable(message: str) -> Response:
    return refusal(message, 503, retry_after_s=OUTAGE_RETRY_AFTER_S)
