"""The server as an OAuth protected resource, against a real authorization server.

Every token here is either issued by oidc-provider or signed with the keys it publishes, and
goes through the production app over real HTTP.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable

import httpx
import pytest

from openrouter_image_mcp.logs import CALL_LOGGER
from tests.app.helpers import auth, mcp_client, small_png_data_url
from tests.fake_openrouter import FakeOpenRouter
from tests.oauth.authorization_server import (
    ES256_SERVICE,
    RS256_SERVICE,
    SCOPE,
    AuthorizationServer,
    rsa_key,
)
from tests.oauth.conftest import post_mcp

METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"


def metadata_url(public_url: str) -> str:
    return f"{public_url}{METADATA_PATH}"


# --- Discovery --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [METADATA_PATH, "/.well-known/oauth-protected-resource"])
async def test_protected_resource_metadata_names_the_authorization_server(
    http: httpx.AsyncClient,
    public_url: str,
    authorization_server: AuthorizationServer,
    path: str,
) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "resource": f"{public_url}/mcp",
        "authorization_servers": [authorization_server.issuer],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": "OpenRouter Image MCP",
    }


async def test_the_named_authorization_server_offers_registration_and_pkce(
    http: httpx.AsyncClient,
) -> None:
    """What a client does next: RFC 8414 / OIDC discovery on the issuer the metadata names."""
    issuer = (await http.get(METADATA_PATH)).json()["authorization_servers"][0]
    async with httpx.AsyncClient(timeout=10) as client:
        document = (await client.get(f"{issuer}/.well-known/openid-configuration")).json()
    assert document["issuer"] == issuer
    assert document["registration_endpoint"].startswith(issuer)
    assert "S256" in document["code_challenge_methods_supported"]


# --- Challenges -------------------------------------------------------------------------------


async def test_no_token_gets_a_challenge_naming_the_metadata(
    http: httpx.AsyncClient, public_url: str, fake: FakeOpenRouter
) -> None:
    response = await post_mcp(http, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer scope="{SCOPE}", resource_metadata="{metadata_url(public_url)}"'
    )
    assert fake.completions == []


def assert_invalid_token(response: httpx.Response, public_url: str) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert f'resource_metadata="{metadata_url(public_url)}"' in challenge
    assert response.json()["error"] == "invalid_token"
    assert "sign in again" in response.json()["error_description"]
    assert "re-register" not in response.text + challenge


BadToken = Callable[[AuthorizationServer, str], str]

BAD_TOKENS: dict[str, BadToken] = {
    "minted for another resource": lambda issuer, resource: issuer.service_token(
        RS256_SERVICE, resource="https://other.example/mcp"
    ),
    "another issuer": lambda issuer, resource: issuer.sign(
        issuer.claims(aud=resource, iss="https://evil.example")
    ),
    "expired": lambda issuer, resource: issuer.sign(
        issuer.claims(aud=resource, iat=int(time.time()) - 900, exp=int(time.time()) - 300)
    ),
    "not yet valid": lambda issuer, resource: issuer.sign(
        issuer.claims(aud=resource, nbf=int(time.time()) + 600)
    ),
    "signed by an unknown key": lambda issuer, resource: issuer.sign(
        issuer.claims(aud=resource), rsa_key("not-published")
    ),
    "signed by an unknown key with a known kid": lambda issuer, resource: issuer.sign(
        issuer.claims(aud=resource), rsa_key("rsa-1")
    ),
    "alg none": lambda issuer, resource: issuer.unsigned(issuer.claims(aud=resource)),
    "HMAC keyed with the public key": lambda issuer, resource: issuer.hmac_with_public_key(
        issuer.claims(aud=resource)
    ),
    "without exp": lambda issuer, resource: issuer.sign(issuer.claims(aud=resource, exp=None)),
    "without the client claim": lambda issuer, resource: issuer.sign(
        issuer.claims(aud=resource, sub=None)
    ),
    "tampered claims": lambda issuer, resource: tamper(issuer.sign(issuer.claims(aud=resource))),
    "garbage": lambda issuer, resource: "garbage",
    "three dots of nothing": lambda issuer, resource: "..",
    "bad base64": lambda issuer, resource: "e30.!!!.e30",
    "a JSON array header": lambda issuer, resource: "WzFd.e30.e30",
}


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload[:-4]}AAAA.{signature}"


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_bad_tokens_get_401_never_a_call(
    http: httpx.AsyncClient,
    public_url: str,
    authorization_server: AuthorizationServer,
    fake: FakeOpenRouter,
    case: str,
) -> None:
    token = BAD_TOKENS[case](authorization_server, f"{public_url}/mcp")
    assert_invalid_token(await post_mcp(http, token), public_url)
    assert fake.completions == []


async def test_a_token_without_the_required_scope_gets_403(
    http: httpx.AsyncClient, public_url: str, authorization_server: AuthorizationServer
) -> None:
    token = authorization_server.sign(
        authorization_server.claims(aud=f"{public_url}/mcp", scope="other")
    )
    for response in (await post_mcp(http, token), await http.get("/usage", headers=auth(token))):
        assert response.status_code == 403
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer error="insufficient_scope"')
        assert f'resource_metadata="{metadata_url(public_url)}"' in challenge


# --- Accepted tokens --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "algorithm"), [(RS256_SERVICE, "RS256"), (ES256_SERVICE, "ES256")]
)
async def test_issued_tokens_call_tools_as_their_subject(
    base_url: str,
    public_url: str,
    authorization_server: AuthorizationServer,
    fake: FakeOpenRouter,
    caplog: pytest.LogCaptureFixture,
    service: str,
    algorithm: str,
) -> None:
    caplog.set_level(logging.INFO, logger=CALL_LOGGER)
    token = authorization_server.service_token(service, resource=f"{public_url}/mcp")
    assert f'"alg":"{algorithm}"' in base64_header(token)
    async with mcp_client(base_url, token) as client:
        result = await client.call_tool(
            "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
        )
    assert not result.is_error, result.content
    assert len(fake.completions) == 1
    (line,) = [record for record in caplog.records if record.name == CALL_LOGGER]
    assert line.client == service  # type: ignore[attr-defined]


def base64_header(token: str) -> str:
    header = token.split(".")[0]
    return base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)).decode().replace(" ", "")
