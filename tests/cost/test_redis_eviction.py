"""Cache pressure never resets limits or budgets: the two Redis instances compose runs.

Each redis-server here runs with the arguments compose.yaml gives it (plus a loopback port,
a scratch directory and, for the cache, a small maxmemory so the test fills it quickly). The
cache is filled well past its memory through the server's own cache path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import yaml

from openrouter_image_mcp.cost.cache import COLLECTION, AnswerCache, Reply
from openrouter_image_mcp.cost.state import open_shared_state
from openrouter_image_mcp.settings import Settings
from tests.cost.conftest import running_redis
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
from tests.fake_openrouter import Reply as Answer

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"
CACHE_MAXMEMORY = 4 * 1024 * 1024
ANSWER_BYTES = 64 * 1024
BUDGET_USD = THREE_CALLS_BUDGET - CALL_COST  # two answers of CALL_COST leave no room for a third


def compose_redis_args(service: str) -> list[str]:
    command = yaml.safe_load(COMPOSE.read_text())["services"][service]["command"]
    assert command[0] == "redis-server"
    return [str(argument) for argument in command[1:]]


@contextmanager
def redis_as_in_compose(service: str, scratch: Path, *overrides: str) -> Iterator[str]:
    """A redis-server configured like compose's `service`; its URL."""
    directory = scratch / service
    directory.mkdir()
    with running_redis(*compose_redis_args(service), "--dir", str(directory), *overrides) as url:
        yield url


def snapshot(url: str) -> dict[bytes, bytes | None]:
    """Every key and its serialized value."""
    with redis.Redis.from_url(url) as client:
        return {key: client.dump(key) for key in client.keys("*")}


def answers_in(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return len(client.keys(f"{COLLECTION}::*"))


def evicted_keys(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(client.info("stats")["evicted_keys"])


async def overfill_the_cache(settings: Settings) -> int:
    """Cache three times `CACHE_MAXMEMORY` of answers the way the server caches one."""
    count = 3 * CACHE_MAXMEMORY // ANSWER_BYTES
    async with open_shared_state(settings) as state:
        cache = AnswerCache(state.answers, ttl_s=settings.cache_ttl_s)
        for number in range(count):
            await cache.put(f"{number:064x}", Reply(text="x" * ANSWER_BYTES, meta={}))
    return count


async def spend_the_budget(fake: FakeOpenRouter, settings: Settings, make_image: MakeImage) -> None:
    """Two answers: the budget is spent and the 2/minute window is full."""
    fake.script(Answer(cost=CALL_COST), Answer(cost=CALL_COST))
    async with connected(settings) as client:
        statuses = [cache_status(await analyze(client, make_image(seed))) for seed in (0, 1)]
    assert statuses == ["miss", "miss"]


async def first_error_code(settings: Settings, image: str) -> str | None:
    async with connected(settings) as client:
        result = await analyze(client, image)
    return error_of(result)["code"] if result.is_error else None


async def test_budgets_and_rate_limits_survive_a_cache_filled_past_its_memory(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage, tmp_path: Path
) -> None:
    with (
        redis_as_in_compose("redis", tmp_path) as state_url,
        redis_as_in_compose("redis-cache", tmp_path, "--maxmemory", str(CACHE_MAXMEMORY)) as cache,
    ):
        settings = make_settings(
            redis_url=state_url,
            cache_redis_url=cache,
            budget_usd_per_day=BUDGET_USD,
            rate_limit="2/minute",
        )
        await spend_the_budget(fake, settings, make_image)
        assert (answers_in(cache), answers_in(state_url)) == (2, 0)
        state = snapshot(state_url)

        written = await overfill_the_cache(settings)

        assert evicted_keys(cache) > 0
        assert answers_in(cache) < written
        assert snapshot(state_url) == state
        # The full window still refuses, and the spent budget still refuses (a fresh window).
        assert await first_error_code(settings, make_image(2)) == "RATE_LIMITED"
        roomy = settings.model_copy(update={"rate_limit": "100/minute"})
        assert await first_error_code(roomy, make_image(3)) == "BUDGET_EXCEEDED"

    assert len(fake.completions) == 2


async def test_one_lru_redis_for_everything_would_forget_the_spent_budget(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage, tmp_path: Path
) -> None:
    """Why the cache has a Redis of its own: LRU eviction picks budget keys too."""
    lru = ("--maxmemory", str(CACHE_MAXMEMORY), "--maxmemory-policy", "allkeys-lru")
    with redis_as_in_compose("redis", tmp_path, *lru) as url:
        settings = make_settings(redis_url=url, budget_usd_per_day=BUDGET_USD)
        await spend_the_budget(fake, settings, make_image)
        # Redis's LRU clock ticks once a second: make the budget keys the oldest.
        await asyncio.sleep(2.1)

        await overfill_the_cache(settings)

        assert await first_error_code(settings, make_image(2)) is None  # budget silently reset

    assert len(fake.completions) == 3
