"""Two server instances sharing one Redis: one cache, one rate limit, one budget."""

from __future__ import annotations

import time

import pytest
import redis

from openrouter_image_mcp.cost.cache import COLLECTION, AnswerCache, Reply
from openrouter_image_mcp.cost.redis_state import REDIS_TIMEOUT_S
from openrouter_image_mcp.cost.state import open_shared_state
from tests import fake_openrouter as upstream
from tests.cost.helpers import (
    CALL_COST,
    THREE_CALLS_BUDGET,
    MakeImage,
    MakeSettings,
    analyze,
    cache_status,
    connected,
    error_of,
)
from tests.fake_openrouter import FakeOpenRouter


@pytest.fixture
def shared(make_settings: MakeSettings, redis_url: str) -> MakeSettings:
    """Settings for replicas that share the test's Redis."""
    return lambda **overrides: make_settings(redis_url=redis_url, **overrides)


async def test_an_answer_from_one_instance_is_a_hit_on_the_other(
    fake: FakeOpenRouter, shared: MakeSettings, make_image: MakeImage, redis_url: str
) -> None:
    image = make_image()
    async with connected(shared(cache_ttl_s=600)) as a, connected(shared()) as b:
        first = await analyze(a, image)
        second = await analyze(b, image)

    assert (cache_status(first), cache_status(second)) == ("miss", "hit")
    assert second.content[0].text == first.content[0].text
    assert len(fake.completions) == 1
    with redis.Redis.from_url(redis_url) as client:
        (key,) = client.keys(f"{COLLECTION}::*")
        assert 590 <= client.ttl(key) <= 600  # the writer's TTL


async def test_the_rate_limit_counts_calls_on_both_instances(
    fake: FakeOpenRouter, shared: MakeSettings, make_image: MakeImage
) -> None:
    settings = shared(rate_limit="4/minute")
    async with connected(settings) as a, connected(settings) as b:
        for client in (a, b, a, b):
            assert not (await analyze(client, make_image())).is_error
        refused = await analyze(a, make_image())

    assert error_of(refused)["code"] == "RATE_LIMITED"
    assert 0 < error_of(refused)["retry_after_s"] <= 60


async def test_the_budget_counts_spend_on_both_instances(
    fake: FakeOpenRouter, shared: MakeSettings, make_image: MakeImage
) -> None:
    settings = shared(budget_usd_per_day=THREE_CALLS_BUDGET)
    fake.script(*[upstream.Reply(cost=CALL_COST)] * 3)
    async with connected(settings) as a, connected(settings) as b:
        for seed, client in enumerate((a, b, a)):
            assert cache_status(await analyze(client, make_image(seed))) == "miss"
        refused = await analyze(b, make_image(3))

    assert error_of(refused)["code"] == "BUDGET_EXCEEDED"
    assert len(fake.completions) == 3


async def test_an_unreachable_redis_refuses_calls_with_a_retryable_error(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage, dead_redis_url: str
) -> None:
    async with connected(make_settings(redis_url=dead_redis_url)) as client:
        refused = await analyze(client, make_image())

    error = error_of(refused)
    assert error["code"] == "RATE_LIMITED"
    assert error["retryable"] is True
    assert error["retry_after_s"] == 5
    assert "Redis" in error["message"]
    assert dead_redis_url not in error["message"]
    assert fake.completions == []


async def test_the_cache_fails_open_and_fast_when_redis_is_unreachable(
    make_settings: MakeSettings, dead_redis_url: str
) -> None:
    async with open_shared_state(make_settings(redis_url=dead_redis_url)) as state:
        cache = AnswerCache(state.answers, ttl_s=60)
        started = time.perf_counter()

        await cache.put("key", Reply(text="answer", meta={}))
        assert await cache.get("key") is None

    assert time.perf_counter() - started < REDIS_TIMEOUT_S
