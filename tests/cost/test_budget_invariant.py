"""The budget invariant: what a client (or the server) is billed in a UTC day never exceeds its
budget, whatever the concurrency, in one process, across replicas in one process, and across
two server processes on one Redis.

Each test sends 50 distinct calls at once, waits, sends those refused again, and so on, against
a fake that bills every answer close to its worst case (the model writes all of max_tokens).
What the fake billed in total, summed from its own reports, must stay within the budget, and
the budget must still be put to use: no more than about one call's worth left unspent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fastmcp.client.client import CallToolResult

from tests.app.helpers import mcp_client
from tests.cost.helpers import (
    ALICE_TOKEN,
    BOB_TOKEN,
    TOKENS,
    MakeImage,
    MakeSettings,
    analyze,
    connected,
    error_of,
    png_data_url,
    served_over_http,
)
from tests.cost.processes import TOKENS as PROCESS_TOKENS
from tests.cost.processes import replica_processes
from tests.fake_openrouter import FakeOpenRouter, Reply
from tests.helpers import call

CALLS = 50
BUDGET = 0.01
MAX_TOKENS = 300
LATENCY_S = 0.3
WAVES = 6
# An answer longer than MAX_TOKENS: billed for all of them, as a model that rambles is.
LONG_ANSWER = Reply(content="The image shows a small square of colour. " * 60)

Call = Callable[[int], Awaitable[CallToolResult]]


async def in_waves(calls: Sequence[Call]) -> tuple[int, set[str]]:
    """Send every call at once, then again those refused, until none is served in a wave.

    Returns how many were served and the error codes of the last refusals.
    """
    pending, served, codes = list(range(len(calls))), 0, set()
    for _ in range(WAVES):
        results = await asyncio.gather(*(calls[index](index) for index in pending))
        refused = [index for index, result in zip(pending, results, strict=True) if result.is_error]
        codes = {error_of(result)["code"] for result in results if result.is_error}
        served += len(pending) - len(refused)
        if len(refused) == len(pending) or not refused:
            break
        pending = refused
    return served, codes


def assert_within_and_used(fake: FakeOpenRouter, served: int, codes: set[str]) -> None:
    per_call = max(fake.bills)
    assert CALLS * per_call > 2 * BUDGET  # unchecked, these calls would cost over twice that
    assert fake.billed_usd <= BUDGET  # the invariant, summed from what the fake reported
    assert fake.billed_usd > BUDGET - 3 * per_call  # and the budget was put to use
    assert len(fake.bills) == served
    assert codes == {"BUDGET_EXCEEDED"}


async def test_50_concurrent_calls_never_bill_more_than_the_client_budget(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    fake.latency_s = LATENCY_S
    fake.script(*[LONG_ANSWER] * CALLS)
    settings = make_settings(budget_usd_per_day=BUDGET, rate_limit="1000/minute")
    images = [make_image(seed) for seed in range(CALLS)]
    async with connected(settings) as client:

        async def one(index: int) -> CallToolResult:
            return await analyze(client, images[index], max_tokens=MAX_TOKENS)

        served, codes = await in_waves([one] * CALLS)

    assert_within_and_used(fake, served, codes)


async def test_50_concurrent_calls_from_two_clients_never_bill_more_than_the_global_budget(
    fake: FakeOpenRouter,
) -> None:
    fake.latency_s = LATENCY_S
    fake.script(*[LONG_ANSWER] * CALLS)
    settings = fake.settings(
        auth_tokens=TOKENS,
        upstream_max_retries=0,
        rate_limit="1000/minute",
        global_budget_usd_per_day=BUDGET,
    )
    async with (
        served_over_http(settings) as server,
        server.client(auth=ALICE_TOKEN) as alice,
        server.client(auth=BOB_TOKEN) as bob,
    ):

        async def one(index: int) -> CallToolResult:
            client = alice if index % 2 else bob
            return await analyze(client, png_data_url(index), max_tokens=MAX_TOKENS)

        served, codes = await in_waves([one] * CALLS)

    assert_within_and_used(fake, served, codes)


async def test_50_concurrent_calls_on_two_replicas_sharing_redis_never_bill_more_than_the_budget(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage, redis_url: str
) -> None:
    fake.latency_s = LATENCY_S
    fake.script(*[LONG_ANSWER] * CALLS)
    settings = make_settings(
        redis_url=redis_url, budget_usd_per_day=BUDGET, rate_limit="1000/minute"
    )
    images = [make_image(seed) for seed in range(CALLS)]
    async with connected(settings) as a, connected(settings) as b:

        async def one(index: int) -> CallToolResult:
            return await analyze(a if index % 2 else b, images[index], max_tokens=MAX_TOKENS)

        served, codes = await in_waves([one] * CALLS)

    assert_within_and_used(fake, served, codes)


async def test_50_concurrent_calls_on_two_server_processes_never_bill_more_than_the_budgets(
    fake: FakeOpenRouter, redis_url: str
) -> None:
    """First the client budget binds (alice alone), then the global one (bob and carol)."""
    fake.latency_s = LATENCY_S
    fake.script(*[LONG_ANSWER] * 2 * CALLS)
    client_budget, global_budget = BUDGET, 1.6 * BUDGET
    with replica_processes(
        fake,
        redis_url,
        IMAGE_MCP_RATE_LIMIT="1000/minute",
        IMAGE_MCP_BUDGET_USD_PER_DAY=str(client_budget),
        IMAGE_MCP_GLOBAL_BUDGET_USD_PER_DAY=str(global_budget),
    ) as (first, second):
        async with (
            mcp_client(first, PROCESS_TOKENS["alice"]) as alice_1,
            mcp_client(second, PROCESS_TOKENS["alice"]) as alice_2,
            mcp_client(first, PROCESS_TOKENS["bob"]) as bob_1,
            mcp_client(second, PROCESS_TOKENS["carol"]) as carol_2,
        ):

            def calls(one: Callable[[int], object], seed: int) -> list[Call]:
                async def run(index: int) -> CallToolResult:
                    client = one(index)
                    image = png_data_url(seed + index)
                    return await call(client, image_path=image, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]

                return [run] * CALLS

            alice_served, alice_codes = await in_waves(
                calls(lambda i: alice_1 if i % 2 else alice_2, seed=1000)
            )
            alice_billed = fake.billed_usd
            others_served, others_codes = await in_waves(
                calls(lambda i: bob_1 if i % 2 else carol_2, seed=2000)
            )

    per_call = max(fake.bills)
    assert CALLS * per_call > 2 * client_budget
    assert alice_billed <= client_budget
    assert alice_billed > client_budget - 3 * per_call
    assert fake.billed_usd <= global_budget
    assert fake.billed_usd > global_budget - 3 * per_call
    assert len(fake.bills) == alice_served + others_served
    assert alice_codes == others_codes == {"BUDGET_EXCEEDED"}
