"""GET /metrics: this server's metrics in Prometheus's text format.

Guarded by the same bearer tokens as /mcp and /usage (open only when the server runs without
them). The metrics cover every client, so when IMAGE_MCP_ADMIN_CLIENTS names administrators,
only they may read them, as only they see every client's /usage. The route sits outside the
Host/Origin guard, beside the health checks: Prometheus scrapes each replica at its own
address (a pod IP), which is never one of the public names the guard accepts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastmcp import Context, FastMCP
from fastmcp.server.auth import AccessToken
from prometheus_client import generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..auth import requires_token

if TYPE_CHECKING:
    from ..runtime import Runtime

METRICS_PATH = "/metrics"
# What generate_latest writes (the classic text format, which every Prometheus reads), named
# as such: newer prometheus_client releases call it version 1.0.0, older ones 0.0.4.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
NO_STORE = {"Cache-Control": "no-store"}
STARTING_RETRY_AFTER_S = 5


def metrics_route(mcp: FastMCP) -> Route:
    """GET /metrics for `mcp`'s runtime; create it after the server's auth is configured."""

    @requires_token(mcp.auth)
    async def metrics(request: Request, token: AccessToken | None) -> Response:
        runtime: Runtime | None = Context(mcp).lifespan_context.get("runtime")
        if runtime is None:
            return JSONResponse(
                {"error": "the server is starting or stopping; retry in a few seconds"},
                status_code=503,
                headers={**NO_STORE, "Retry-After": str(STARTING_RETRY_AFTER_S)},
            )
        admins = runtime.settings.admin_clients
        if token is not None and admins and token.client_id not in admins:
            return JSONResponse(
                {"error": "only the clients in IMAGE_MCP_ADMIN_CLIENTS may read /metrics"},
                status_code=403,
                headers=NO_STORE,
            )
        return Response(
            generate_latest(runtime.metrics.registry),
            media_type=TEXT_FORMAT,
            headers=NO_STORE,
        )

    return Route(METRICS_PATH, metrics, methods=["GET"])
