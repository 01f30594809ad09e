"""This server as an OAuth protected resource, alone or beside the static bearer tokens.

`ProtectedResource` is FastMCP's RemoteAuthProvider: RFC 9728 metadata at
`/.well-known/oauth-protected-resource/mcp` (plus the path-less form, which some clients
probe), naming the one authorization server whose tokens `AccessTokenVerifier` accepts.
Unless IMAGE_MCP_OAUTH_AUDIENCE says otherwise, a token's audience must be the resource URL
itself (PUBLIC_URL + /mcp, what MCP clients send as RFC 8707 `resource`), bound once FastMCP
tells the provider its path. `StaticOrOAuth` is FastMCP's MultiAuth over both kinds of token.
"""

from __future__ import annotations

from fastmcp.server.auth import AccessToken, MultiAuth, RemoteAuthProvider
from mcp.server.auth.routes import build_resource_metadata_url
from starlette.routing import Route

from ..auth import BearerTokenVerifier, Challenge
from ..settings import Settings
from .discovery import KeySetLocation
from .tokens import AccessTokenVerifier

RESOURCE_NAME = "OpenRouter Image MCP"
METADATA_PATH = "/.well-known/oauth-protected-resource"

OAUTH_HINT = (
    "The access token is missing, expired or not issued for this server; sign in again "
    "through the authorization server named in this server's resource metadata."
)
STATIC_OR_OAUTH_HINT = (
    "The bearer token is not accepted by this server; send a token from "
    "IMAGE_MCP_AUTH_TOKENS, or sign in again through the authorization server named in this "
    "server's resource metadata."
)


class ProtectedResource(RemoteAuthProvider):
    """Publishes the authorization server and accepts its access tokens for this resource."""

    def __init__(
        self,
        verifier: AccessTokenVerifier,
        *,
        public_url: str,
        required_scopes: list[str],
        hint: str = OAUTH_HINT,
    ) -> None:
        super().__init__(
            token_verifier=verifier,
            # A string, not AnyHttpUrl, so the issuer is published exactly as its tokens name it
            # (AnyHttpUrl would add a slash to a bare origin).
            authorization_servers=[verifier.keys.issuer],  # type: ignore[list-item]
            base_url=public_url,
            scopes_supported=required_scopes,
            resource_name=RESOURCE_NAME,
            required_scopes=required_scopes,
        )
        self.verifier = verifier
        self.hint = hint

    def set_mcp_path(self, mcp_path: str | None) -> None:
        super().set_mcp_path(mcp_path)
        if self.verifier.audience is None and self._resource_url is not None:
            self.verifier.audience = str(self._resource_url)

    def get_routes(self, mcp_path: str | None = None) -> list[Route]:
        routes = super().get_routes(mcp_path)
        path_less = [
            Route(METADATA_PATH, route.endpoint, methods=route.methods)
            for route in routes
            if route.path.startswith(f"{METADATA_PATH}/")
        ]
        return [*routes, *path_less]

    @property
    def challenge(self) -> Challenge:
        url = self._resource_url and str(build_resource_metadata_url(self._resource_url))
        return Challenge(self.hint, url or None, tuple(self.required_scopes))


class StaticOrOAuth(MultiAuth):
    """Static tokens for clients that send headers, OAuth for hosted agents, on one endpoint."""

    def __init__(self, resource: ProtectedResource, static: BearerTokenVerifier) -> None:
        super().__init__(server=resource, verifiers=[static])
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        access = await super().verify_token(token)
        if access is None:
            return None
        # MultiAuth qualifies client_id with a digest of the source that accepted the token.
        # Here client_id is the client's name in limits, budgets, logs and /usage, so it stays
        # the token's name or the identity claim, as it is with one kind of token alone.
        return access.model_copy(update={"client_id": access.original_client_id})

    @property
    def challenge(self) -> Challenge:
        return self.resource.challenge


def build_resource_server(
    settings: Settings, static: BearerTokenVerifier | None
) -> ProtectedResource | StaticOrOAuth:
    issuer, public_url = settings.oauth_issuer, settings.public_url
    if not issuer or not public_url:
        raise ValueError("OAuth needs IMAGE_MCP_OAUTH_ISSUER and IMAGE_MCP_PUBLIC_URL")
    refetch_s = settings.oauth_key_refetch_s
    keys = KeySetLocation(issuer, settings.oauth_jwks_uri, retry_interval_s=refetch_s)
    verifier = AccessTokenVerifier(
        keys,
        audience=settings.oauth_audience,
        algorithms=settings.oauth_algorithms,
        client_claim=settings.oauth_client_claim,
        key_refetch_s=refetch_s,
    )
    resource = ProtectedResource(
        verifier,
        public_url=public_url,
        required_scopes=settings.oauth_required_scopes,
        hint=OAUTH_HINT if static is None else STATIC_OR_OAUTH_HINT,
    )
    return resource if static is None else StaticOrOAuth(resource, static)
