"""Identical calls that arrive together share one run of the work (in this process).

The work runs in its own task, and each caller waits on it through `asyncio.shield`: a
caller that is cancelled (its client hung up) stops waiting, but the work goes on for the
others, and its answer still reaches the cache. When the work fails, every waiter gets the
same error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, key: str) -> bool:
        return key in self._tasks

    async def run(self, key: str, work: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, bool]:
        """The work's result, and whether this call joined one already under way."""
        task = self._tasks.get(key)
        joined = task is not None
        if task is None:
            task = asyncio.create_task(work())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._land(key, done))
        return await asyncio.shield(task), joined

    def _land(self, key: str, task: asyncio.Task[T]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter has gone

    async def aclose(self) -> None:
        """Cancel work nobody will wait for any more (the server is stopping)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
