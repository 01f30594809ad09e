"""The one seam where cost-control state lives: this process, or Redis shared by replicas.

In-process by default. With IMAGE_MCP_REDIS_URL set, every replica shares the same rate-limit
windows, answer cache, daily counters and spend holds (redis_state.py), so limits, budgets and
cache hits hold across the whole deployment. Neither redis-py, py-key-value nor `limits` is
imported by a server that keeps its state in memory until a call needs it: together they
would add most of a second to every start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..settings import Settings
from .cache import AnswerStore
from .ledger import Ledger, MemoryLedger
from .memory_store import BoundedMemoryStore
from .reservations import MemoryReservations, Reservations

if TYPE_CHECKING:
    from limits.aio.storage import Storage


@dataclass(frozen=True, slots=True)
class SharedState:
    # Opens the rate-limit windows' storage; called on the first call, which loads `limits`.
    limits: Callable[[], Storage]
    answers: AnswerStore
    ledger: Ledger
    reservations: Reservations


@asynccontextmanager
async def open_shared_state(settings: Settings) -> AsyncIterator[SharedState]:
    if settings.redis_url is not None:
        from .redis_state import open_redis_state

        async with open_redis_state(settings, settings.redis_url) as state:
            yield state
        return
    ledger = MemoryLedger()
    yield SharedState(
        limits=memory_limits,
        answers=BoundedMemoryStore(
            max_entries=settings.cache_max_entries, max_bytes=settings.cache_max_bytes
        ),
        ledger=ledger,
        reservations=MemoryReservations(ledger),
    )


def memory_limits() -> Storage:
    from limits.aio.storage import MemoryStorage

    return MemoryStorage()
