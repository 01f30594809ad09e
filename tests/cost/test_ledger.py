"""Daily counters: the UTC day they run over, in memory and in Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from openrouter_image_mcp.cost.ledger import (
    EXPIRY_GRACE_S,
    REDIS_KEY_PREFIX,
    Ledger,
    MemoryLedger,
    Tally,
    UtcDay,
    nano_usd,
)
from openrouter_image_mcp.cost.outage import StoreUnavailable
from openrouter_image_mcp.cost.redis_ledger import RedisLedger
from openrouter_image_mcp.cost.state import open_shared_state
from openrouter_image_mcp.settings import Settings


def test_the_day_runs_from_utc_midnight_to_the_next() -> None:
    late = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC).timestamp()

    day = UtcDay.at(late)

    assert day.key == "2026-03-01"
    assert day.ends_at == datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    assert UtcDay.at(day.ends_at).key == "2026-03-02"


def test_a_tally_reports_hit_rate_and_money_in_dollars() -> None:
    assert Tally(calls=4, hits=1, spend_nusd=123_456_789, reserved_nusd=5).as_json() == {
        "calls": 4,
        "cache_hits": 1,
        "shared": 0,
        "hit_rate": 0.25,
        "spend_usd": 0.123456789,
        "reserved_usd": 0.000000005,
    }
    assert Tally().as_json()["hit_rate"] == 0.0


@pytest.mark.parametrize(
    ("usd", "nano"), [(0.0003, 300_000), (0.0000001234, 124), (1.0, 10**9), (0.0, 0)]
)
def test_money_is_whole_nano_dollars_rounded_up(usd: float, nano: int) -> None:
    assert nano_usd(usd) == nano


async def record_a_day(ledger: Ledger, day: UtcDay) -> None:
    await ledger.add(day, "alice", "calls")
    await ledger.add(day, "alice", "calls")
    await ledger.add(day, "alice", "hits")
    await ledger.add(day, "alice", "spend_nusd", 250)
    await ledger.add(day, "bob:with:colons", "shared")
    await ledger.add(day, "bob:with:colons", "reserved_nusd", 500)


EXPECTED = {
    "alice": Tally(calls=2, hits=1, spend_nusd=250),
    "bob:with:colons": Tally(shared=1, reserved_nusd=500),
}


async def test_memory_ledger_counts_per_client_and_keeps_only_two_days() -> None:
    ledger = MemoryLedger()
    today = UtcDay.now()
    yesterday = UtcDay.at(today.ends_at - 2 * 86400)
    before = UtcDay.at(today.ends_at - 3 * 86400)
    for day in (before, yesterday, today):
        await record_a_day(ledger, day)

    assert await ledger.read(today) == EXPECTED
    assert await ledger.read(yesterday) == EXPECTED  # a call may settle after midnight
    assert await ledger.read(before) == {}
    assert ledger.total(today, "reserved_nusd") == 500


async def test_redis_ledger_counts_per_client_and_expires_after_the_day(redis_url: str) -> None:
    settings = Settings(_env_file=None, transport="stdio", redis_url=redis_url)
    day = UtcDay.now()
    async with open_shared_state(settings) as state:
        await record_a_day(state.ledger, day)
        assert await state.ledger.read(day) == EXPECTED

    with redis.Redis.from_url(redis_url) as client:
        expires_at = client.expiretime(REDIS_KEY_PREFIX + day.key)
    assert expires_at == int(day.ends_at) + EXPIRY_GRACE_S


async def test_redis_ledger_reports_an_unreachable_redis_as_store_unavailable(
    dead_redis_url: str,
) -> None:
    client = redis.asyncio.Redis.from_url(dead_redis_url, socket_connect_timeout=1)
    ledger = RedisLedger(client)
    try:
        with pytest.raises(StoreUnavailable):
            await ledger.add(UtcDay.now(), "alice", "calls")
        with pytest.raises(StoreUnavailable):
            await ledger.read(UtcDay.now())
    finally:
        await client.aclose()
