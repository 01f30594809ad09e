"""The issuer's signing keys: rotation without a restart, refetches kept rare, outages closed."""

from __future__ import annotations

import asyncio
import socket

import httpx

from tests.fake_openrouter import FakeOpenRouter
from tests.oauth.authorization_server import (
    ES256_SERVICE,
    RS256_SERVICE,
    AuthorizationServer,
    ec_key,
    rsa_key,
)
from tests.oauth.conftest import post_mcp, serving_oauth


async def status_of(http: httpx.AsyncClient, token: str) -> int:
    return (await post_mcp(http, token)).status_code


async def test_a_rotated_key_is_used_without_a_restart(
    fake: FakeOpenRouter,
    own_authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
) -> None:
    issuer, resource = own_authorization_server, f"{public_url}/mcp"
    async with serving_oauth(fake, issuer, listener, oauth_key_refetch_s=0.2) as http:
        old_token = issuer.service_token(RS256_SERVICE, resource=resource)
        assert await status_of(http, old_token) == 200

        issuer.rotate([rsa_key("rsa-2"), ec_key("ec-2")])  # the old key is retired
        new_token = issuer.service_token(RS256_SERVICE, resource=resource)
        await asyncio.sleep(0.3)  # past the refetch interval
        assert await status_of(http, new_token) == 200
        assert await status_of(http, old_token) == 401  # gone from the refetched key set


async def test_unknown_key_ids_do_not_turn_into_a_fetch_each(
    fake: FakeOpenRouter,
    own_authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
) -> None:
    issuer, resource = own_authorization_server, f"{public_url}/mcp"
    async with serving_oauth(fake, issuer, listener) as http:  # default: a refetch per 30 s
        assert await status_of(http, issuer.service_token(RS256_SERVICE, resource=resource)) == 200
        for index in range(20):
            forged = issuer.sign(issuer.claims(aud=resource), rsa_key(f"made-up-{index}"))
            assert await status_of(http, forged) == 401
        assert await status_of(http, issuer.service_token(RS256_SERVICE, resource=resource)) == 200
    assert issuer.jwks_requests() == 1


async def test_while_the_issuer_is_down_tokens_are_refused_and_then_accepted_again(
    fake: FakeOpenRouter,
    own_authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
) -> None:
    """Nothing was fetched yet: metadata and keys are unreachable, so no token can pass."""
    issuer, resource = own_authorization_server, f"{public_url}/mcp"
    token = issuer.service_token(RS256_SERVICE, resource=resource)
    async with serving_oauth(fake, issuer, listener, oauth_key_refetch_s=0.2) as http:
        issuer.stop()
        assert await status_of(http, token) == 401
        issuer.start()
        await asyncio.sleep(0.3)
        assert await status_of(http, token) == 200


async def test_a_key_set_that_cannot_be_fetched_lets_no_token_through(
    fake: FakeOpenRouter,
    own_authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
) -> None:
    issuer, resource = own_authorization_server, f"{public_url}/mcp"
    es256_token = issuer.service_token(ES256_SERVICE, resource=resource)
    rs256_token = issuer.service_token(RS256_SERVICE, resource=resource)
    async with serving_oauth(fake, issuer, listener) as http:
        assert await status_of(http, es256_token) == 200  # metadata found, EC keys fetched
        issuer.stop()
        assert await status_of(http, rs256_token) == 401  # RSA keys never fetched
        assert await status_of(http, es256_token) == 200  # known keys stay usable


async def test_a_configured_key_set_url_that_fails_lets_no_token_through(
    fake: FakeOpenRouter,
    authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
) -> None:
    issuer, resource = authorization_server, f"{public_url}/mcp"
    broken = f"{issuer.issuer}/no-such-jwks"
    token = issuer.service_token(RS256_SERVICE, resource=resource)
    async with serving_oauth(fake, issuer, listener, oauth_jwks_uri=broken) as http:
        assert await status_of(http, token) == 401
    assert fake.completions == []
