"""Sharing one run of the work between identical calls under way at the same time."""

from __future__ import annotations

import asyncio

import pytest

from openrouter_image_mcp.cost.inflight import InFlight
from openrouter_image_mcp.errors import ErrorCode, ToolFailure


class Work:
    """Work that runs until released, counting how often it was started."""

    def __init__(self, result: str = "answer", failure: Exception | None = None) -> None:
        self.started = 0
        self.release = asyncio.Event()
        self._result = result
        self._failure = failure

    async def __call__(self) -> str:
        self.started += 1
        await self.release.wait()
        if self._failure is not None:
            raise self._failure
        return self._result


async def settle() -> None:
    """Let every ready task run until it blocks (a bounded number of loop turns)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_callers_with_the_same_key_share_one_run() -> None:
    flights: InFlight[str] = InFlight()
    work = Work()
    callers = [asyncio.create_task(flights.run("k", work)) for _ in range(5)]
    await settle()
    work.release.set()

    results = await asyncio.gather(*callers)

    assert work.started == 1
    assert results == [("answer", False)] + [("answer", True)] * 4
    assert len(flights) == 0


async def test_a_cancelled_caller_does_not_cancel_the_work_the_others_wait_on() -> None:
    flights: InFlight[str] = InFlight()
    work = Work()
    first = asyncio.create_task(flights.run("k", work))
    second = asyncio.create_task(flights.run("k", work))
    await settle()

    first.cancel()
    await settle()
    work.release.set()

    assert await second == ("answer", True)
    assert first.cancelled()
    assert work.started == 1


async def test_every_waiter_gets_the_failure_and_the_next_call_runs_the_work_again() -> None:
    flights: InFlight[str] = InFlight()
    failure = ToolFailure(ErrorCode.UPSTREAM_UNAVAILABLE, "upstream down; retry")
    failing = Work(failure=failure)
    callers = [asyncio.create_task(flights.run("k", failing)) for _ in range(3)]
    await settle()
    failing.release.set()

    outcomes = await asyncio.gather(*callers, return_exceptions=True)

    assert outcomes == [failure] * 3
    retry = Work(result="fresh")
    retry.release.set()
    assert await flights.run("k", retry) == ("fresh", False)


async def test_different_keys_run_separately() -> None:
    flights: InFlight[str] = InFlight()
    one, two = Work("one"), Work("two")
    one.release.set()
    two.release.set()

    assert await asyncio.gather(flights.run("a", one), flights.run("b", two)) == [
        ("one", False),
        ("two", False),
    ]


async def test_closing_cancels_work_nobody_waits_for() -> None:
    flights: InFlight[str] = InFlight()
    work = Work()
    caller = asyncio.create_task(flights.run("k", work))
    await settle()
    caller.cancel()
    await settle()

    await flights.aclose()

    assert len(flights) == 0
    with pytest.raises(asyncio.CancelledError):
        await caller
