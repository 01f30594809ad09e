"""GET /metrics: behind the bearer tokens, in Prometheus's text format, and moving by exactly
what the calls did: outcomes by code (refusals before the tool included), every upstream
request (retries and repairs), the spend that `_meta` and /usage report, the cache, stage
timings, queues and the limits' refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import (
    ALICE_TOKEN,
    BOB_TOKEN,
    MCP_HEADERS,
    TOKENS,
    auth,
    mcp_client,
    rpc,
    serving,
)
from tests.cost.helpers import CALL_COST, THREE_CALLS_BUDGET, png_data_url
from tests.fake_openrouter import (
    FakeOpenRouter,
    KeepAlive,
    Reply,
    insufficient_credits,
    invalid_json,
    rate_limited,
)
from tests.helpers import ImageWorkerWatch, data_url, noise_png
from tests.telemetry.helpers import Scrape, scrape

LARGE = noise_png(700, 600)  # over the 1 MiB the express image worker takes
GENERAL = "analyze_image"
WEBPAGE = "analyze_webpage_screenshot"
CALLS = "image_mcp_tool_calls_total"
UPSTREAM = "image_mcp_upstream_requests_total"
REFUSALS = "image_mcp_refusals_total"


@asynccontextmanager
async def server(settings: Settings) -> AsyncIterator[tuple[Client, httpx.AsyncClient]]:
    """The production HTTP app: an MCP client as alice, and a plain HTTP client."""
    async with (
        serving(settings) as url,
        mcp_client(url) as client,
        httpx.AsyncClient(base_url=url, timeout=20) as http,
    ):
        yield client, http


async def call(client: Client, seed: int, tool: str = GENERAL, **arguments: Any) -> CallToolResult:
    arguments = {"image_path": png_data_url(seed), **arguments}
    return await client.call_tool(tool, arguments, raise_on_error=False)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not hold within 10 s")


async def scrape_until_one_waits(http: httpx.AsyncClient, queue: str) -> Scrape:
    """Scrapes until the metrics show one call waiting in `queue` (200 tries); the last scrape."""
    for _ in range(200):
        metrics = await scrape(http)
        if metrics.value("image_mcp_queue_depth", queue=queue) == 1:
            break
        await asyncio.sleep(0.01)
    return metrics


def flood_request(tool: str, separators: int) -> bytes:
    arguments = {"image_path": png_data_url(0), "question": "," * separators}
    return json.dumps(rpc("tools/call", 9, name=tool, arguments=arguments)).encode()


FLOOD_HEADERS = {**MCP_HEADERS, **auth(ALICE_TOKEN), "MCP-Protocol-Version": "2025-11-25"}


async def test_metrics_need_a_valid_token(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers=auth("not-a-token-" + "x" * 20))
        accepted = await http.get("/metrics", headers=auth(BOB_TOKEN))

    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "image_mcp" not in refused.text
    assert accepted.status_code == 200
    assert accepted.headers["cache-control"] == "no-store"
    Scrape.parse(accepted.text)  # Prometheus's text format


async def test_with_administrators_named_only_they_read_the_metrics(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, admin_clients="bob", shutdown_grace_s=1)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        alice = await http.get("/metrics", headers=auth(ALICE_TOKEN))
        bob = await http.get("/metrics", headers=auth(BOB_TOKEN))

    assert alice.status_code == 403
    assert "IMAGE_MCP_ADMIN_CLIENTS" in alice.json()["error"]
    assert bob.status_code == 200


async def test_metrics_are_scraped_by_address_whatever_the_public_name(
    fake: FakeOpenRouter,
) -> None:
    # Prometheus asks each replica at its own address, never by the public name the
    # Host/Origin guard expects for /mcp.
    settings = fake.settings(
        auth_tokens=TOKENS, allowed_origins="mcp.example.com", shutdown_grace_s=1
    )
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        scraped = await http.get("/metrics", headers={**auth(ALICE_TOKEN), "Host": "10.1.2.3:8000"})
        mcp = await http.post("/mcp", headers={**FLOOD_HEADERS, "Host": "10.1.2.3:8000"})

    assert scraped.status_code == 200
    assert mcp.status_code == 421


async def test_counters_move_by_exactly_what_the_calls_did(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, max_question_chars=100, shutdown_grace_s=1)
    async with server(settings) as (client, http):
        answered = [await call(client, 1), await call(client, 1)]  # asked, then from the cache
        # Two identical calls at once: the second joins the first, under way at the model.
        fake.script(KeepAlive(seconds=1.0))
        first = asyncio.create_task(call(client, 2))
        await until(lambda: len(fake.completions) == 2)
        answered += await asyncio.gather(first, call(client, 2))
        fake.script(rate_limited(reset_in_s=0.1))  # retried once
        answered.append(await call(client, 3))
        fake.script(invalid_json(), Reply())  # one repair request
        answered.append(await call(client, 4, WEBPAGE))
        fake.script(insufficient_credits())
        out_of_credits = await call(client, 5)
        unknown_argument = await call(client, 6, colour="red")  # the argument guard
        flood = await http.post("/mcp", content=flood_request(GENERAL, 2000), headers=FLOOD_HEADERS)
        metrics = await scrape(http)
        usage = (await http.get("/usage", headers=auth(ALICE_TOKEN))).json()

    assert [result.meta["cache"] for result in answered] == [
        "miss",
        "hit",
        "miss",
        "shared",
        "miss",
        "miss",
    ]
    assert out_of_credits.structured_content["error"]["code"] == "UPSTREAM_CREDITS"
    assert unknown_argument.structured_content["error"]["code"] == "INVALID_INPUT"
    assert flood.status_code == 413

    # Calls by tool and outcome, refusals before the tool ran included.
    assert metrics.series(CALLS) == {
        (("code", "OK"), ("tool", GENERAL)): 5,
        (("code", "OK"), ("tool", WEBPAGE)): 1,
        (("code", "UPSTREAM_CREDITS"), ("tool", GENERAL)): 1,
        (("code", "INVALID_INPUT"), ("tool", GENERAL)): 2,
    }
    assert metrics.value("image_mcp_tool_call_seconds_count", tool=GENERAL) == 8
    assert metrics.value("image_mcp_tool_call_seconds_count", tool=WEBPAGE) == 1
    # Every upstream request: five answers (one a repair, one after a retry), a 429, a 402.
    assert metrics.series(UPSTREAM) == {
        (("code", "OK"),): 5,
        (("code", "UPSTREAM_RATE_LIMITED"),): 1,
        (("code", "UPSTREAM_CREDITS"),): 1,
    }
    assert len(fake.completions) == 7
    # The spend is what the calls' _meta says they cost, what /usage says, and what was billed.
    meta_cost = sum(result.meta["usage"]["cost"] for result in answered)
    assert meta_cost > 0
    spent = metrics.value("image_mcp_upstream_cost_usd_total")
    assert spent == pytest.approx(meta_cost, abs=1e-9)
    assert spent == pytest.approx(usage["clients"]["alice"]["spend_usd"], abs=1e-9)
    assert spent == pytest.approx(fake.billed_usd, abs=1e-9)
    asked = [result.meta["usage"] for result in answered if result.meta["cache"] == "miss"]
    for kind, field in (("prompt", "prompt_tokens"), ("completion", "completion_tokens")):
        tokens = metrics.value("image_mcp_upstream_tokens_total", kind=kind)
        assert tokens == sum(u[field] for u in asked) > 0
    assert metrics.series("image_mcp_cache_events_total") == {
        (("result", "hit"),): 1,
        (("result", "miss"),): 5,
        (("result", "shared"),): 1,
    }
    # Stage timings: every call that loaded its image; those that prepared it; those answered.
    stages = {"load": 7, "prepare": 5, "upstream": 4}
    for stage, count in stages.items():
        assert metrics.value("image_mcp_stage_seconds_count", stage=stage) == count
        assert metrics.value("image_mcp_stage_seconds_sum", stage=stage) > 0
    assert metrics.series(REFUSALS) == {}
    assert metrics.series("image_mcp_daily_budget_usd") == {}  # none set
    for queue in ("upstream_slots", "image_workers"):
        assert metrics.value("image_mcp_queue_depth", queue=queue) == 0
    assert metrics.series("image_mcp_queue_depth")  # present even when empty
    assert not [s for s in metrics.samples if "client" in s.labels]  # no client names


async def test_a_request_cut_off_by_the_deadline_is_counted_with_what_it_was_charged(
    fake: FakeOpenRouter,
) -> None:
    # Nobody knows what a request cut off mid-answer cost: it is charged its worst case, in
    # the metrics as in /usage (though the call's _meta reports no usage at all).
    settings = fake.settings(auth_tokens=TOKENS, upstream_timeout_s=1, shutdown_grace_s=1)
    async with server(settings) as (client, http):
        fake.script(KeepAlive(seconds=3))
        result = await call(client, 1)
        metrics = await scrape(http)
        usage = (await http.get("/usage", headers=auth(ALICE_TOKEN))).json()

    assert result.structured_content["error"]["code"] == "UPSTREAM_TIMEOUT"
    assert metrics.series(UPSTREAM) == {(("code", "UPSTREAM_TIMEOUT"),): 1}
    assert metrics.value(CALLS, tool=GENERAL, code="UPSTREAM_TIMEOUT") == 1
    charged = metrics.value("image_mcp_upstream_cost_usd_total")
    assert charged > 0
    assert charged == pytest.approx(usage["clients"]["alice"]["spend_usd"], abs=1e-9)


async def test_with_metrics_per_client_calls_and_spend_carry_the_client(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, metrics_per_client=True, shutdown_grace_s=1)
    async with server(settings) as (client, http):
        result = await call(client, 1)
        metrics = await scrape(http)

    assert metrics.series(CALLS) == {(("client", "alice"), ("code", "OK"), ("tool", GENERAL)): 1}
    assert metrics.value("image_mcp_upstream_cost_usd_total", client="alice") == pytest.approx(
        result.meta["usage"]["cost"], abs=1e-9
    )
    labelled = {s.name for s in metrics.samples if "client" in s.labels}
    assert labelled == {CALLS, "image_mcp_upstream_cost_usd_total"}


async def test_the_daily_budgets_are_shown_beside_the_spend(fake: FakeOpenRouter) -> None:
    settings = fake.settings(
        auth_tokens=TOKENS,
        budget_usd_per_day=2.5,
        global_budget_usd_per_day=40,
        shutdown_grace_s=1,
    )
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        metrics = await scrape(http)

    assert metrics.series("image_mcp_daily_budget_usd") == {
        (("scope", "client"),): 2.5,
        (("scope", "server"),): 40,
    }


async def over_rate_limit(client: Client, fake: FakeOpenRouter) -> None:
    await call(client, 1)
    await call(client, 2)


async def over_cost_limit(client: Client, fake: FakeOpenRouter) -> None:
    await call(client, 1)


async def over_budget(client: Client, fake: FakeOpenRouter) -> None:
    fake.script(*[Reply(cost=CALL_COST)] * 3)
    for seed in range(4):
        await call(client, seed)


Scenario = Callable[[Client, FakeOpenRouter], Awaitable[None]]


@pytest.mark.parametrize(
    ("limit", "scenario", "code", "reason"),
    [
        ({"rate_limit": "1/minute"}, over_rate_limit, "RATE_LIMITED", "rate_limit"),
        ({"max_cost_per_call_usd": 1e-6}, over_cost_limit, "COST_LIMIT_EXCEEDED", "cost_limit"),
        ({"budget_usd_per_day": THREE_CALLS_BUDGET}, over_budget, "BUDGET_EXCEEDED", "budget"),
    ],
    ids=["rate-limit", "cost-limit", "budget"],
)
async def test_each_limit_counts_its_refusals(
    fake: FakeOpenRouter, limit: dict[str, Any], scenario: Scenario, code: str, reason: str
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1, **limit)
    async with server(settings) as (client, http):
        await scenario(client, fake)
        metrics = await scrape(http)

    assert metrics.value(CALLS, tool=GENERAL, code=code) == 1
    assert metrics.series(REFUSALS) == {(("reason", reason),): 1}


async def test_calls_waiting_for_an_upstream_slot_are_the_queue_depth(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(
        auth_tokens=TOKENS, max_concurrency=1, queue_timeout_s=30, shutdown_grace_s=1
    )
    async with server(settings) as (client, http):
        fake.script(KeepAlive(seconds=1.5))
        holding = asyncio.create_task(call(client, 1))
        await until(lambda: len(fake.completions) == 1)
        waiting = asyncio.create_task(call(client, 2))
        metrics = await scrape_until_one_waits(http, "upstream_slots")
        results = await asyncio.gather(holding, waiting)
        after = await scrape(http)

    assert metrics.value("image_mcp_queue_depth", queue="upstream_slots") == 1
    assert not any(result.is_error for result in results)
    assert after.value("image_mcp_queue_depth", queue="upstream_slots") == 0


async def test_calls_waiting_for_an_image_worker_are_the_queue_depth(
    fake: FakeOpenRouter,
) -> None:
    # One general worker and the express one, both holding a small image's job (stopped with
    # SIGSTOP): a third small image waits for either.
    settings = fake.settings(auth_tokens=TOKENS, image_workers=1, cache_ttl_s=0, shutdown_grace_s=1)
    watch = ImageWorkerWatch()
    async with server(settings) as (client, http):
        await call(client, 1)  # starts the express worker
        large = await client.call_tool("analyze_image", {"image_path": data_url(LARGE)})
        assert not large.is_error  # started the general worker
        with watch.parked() as workers:
            assert len(workers) == 2
            holding = [asyncio.create_task(call(client, seed)) for seed in (2, 3)]
            await asyncio.sleep(0.5)  # both jobs reach the stopped workers
            waiting = asyncio.create_task(call(client, 4))
            metrics = await scrape_until_one_waits(http, "image_workers")
        results = await asyncio.gather(*holding, waiting)
        after = await scrape(http)

    assert metrics.value("image_mcp_queue_depth", queue="image_workers") == 1
    assert not any(result.is_error for result in results)
    assert after.value("image_mcp_queue_depth", queue="image_workers") == 0


async def test_a_call_that_waits_too_long_for_a_slot_is_an_upstream_queue_refusal(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(
        auth_tokens=TOKENS, max_concurrency=1, queue_timeout_s=0.3, shutdown_grace_s=1
    )
    async with server(settings) as (client, http):
        fake.script(KeepAlive(seconds=1.5))
        holding = asyncio.create_task(call(client, 1))
        await until(lambda: len(fake.completions) == 1)
        refused = await call(client, 2)
        await holding
        metrics = await scrape(http)

    assert refused.structured_content["error"]["code"] == "RATE_LIMITED"
    assert metrics.series(REFUSALS) == {(("reason", "upstream_queue"),): 1}
    assert metrics.value(CALLS, tool=GENERAL, code="RATE_LIMITED") == 1
