"""GET /usage: today's calls, cache hits and spend per client, behind the bearer tokens; each
client sees its own entry, administrators see everyone's."""

from __future__ import annotations

import pytest

from openrouter_image_mcp.cost.ledger import UtcDay
from tests.cost.helpers import (
    ALICE_TOKEN,
    BOB_TOKEN,
    TOKENS,
    analyze,
    png_data_url,
    served_over_http,
)
from tests.fake_openrouter import FakeOpenRouter


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_usage_counts_calls_hits_and_spend_per_client_for_an_admin(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, budget_usd_per_day=1.0, admin_clients="bob")
    async with (
        served_over_http(settings) as server,
        server.client(auth=ALICE_TOKEN) as alice,
        server.client(auth=BOB_TOKEN) as bob,
        server.http_client() as http,
    ):
        await analyze(alice, png_data_url(1))
        await analyze(alice, png_data_url(1))
        await analyze(bob, png_data_url(2))
        response = await http.get("/usage", headers=bearer(BOB_TOKEN))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    report = response.json()
    assert report["day"] == UtcDay.now().key
    assert report["budgets_usd"] == {"per_client": 1.0, "global": None, "per_call": None}
    assert report["shared_across_replicas"] is False
    alice_bill, bob_bill = fake.bills
    assert report["clients"] == {
        "alice": {
            "calls": 2,
            "cache_hits": 1,
            "shared": 0,
            "hit_rate": 0.5,
            "spend_usd": pytest.approx(alice_bill, abs=1e-9),
            "reserved_usd": 0,
        },
        "bob": {
            "calls": 1,
            "cache_hits": 0,
            "shared": 0,
            "hit_rate": 0.0,
            "spend_usd": pytest.approx(bob_bill, abs=1e-9),
            "reserved_usd": 0,
        },
    }
    assert report["total"]["calls"] == 3
    assert report["total"]["spend_usd"] == pytest.approx(fake.billed_usd, abs=1e-9)


async def test_each_client_sees_only_its_own_usage(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, admin_clients="carol")
    async with (
        served_over_http(settings) as server,
        server.client(auth=ALICE_TOKEN) as alice,
        server.http_client() as http,
    ):
        await analyze(alice, png_data_url(1))
        as_alice = (await http.get("/usage", headers=bearer(ALICE_TOKEN))).json()
        as_bob = (await http.get("/usage", headers=bearer(BOB_TOKEN))).json()

    assert list(as_alice["clients"]) == ["alice"]
    assert as_alice["clients"]["alice"]["calls"] == 1
    assert "total" not in as_alice
    assert as_bob["clients"] == {
        "bob": {
            "calls": 0,
            "cache_hits": 0,
            "shared": 0,
            "hit_rate": 0.0,
            "spend_usd": 0,
            "reserved_usd": 0,
        }
    }
    assert "total" not in as_bob


async def test_without_authentication_the_one_local_client_sees_everything(
    fake: FakeOpenRouter,
) -> None:
    async with (
        served_over_http(fake.settings()) as server,
        server.client() as local,
        server.http_client() as http,
    ):
        await analyze(local, png_data_url(1))
        report = (await http.get("/usage")).json()

    assert list(report["clients"]) == ["local"]
    assert report["total"]["calls"] == 1


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token-" + "x" * 20)])
async def test_usage_needs_a_valid_token(fake: FakeOpenRouter, headers: dict[str, str]) -> None:
    settings = fake.settings(auth_tokens=TOKENS)
    async with served_over_http(settings) as server, server.http_client() as http:
        response = await http.get("/usage", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_usage_covers_every_replica_sharing_redis(
    fake: FakeOpenRouter, redis_url: str
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, redis_url=redis_url)
    async with (
        served_over_http(settings) as a,
        served_over_http(settings) as b,
        a.client(auth=ALICE_TOKEN) as alice_on_a,
        b.client(auth=ALICE_TOKEN) as alice_on_b,
        b.http_client() as http,
    ):
        await analyze(alice_on_a, png_data_url())
        await analyze(alice_on_b, png_data_url())
        report = (await http.get("/usage", headers=bearer(ALICE_TOKEN))).json()

    assert report["shared_across_replicas"] is True
    assert report["clients"]["alice"]["calls"] == 2
    assert report["clients"]["alice"]["cache_hits"] == 1
    assert len(fake.completions) == 1


async def test_usage_is_unavailable_while_redis_is_unreachable(
    fake: FakeOpenRouter, dead_redis_url: str
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, redis_url=dead_redis_url)
    async with served_over_http(settings) as server, server.http_client() as http:
        response = await http.get("/usage", headers=bearer(ALICE_TOKEN))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "Redis" in response.json()["error"]
