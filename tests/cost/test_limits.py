"""Rate limits, daily budgets and the upstream concurrency cap, through the real tools."""

from __future__ import annotations

import asyncio

from fastmcp.client.client import CallToolResult

from openrouter_image_mcp.cost.ledger import UtcDay
from tests.cost.helpers import (
    ALICE_TOKEN,
    BOB_TOKEN,
    CALL_COST,
    GENERAL,
    THREE_CALLS_BUDGET,
    TOKENS,
    MakeImage,
    MakeSettings,
    analyze,
    cache_status,
    connected,
    error_of,
    png_data_url,
    served_over_http,
)
from tests.fake_openrouter import FakeOpenRouter, Reply

WEBPAGE = "analyze_webpage_screenshot"


def assert_rate_limited(result: CallToolResult, *, within_s: float) -> None:
    error = error_of(result)
    assert error["code"] == "RATE_LIMITED"
    assert error["retryable"] is True
    assert 0 < error["retry_after_s"] <= within_s


async def test_the_61st_call_in_a_minute_is_refused_before_anything_is_loaded(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    image = make_image()
    async with connected(make_settings()) as client:  # the default: 60/minute
        results = [await analyze(client, image) for _ in range(60)]
        refused = await analyze(client, "/no/such/file.png")  # not even looked at

    assert [cache_status(result) for result in results] == ["miss"] + ["hit"] * 59
    assert_rate_limited(refused, within_s=60)
    assert "retry in" in error_of(refused)["message"]
    assert len(fake.completions) == 1


async def test_each_tool_has_its_own_limit(
    make_settings: MakeSettings, make_image: MakeImage
) -> None:
    image = make_image()
    async with connected(make_settings(rate_limit="2/minute")) as client:
        for _ in range(2):
            await analyze(client, image)
        limited = await analyze(client, image)
        other_tool = await client.call_tool(WEBPAGE, {"image_path": image}, raise_on_error=False)

    assert_rate_limited(limited, within_s=60)
    assert not other_tool.is_error


async def test_one_client_over_its_limit_does_not_limit_another_over_http(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, upstream_max_retries=0)
    image = png_data_url()
    async with (
        served_over_http(settings) as server,
        server.client(auth=ALICE_TOKEN) as alice,
        server.client(auth=BOB_TOKEN) as bob,
    ):
        for _ in range(60):
            assert not (await analyze(alice, image)).is_error
        alice_refused = await analyze(alice, image)
        bob_served = await analyze(bob, image)

    assert_rate_limited(alice_refused, within_s=60)
    assert "'alice'" in error_of(alice_refused)["message"]
    assert cache_status(bob_served) == "hit"


async def test_spend_past_the_client_budget_is_refused_until_utc_midnight(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    settings = make_settings(budget_usd_per_day=THREE_CALLS_BUDGET)
    fake.script(*[Reply(cost=CALL_COST)] * 3)
    async with connected(settings) as client:
        spent = [await analyze(client, make_image(seed)) for seed in range(3)]
        refused = await analyze(client, make_image(3))

    assert [cache_status(result) for result in spent] == ["miss"] * 3
    error = error_of(refused)
    assert error["code"] == "BUDGET_EXCEEDED"
    assert error["retryable"] is True
    assert abs(error["retry_after_s"] - UtcDay.now().seconds_left()) < 5
    assert "00:00 UTC" in error["message"]
    assert len(fake.completions) == 3


async def test_the_global_budget_counts_every_client_together(fake: FakeOpenRouter) -> None:
    settings = fake.settings(
        auth_tokens=TOKENS,
        upstream_max_retries=0,
        budget_usd_per_day=1.0,
        global_budget_usd_per_day=THREE_CALLS_BUDGET,
    )
    fake.script(*[Reply(cost=CALL_COST)] * 3)
    async with (
        served_over_http(settings) as server,
        server.client(auth=ALICE_TOKEN) as alice,
        server.client(auth=BOB_TOKEN) as bob,
    ):
        assert not (await analyze(alice, png_data_url(1))).is_error
        assert not (await analyze(alice, png_data_url(2))).is_error
        assert not (await analyze(bob, png_data_url(3))).is_error
        refused = await analyze(bob, png_data_url(4))

    assert error_of(refused)["code"] == "BUDGET_EXCEEDED"
    assert error_of(refused)["message"].startswith("This server has spent")
    assert len(fake.completions) == 3


async def test_a_call_that_waits_too_long_for_an_upstream_slot_is_refused(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    fake.latency_s = 0.6
    settings = make_settings(max_concurrency=1, queue_timeout_s=0.05)
    async with connected(settings) as client:
        served, refused = await asyncio.gather(
            analyze(client, make_image(1)),
            client.call_tool(GENERAL, {"image_path": make_image(2)}, raise_on_error=False),
        )
        if served.is_error:  # either call may win the slot
            served, refused = refused, served

    assert cache_status(served) == "miss"
    assert_rate_limited(refused, within_s=5)
    assert "busy" in error_of(refused)["message"]
    assert len(fake.completions) == 1
