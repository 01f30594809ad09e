"""The cap on upstream requests under way at once (per process), with a bounded queue.

A call that cannot get a slot within `queue_timeout_s` is refused with RATE_LIMITED rather
than left waiting until the agent's own timeout fires (and counted as an `upstream_queue`
refusal).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio

from ..errors import ErrorCode, ToolFailure
from ..telemetry.metrics import Metrics

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")

QUEUE_RETRY_AFTER_S = 5.0


class UpstreamSlots:
    def __init__(self, capacity: int, queue_timeout_s: float, metrics: Metrics) -> None:
        self._semaphore = anyio.Semaphore(capacity)
        self._queue_timeout_s = queue_timeout_s
        self._metrics = metrics

    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return self._semaphore.statistics().tasks_waiting

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        acquired = False
        with anyio.move_on_after(self._queue_timeout_s):
            await self._semaphore.acquire()
            acquired = True
        if not acquired:
            self._metrics.refused("upstream_queue")
            raise ToolFailure(
                ErrorCode.RATE_LIMITED,
                f"The server is busy: every upstream slot stayed taken for "
                f"{self._queue_timeout_s:g} s; retry in a few seconds.",
                retry_after_s=QUEUE_RETRY_AFTER_S,
            )
        try:
            yield
        finally:
            self._semaphore.release()

    def gate(
        self, call: Callable[[RequestT], Awaitable[ResultT]]
    ) -> Callable[[RequestT], Awaitable[ResultT]]:
        """`call`, holding a slot while it runs."""

        async def gated(request: RequestT) -> ResultT:
            async with self.hold():
                return await call(request)

        return gated
