"""OAuth settings, issuer discovery and the public URL's place in the Host/Origin guard."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from openrouter_image_mcp.auth import BearerTokenVerifier, build_verifier
from openrouter_image_mcp.http_app import browser_policy
from openrouter_image_mcp.oauth.discovery import KeySetLocation, metadata_urls
from openrouter_image_mcp.oauth.resource import ProtectedResource, StaticOrOAuth
from openrouter_image_mcp.oauth.tokens import AccessTokenVerifier
from openrouter_image_mcp.settings import Settings
from tests.app.helpers import INITIALIZE, MCP_HEADERS, TOKENS, serving
from tests.fake_openrouter import FakeOpenRouter
from tests.oauth.authorization_server import RS256_SERVICE, AuthorizationServer

ISSUER = "https://id.example.com/realms/mcp"
PUBLIC = "https://mcp.example.com"


def oauth(**overrides: object) -> Settings:
    values = {"public_url": PUBLIC, "oauth_issuer": ISSUER}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"oauth_issuer": "http://id.example.com"}, "https://"),
        ({"oauth_jwks_uri": "http://id.example.com/jwks"}, "https://"),
        ({"public_url": "http://mcp.example.com"}, "https://"),
        ({"public_url": "https://mcp.example.com/images"}, "origin only"),
        ({"oauth_issuer": "https://id.example.com?x=1"}, "query"),
        ({"public_url": None}, "IMAGE_MCP_PUBLIC_URL is not"),
        ({"oauth_algorithms": "RS256,HS256"}, "HS256"),
        ({"oauth_algorithms": "none"}, "none"),
        ({"oauth_issuer": None, "oauth_audience": "x"}, "without IMAGE_MCP_OAUTH_ISSUER"),
    ],
)
def test_bad_oauth_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        oauth(**overrides)


def test_loopback_urls_may_be_plain_http_and_oauth_allows_a_public_bind() -> None:
    settings = oauth(
        public_url="http://localhost:8000/",
        oauth_issuer="http://127.0.0.1:9000",
        oauth_jwks_uri="http://[::1]:9000/jwks",
        oauth_required_scopes="images, mcp:tools other",
        host="0.0.0.0",
    )
    assert settings.public_url == "http://localhost:8000"
    assert settings.oauth_required_scopes == ["images", "mcp:tools", "other"]
    assert not settings.auth_tokens


def test_the_provider_matches_the_settings() -> None:
    assert isinstance(build_verifier(oauth()), ProtectedResource)
    assert isinstance(build_verifier(oauth(auth_tokens=TOKENS)), StaticOrOAuth)
    assert isinstance(
        build_verifier(Settings(_env_file=None, auth_tokens=TOKENS)), BearerTokenVerifier
    )  # type: ignore[call-arg]
    assert build_verifier(oauth(transport="stdio")) is None


def test_issuer_metadata_is_looked_for_where_rfc_8414_and_oidc_put_it() -> None:
    assert metadata_urls(ISSUER) == [
        "https://id.example.com/.well-known/oauth-authorization-server/realms/mcp",
        "https://id.example.com/realms/mcp/.well-known/openid-configuration",
        "https://id.example.com/.well-known/openid-configuration/realms/mcp",
    ]
    assert metadata_urls("https://id.example.com/") == [
        "https://id.example.com/.well-known/oauth-authorization-server",
        "https://id.example.com/.well-known/openid-configuration",
    ]


async def test_metadata_for_another_issuer_is_not_trusted(
    authorization_server: AuthorizationServer,
) -> None:
    discovered = KeySetLocation(authorization_server.issuer, None, retry_interval_s=60)
    assert await discovered.jwks_uri() == f"{authorization_server.issuer}/jwks"
    # The same server, but its documents name an issuer without the trailing slash.
    impostor = KeySetLocation(f"{authorization_server.issuer}/", None, retry_interval_s=60)
    assert await impostor.jwks_uri() is None


async def test_without_an_audience_no_token_is_accepted(
    authorization_server: AuthorizationServer,
) -> None:
    """The audience is bound when FastMCP names the resource path; before that, nothing passes."""
    resource = "http://127.0.0.1:8000/mcp"
    token = authorization_server.service_token(RS256_SERVICE, resource=resource)
    keys = KeySetLocation(authorization_server.issuer, None, retry_interval_s=60)

    def verifier(audience: str | None) -> AccessTokenVerifier:
        return AccessTokenVerifier(
            keys, audience=audience, algorithms=["RS256"], client_claim="sub", key_refetch_s=30
        )

    assert await verifier(None).verify_token(token) is None
    accepted = await verifier(resource).verify_token(token)
    assert accepted is not None
    assert accepted.client_id == RS256_SERVICE


def test_the_public_url_is_a_public_name() -> None:
    policy = browser_policy(oauth(host="0.0.0.0"))
    assert policy.allowed_hosts == ["mcp.example.com"]
    assert policy.allowed_origins == [PUBLIC]


async def test_the_guard_admits_the_public_name_and_no_other(
    fake: FakeOpenRouter, authorization_server: AuthorizationServer
) -> None:
    settings = fake.settings(
        host="0.0.0.0",
        public_url=PUBLIC,
        oauth_issuer=authorization_server.issuer,
        shutdown_grace_s=1,
    )
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        public = await http.post(
            "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "mcp.example.com"}
        )
        other = await http.post(
            "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "elsewhere.example"}
        )
    assert public.status_code == 401  # past the guard, asked to authenticate
    assert other.status_code == 421
