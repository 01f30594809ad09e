"""Holds against the daily budgets, in this process and in Redis: atomic, settled, expiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from openrouter_image_mcp.cost.ledger import MemoryLedger, Tally, UtcDay
from openrouter_image_mcp.cost.reservations import (
    BudgetLimits,
    Hold,
    MemoryReservations,
    Reservations,
    Shortfall,
    Standing,
)
from openrouter_image_mcp.cost.state import SharedState, open_shared_state
from openrouter_image_mcp.settings import Settings

LIMITS = BudgetLimits(client=1000, server=1500)
TTL_S = 60.0


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    """Shared state in this process, or in the session's Redis (emptied)."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    settings = Settings(_env_file=None, transport="stdio", redis_url=redis_url)  # type: ignore[call-arg]
    async with open_shared_state(settings) as shared:
        yield shared


async def test_a_hold_fits_beside_spend_and_other_holds_or_is_refused(state: SharedState) -> None:
    day, holds = UtcDay.now(), state.reservations
    first = await holds.hold(day, "alice", 600, LIMITS, TTL_S)
    second = await holds.hold(day, "alice", 401, LIMITS, TTL_S)
    third = await holds.hold(day, "alice", 400, LIMITS, TTL_S)

    assert isinstance(first, Hold)
    assert second == Shortfall("client", spent=0, held=600, limit=1000, amount=401)
    assert isinstance(third, Hold)
    assert await holds.standing(day, "alice") == Standing(0, 1000, 0, 1000)


async def test_settling_releases_the_hold_and_charges_what_was_billed(state: SharedState) -> None:
    day, holds = UtcDay.now(), state.reservations
    hold = await holds.hold(day, "alice", 600, LIMITS, TTL_S)
    assert isinstance(hold, Hold)

    await holds.settle(hold, 250)
    await holds.settle(hold, 0)  # settling twice releases nothing twice

    assert await holds.standing(day, "alice") == Standing(250, 0, 250, 0)
    assert (await state.ledger.read(day))["alice"] == Tally(spend_nusd=250)


async def test_the_server_budget_counts_every_client(state: SharedState) -> None:
    day, holds = UtcDay.now(), state.reservations
    alice = await holds.hold(day, "alice", 900, LIMITS, TTL_S)
    assert isinstance(alice, Hold)
    await holds.settle(alice, 900)

    bob = await holds.hold(day, "bob", 700, LIMITS, TTL_S)

    assert bob == Shortfall("server", spent=900, held=0, limit=1500, amount=700)
    assert isinstance(await holds.hold(day, "bob", 600, LIMITS, TTL_S), Hold)


async def test_an_expired_hold_becomes_spend_at_its_full_amount(state: SharedState) -> None:
    day, holds = UtcDay.now(), state.reservations
    crashed = await holds.hold(day, "alice", 300, LIMITS, ttl_s=0.05)
    assert isinstance(crashed, Hold)
    await asyncio.sleep(0.2)

    standing = await holds.standing(day, "alice")
    await holds.settle(crashed, 10)  # a late settle adds what was billed, releases nothing

    assert standing == Standing(300, 0, 300, 0)
    assert await holds.standing(day, "alice") == Standing(310, 0, 310, 0)


async def test_no_limits_hold_anything(state: SharedState) -> None:
    hold = await state.reservations.hold(
        UtcDay.now(), "alice", 10**12, BudgetLimits(None, None), TTL_S
    )
    assert isinstance(hold, Hold)


async def race(reservations: list[Reservations], attempts: int) -> list[Hold | Shortfall]:
    day = UtcDay.now()
    return await asyncio.gather(
        *(
            reservations[index % len(reservations)].hold(day, "alice", 70, LIMITS, TTL_S)
            for index in range(attempts)
        )
    )


async def test_concurrent_holds_never_exceed_the_budget_in_one_process() -> None:
    holds = MemoryReservations(MemoryLedger())

    outcomes = await race([holds], attempts=100)

    placed = [o for o in outcomes if isinstance(o, Hold)]
    assert len(placed) == 1000 // 70  # exactly as many as fit, not one more
    assert (await holds.standing(UtcDay.now(), "alice")).client_held == 70 * len(placed)


async def test_concurrent_holds_from_two_replicas_never_exceed_the_budget(redis_url: str) -> None:
    settings = Settings(_env_file=None, transport="stdio", redis_url=redis_url)  # type: ignore[call-arg]
    async with open_shared_state(settings) as a, open_shared_state(settings) as b:
        outcomes = await race([a.reservations, b.reservations], attempts=100)
        standing = await a.reservations.standing(UtcDay.now(), "alice")

    placed = [o for o in outcomes if isinstance(o, Hold)]
    assert len(placed) == 1000 // 70
    assert standing.client_held == 70 * len(placed) <= 1000
