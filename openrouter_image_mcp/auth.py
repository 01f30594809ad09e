"""Authentication for the HTTP transport: static bearer tokens, OAuth access tokens, or both.

`build_verifier` picks the FastMCP auth provider for the settings: `BearerTokenVerifier` for
IMAGE_MCP_AUTH_TOKENS, the OAuth resource server (`oauth/`) for IMAGE_MCP_OAUTH_ISSUER, both
together when both are set. FastMCP then checks /mcp; `requires_token` gives a plain Starlette
route the same check, and `explain_auth_failures` makes /mcp's 401 and 403 say the same as
those routes do: how this server's clients authenticate (a token from the operator, or a
sign-in through the authorization server its metadata names), never advice that does not
apply, such as re-registering with an OAuth server that does not exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fastmcp.server.auth import AccessToken, AuthProvider, TokenVerifier
from fastmcp.server.auth import middleware as fastmcp_auth
from fastmcp.server.auth.middleware import RequireAuthMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Send

from .settings import AuthToken, Settings

TokenEndpoint = Callable[[Request, AccessToken | None], Awaitable[Response]]
"""A route handler that also receives the caller's token (None when auth is off)."""

Endpoint = Callable[[Request], Awaitable[Response]]

AUTH_HINT = (
    "The bearer token is missing or not accepted by this server; send "
    "'Authorization: Bearer <token>' with a token from IMAGE_MCP_AUTH_TOKENS."
)


@dataclass(frozen=True, slots=True)
class Challenge:
    """What a refusal tells the client (RFC 6750 §3, RFC 9728 §5.1): how to get in."""

    hint: str
    resource_metadata_url: str | None = None
    scopes: tuple[str, ...] = ()

    def header(self, error: str | None = None, description: str | None = None) -> str:
        params = [f'error="{error}"', f'error_description="{description}"'] if error else []
        if self.scopes:
            params.append(f'scope="{" ".join(self.scopes)}"')
        if self.resource_metadata_url:
            params.append(f'resource_metadata="{self.resource_metadata_url}"')
        return f"Bearer {', '.join(params)}" if params else "Bearer"


STATIC_TOKENS = Challenge(AUTH_HINT)


@runtime_checkable
class Challenging(Protocol):
    """An auth provider that says how its clients authenticate."""

    @property
    def challenge(self) -> Challenge: ...


def challenge_of(provider: AuthProvider) -> Challenge:
    return provider.challenge if isinstance(provider, Challenging) else STATIC_TOKENS


def _digest(secret: str) -> bytes:
    # surrogatepass: an environment variable with undecodable bytes must not crash start-up.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class BearerTokenVerifier(TokenVerifier):
    """Accepts exactly the configured tokens; the client name becomes `client_id`.

    A static token is a full-access credential: it carries `scopes`, which are the scopes
    OAuth tokens must have (IMAGE_MCP_OAUTH_REQUIRED_SCOPES) when both kinds are accepted.
    """

    challenge = STATIC_TOKENS

    def __init__(self, tokens: Sequence[AuthToken], scopes: Sequence[str] = ()) -> None:
        super().__init__()
        if not tokens:
            raise ValueError("BearerTokenVerifier needs at least one token")
        # Comparing fixed-length digests hides the secrets' lengths as well as their contents.
        self._tokens = tuple((token.client, _digest(token.secret)) for token in tokens)
        self._scopes = list(scopes)

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
        return AccessToken(token=token, client_id=client, scopes=list(self._scopes))


def build_verifier(settings: Settings) -> AuthProvider | None:
    """The auth provider for an HTTP server with tokens or OAuth; None for stdio or open HTTP."""
    if settings.transport != "http":
        return None
    static = (
        BearerTokenVerifier(settings.auth_tokens, settings.oauth_required_scopes)
        if settings.auth_tokens
        else None
    )
    if not settings.oauth_issuer:
        return static
    from .oauth import build_resource_server  # FastMCP's JWT verifier imports joserfc: ~0.1 s

    return build_resource_server(settings, static)


def bearer_token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def authenticate_request(request: Request, verifier: AuthProvider) -> AccessToken | None:
    """The access token a request carries, or None when it is missing or not accepted."""
    token = bearer_token(request)
    return None if token is None else await verifier.verify_token(token)


def unauthorized_response(request: Request, challenge: Challenge = STATIC_TOKENS) -> Response:
    """401 in the shape FastMCP sends for /mcp (RFC 6750 §3.1)."""
    if bearer_token(request) is None:
        return missing_token_response(challenge)
    return auth_error_response(challenge, 401, "invalid_token", challenge.hint)


def missing_token_response(challenge: Challenge) -> Response:
    # No credentials at all: a challenge without an error attribute.
    return Response(status_code=401, headers={"WWW-Authenticate": challenge.header()})


def auth_error_response(
    challenge: Challenge, status: int, error: str, description: str
) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": challenge.header(error, description)},
    )


def missing_scopes(provider: AuthProvider, token: AccessToken) -> list[str]:
    return [scope for scope in provider.required_scopes if scope not in token.scopes]


def insufficient_scope_response(challenge: Challenge, missing: Sequence[str]) -> Response:
    description = f"The token lacks the scope {' '.join(missing)}; sign in again to grant it."
    return auth_error_response(challenge, 403, "insufficient_scope", description)


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
                return unauthorized_response(request, challenge_of(verifier))
            missing = missing_scopes(verifier, token)
            if missing:
                return insufficient_scope_response(challenge_of(verifier), missing)
            return await handler(request, token)

        return endpoint

    return decorate


class ChallengingAuthMiddleware(RequireAuthMiddleware):
    """FastMCP's gate for /mcp, answering refusals with this server's `Challenge`."""

    def __init__(self, gate: RequireAuthMiddleware, challenge: Challenge) -> None:
        super().__init__(
            gate.app, gate.required_scopes, gate.resource_metadata_url, gate.challenge_scopes
        )
        self.challenge = challenge

    # Each refusal is logged as FastMCP's own gate logs it, on its logger.
    async def _send_missing_auth(self, send: Send) -> None:
        await _send(send, missing_token_response(self.challenge))
        fastmcp_auth.logger.debug("Missing auth: sent 401 without error attribute")

    async def _send_auth_error(
        self, send: Send, status_code: int, error: str, description: str
    ) -> None:
        if error == "invalid_token":
            description = self.challenge.hint
        elif error == "insufficient_scope":
            description = f"{description}; sign in again to grant it."
        await _send(send, auth_error_response(self.challenge, status_code, error, description))
        fastmcp_auth.logger.info("Auth error returned: %s (status=%d)", error, status_code)


async def _send(send: Send, response: Response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})


def explain_auth_failures(app: Starlette, provider: AuthProvider | None) -> None:
    """Give the app's authenticated routes (FastMCP's /mcp) this server's refusals."""
    if provider is None:
        return
    for route in app.routes:
        if isinstance(route, Route) and isinstance(route.app, RequireAuthMiddleware):
            route.app = ChallengingAuthMiddleware(route.app, challenge_of(provider))
