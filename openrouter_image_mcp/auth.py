"""Bearer-token authentication for the HTTP transport.

`BearerTokenVerifier` plugs into FastMCP (`FastMCP(auth=...)`), which then answers 401 with a
`WWW-Authenticate` challenge on /mcp. `requires_token` gives a plain Starlette route the same
check and the same 401, so every authenticated endpoint behaves alike.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence

from fastmcp.server.auth import AccessToken, AuthProvider, TokenVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .settings import AuthToken, Settings

TokenEndpoint = Callable[[Request, AccessToken | None], Awaitable[Response]]
"""A route handler that also receives the caller's token (None when auth is off)."""

Endpoint = Callable[[Request], Awaitable[Response]]

AUTH_HINT = (
    "The bearer token is missing or not accepted by this server; send "
    "'Authorization: Bearer <token>' with a token from IMAGE_MCP_AUTH_TOKENS."
)


def _digest(secret: str) -> bytes:
    # surrogatepass: an environment variable with undecodable bytes must not crash start-up.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class BearerTokenVerifier(TokenVerifier):
    """Accepts exactly the configured tokens; the client name becomes `client_id`."""

    def __init__(self, tokens: Sequence[AuthToken]) -> None:
        super().__init__()
        if not tokens:
            raise ValueError("BearerTokenVerifier needs at least one token")
        # Comparing fixed-length digests hides the secrets' lengths as well as their contents.
        self._tokens = tuple((token.client, _digest(token.secret)) for token in tokens)

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = _digest(token)
        client: str | None = None
        # Every configured token is compared even after a match, so the time taken does not
        # reveal which one (or whether an early one) matched.
        for name, expected in self._tokens:
            if hmac.compare_digest(presented, expected) and client is None:
                client = name
        if client is None:
            return None
        return AccessToken(token=token, client_id=client, scopes=[])


def build_verifier(settings: Settings) -> BearerTokenVerifier | None:
    """The verifier for an HTTP server with tokens configured; None for stdio or open HTTP."""
    if settings.transport != "http" or not settings.auth_tokens:
        return None
    return BearerTokenVerifier(settings.auth_tokens)


def bearer_token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def authenticate_request(request: Request, verifier: AuthProvider) -> AccessToken | None:
    """The access token a request carries, or None when it is missing or not accepted."""
    token = bearer_token(request)
    return None if token is None else await verifier.verify_token(token)


def unauthorized_response(request: Request) -> Response:
    """401 in the same shape FastMCP sends for /mcp (RFC 6750 §3.1)."""
    if bearer_token(request) is None:
        # No credentials at all: a bare challenge, no error attribute.
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    challenge = f'Bearer error="invalid_token", error_description="{AUTH_HINT}"'
    return JSONResponse(
        {"error": "invalid_token", "error_description": AUTH_HINT},
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


def requires_token(verifier: AuthProvider | None) -> Callable[[TokenEndpoint], Endpoint]:
    """Guard a plain route with the server's verifier; open when none is configured, like /mcp.

    Usage, with `mcp.auth` as the verifier:

        @mcp.custom_route("/usage", methods=["GET"])
        @requires_token(mcp.auth)
        async def usage(request: Request, token: AccessToken | None) -> Response: ...
    """

    def decorate(handler: TokenEndpoint) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            if verifier is None:
                return await handler(request, None)
            token = await authenticate_request(request, verifier)
            if token is None:
                return unauthorized_response(request)
            return await handler(request, token)

        return endpoint

    return decorate
