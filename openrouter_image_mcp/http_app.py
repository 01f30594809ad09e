"""The streamable-HTTP application: the MCP endpoint at /mcp plus health checks and metrics.

Layout: an outer Starlette app serves /healthz, /readyz and /metrics itself and mounts
FastMCP's app for everything else. These routes sit outside FastMCP's Host/Origin guard on
purpose: orchestrators probe and Prometheus scrapes with whatever Host they like (a pod IP, a
container name); the health answers carry no secrets, and /metrics needs a bearer token.
Everything inside the mount (/mcp and any custom route) is guarded, and /mcp also
authenticated when tokens are configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastmcp import Context, FastMCP
from fastmcp.server.http import StarletteWithLifespan, StreamableHTTPASGIApp
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import RequestBodyLimitMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from . import __version__
from .auth import explain_auth_failures
from .cost import add_usage_route
from .json_guard import JsonShapeGuard
from .readiness import readiness_problems
from .settings import Settings
from .telemetry.metrics_route import metrics_route
from .tools import runtime_of

MCP_PATH = "/mcp"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
ANY_HOST = "*"


@dataclass(frozen=True, slots=True)
class BrowserPolicy:
    """What FastMCP's Host/Origin guard accepts (fnmatch patterns; a Host's port is ignored)."""

    allowed_hosts: list[str]
    allowed_origins: list[str]


def browser_policy(settings: Settings) -> BrowserPolicy:
    """Turn IMAGE_MCP_ALLOWED_ORIGINS and IMAGE_MCP_PUBLIC_URL into the guard's allow-lists.

    An entry is a hostname (any scheme and port) or an origin (exactly that). A loopback bind
    also accepts localhost names on any port. A non-loopback bind with an empty list accepts any
    Host, since behind a proxy the public name is not known here; browser Origins must then be
    same-origin. The guard itself always accepts loopback Hosts as well.
    """
    hosts: list[str] = []
    origins: list[str] = []
    public = [settings.public_url] if settings.public_url else []
    for entry in [*settings.allowed_origins, *public]:
        if "://" in entry:
            origins.append(entry)
            hosts.append(urlsplit(entry).netloc)
        else:
            hosts.append(entry)
            origins.extend(_origins_of_host(entry))
    if settings.binds_loopback:
        hosts.extend(LOOPBACK_HOSTS)
    elif not hosts:
        hosts.append(ANY_HOST)
    return BrowserPolicy(allowed_hosts=hosts, allowed_origins=origins)


def _origins_of_host(host: str) -> list[str]:
    try:
        has_port = urlsplit(f"//{host}").port is not None
    except ValueError:
        has_port = False
    port = "" if has_port else ":*"
    return [f"http://{host}{port}", f"https://{host}{port}"]


def health_routes(settings: Settings) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        """Liveness: the process answers. No auth, no upstream call."""
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> JSONResponse:
        """Readiness: configured well enough to serve tool calls. No auth, no upstream call."""
        problems = readiness_problems(settings)
        if problems:
            return JSONResponse({"status": "not_ready", "reasons": problems}, status_code=503)
        return JSONResponse({"status": "ready", "version": __version__})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]


def set_body_limit(mcp_app: Starlette, max_bytes: int) -> None:
    """Make the MCP SDK's own request-body check (413 before parsing) use `max_bytes`.

    The SDK fixes it at 4 MiB when FastMCP creates the session manager inside the app's
    lifespan, and FastMCP has no parameter for it; so this runs right after start-up and
    adjusts that one check in place rather than adding a second one. It fails loudly if the
    layout ever changes, rather than silently keeping 4 MiB.
    """
    manager = _session_manager(mcp_app)
    if not isinstance(manager.asgi_app, RequestBodyLimitMiddleware):
        raise RuntimeError("the MCP SDK no longer limits request bodies where expected")
    manager.asgi_app.max_body_size = max_bytes
    manager.max_request_body_size = max_bytes


async def refuse_sprawling_json(mcp_app: Starlette, mcp: FastMCP) -> None:
    """Put the JSON shape check (json_guard.py) right behind the SDK's body-size check.

    Runs after start-up, like `set_body_limit`, because the runtime it counts refusals with
    (the rate limiter) opens with the server.
    """
    body_limit = _session_manager(mcp_app).asgi_app
    assert isinstance(body_limit, RequestBodyLimitMiddleware)  # checked by set_body_limit
    runtime = runtime_of(Context(fastmcp=mcp))
    tools = frozenset(tool.name for tool in await mcp.list_tools())
    body_limit.app = JsonShapeGuard(body_limit.app, runtime, tools)


def _session_manager(mcp_app: Starlette) -> StreamableHTTPSessionManager:
    for route in mcp_app.routes:
        if isinstance(route, Route) and route.path == MCP_PATH:
            # With auth on, FastMCP wraps the endpoint in RequireAuthMiddleware.
            endpoint = getattr(route.app, "app", route.app)
            if isinstance(endpoint, StreamableHTTPASGIApp) and endpoint.session_manager:
                return endpoint.session_manager
    raise RuntimeError(f"no running MCP session manager at {MCP_PATH}")


def build_http_app(mcp: FastMCP, settings: Settings) -> Starlette:
    """The ASGI app uvicorn serves: health routes, then FastMCP's guarded /mcp app."""
    policy = browser_policy(settings)
    add_usage_route(mcp)  # custom routes are collected when FastMCP builds its app: add first
    mcp_app: StarletteWithLifespan = mcp.http_app(
        path=MCP_PATH,
        stateless_http=settings.stateless_http,
        host_origin_protection=True,
        allowed_hosts=policy.allowed_hosts,
        allowed_origins=policy.allowed_origins,
    )
    explain_auth_failures(mcp_app, mcp.auth)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp_app.lifespan(app):
            set_body_limit(mcp_app, settings.effective_max_request_bytes)
            await refuse_sprawling_json(mcp_app, mcp)
            yield

    return Starlette(
        routes=[*health_routes(settings), metrics_route(mcp), Mount("/", app=mcp_app)],
        lifespan=lifespan,
    )
