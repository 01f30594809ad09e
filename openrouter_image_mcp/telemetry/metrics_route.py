"""GET /metrics: this server's metrics in Prometheus's text format.

Guarded by the same bearer tokens as /mcp and /usage (open only when the server runs without
them). The metrics cover every client, so when IMAGE_MCP_ADMIN_CLIENTS names administrators,
only they may read them, as only they see every client's /usage. The route sits outside the
Host/Origin guard, beside the health checks: Prometheus scrapes each replica at its own
address (a pod IP), which is never one of the public names the guard accepts.
"""

from __future__ import annotations

from fastmcp import FastMCP
from fastmcp.server.auth import AccessToken
from prometheus_client import generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth import requires_token
from ..runtime_routes import NO_STORE, NOT_RUNNING, refusal, running_runtime

METRICS_PATH = "/metrics"
# What generate_latest writes (the classic text format, which every Prometheus reads), named
# as such: newer prometheus_client releases call it version 1.0.0, older ones 0.0.4.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
STARTING_RETRY_AFTER_S = 5


def metrics_route(mcp: FastMCP) -> Route:
    """GET /metrics for `mcp`'s runtime; create it after the server's auth is configured."""

    @requires_token(mcp.auth)
    async def metrics(request: Request, token: AccessToken | None) -> Response:
        runtime = running_runtime(mcp)
        if runtime is None:
            return refusal(NOT_RUNNING, 503, retry_after_s=STARTING_RETRY_AFTER_S)
        admins = runtime.settings.admin_clients
        if token is not None and admins and token.client_id not in admins:
            return refusal("only the clients in IMAGE_MCP_ADMIN_CLIENTS may read /metrics", 403)
        return Response(
            generate_latest(runtime.metrics.registry),
            media_type=TEXT_FORMAT,
            headers=NO_STORE,
        )

    return Route(METRICS_PATH, metrics, methods=["GET"])
