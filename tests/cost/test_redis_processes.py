"""Two real server processes behind one Redis enforce one cache, one rate limit, one budget.

The in-process tests in test_redis.py pin the details; this file shows the same guarantees
hold between separate operating-system processes, as they do between replicas.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.helpers import mcp_client
from tests.cost.helpers import (
    CALL_COST,
    THREE_CALLS_BUDGET,
    cache_status,
    error_of,
    png_data_url,
)
from tests.cost.processes import TOKENS, replica_processes
from tests.fake_openrouter import FakeOpenRouter, Reply
from tests.helpers import call

RATE_LIMIT = 5


@pytest.fixture(scope="module")
def replicas(fake_openrouter: FakeOpenRouter, redis_server: str) -> Iterator[tuple[str, str]]:
    """Two server processes sharing the session's Redis; their base URLs."""
    with replica_processes(
        fake_openrouter,
        redis_server,
        IMAGE_MCP_RATE_LIMIT=f"{RATE_LIMIT}/minute",
        IMAGE_MCP_BUDGET_USD_PER_DAY=str(THREE_CALLS_BUDGET),
    ) as urls:
        yield urls


async def test_one_cache_and_one_rate_limit_across_processes(
    replicas: tuple[str, str], fake: FakeOpenRouter
) -> None:
    image = png_data_url(seed=101)
    async with (
        mcp_client(replicas[0], TOKENS["alice"]) as alice_a,
        mcp_client(replicas[1], TOKENS["alice"]) as alice_b,
        mcp_client(replicas[1], TOKENS["bob"]) as bob_b,
    ):
        statuses = []
        for index in range(RATE_LIMIT):
            result = await call(alice_a if index % 2 == 0 else alice_b, image_path=image)
            statuses.append(cache_status(result))
        over = await call(alice_b, image_path=image)
        other_client = await call(bob_b, image_path=image)

    assert statuses == ["miss"] + ["hit"] * (RATE_LIMIT - 1)
    assert len(fake.completions) == 1  # one upstream request for both processes
    assert error_of(over)["code"] == "RATE_LIMITED"
    assert error_of(over)["retry_after_s"] > 0
    assert cache_status(other_client) == "hit"  # bob is unaffected by alice's limit


async def test_one_budget_across_processes(replicas: tuple[str, str], fake: FakeOpenRouter) -> None:
    fake.script(*[Reply(cost=CALL_COST)] * 3)
    async with (
        mcp_client(replicas[0], TOKENS["carol"]) as carol_a,
        mcp_client(replicas[1], TOKENS["carol"]) as carol_b,
    ):
        spent = [
            await call(carol_a if seed % 2 else carol_b, image_path=png_data_url(seed=200 + seed))
            for seed in range(3)
        ]
        refused = await call(carol_b, image_path=png_data_url(seed=299))

    assert not any(result.is_error for result in spent)
    assert error_of(refused)["code"] == "BUDGET_EXCEEDED"
    assert len(fake.completions) == 3  # the refused call never reached the upstream
