"""Per-client counters for the current UTC day: calls, cache hits, shared answers and spend.

Budgets and the /usage route read these counters, so they live behind one seam: a dict in
this process, or one Redis hash per day that every replica updates (HINCRBYFLOAT, with
EXPIREAT so a finished day cleans itself up).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .outage import StoreUnavailable

Counter = Literal["calls", "hits", "shared", "spend_usd"]

REDIS_KEY_PREFIX = "image-mcp:usage:"
# Kept a little past midnight so a replica whose clock runs late still finds the day it means.
EXPIRY_GRACE_S = 3600


@dataclass(frozen=True, slots=True)
class UtcDay:
    """The UTC calendar day that budgets and usage counters run over."""

    key: str  # ISO date, e.g. "2026-05-01"
    ends_at: float  # epoch seconds of the next 00:00 UTC

    @classmethod
    def at(cls, timestamp: float) -> UtcDay:
        start = datetime.fromtimestamp(timestamp, UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        return cls(key=start.date().isoformat(), ends_at=(start + timedelta(days=1)).timestamp())

    @classmethod
    def now(cls) -> UtcDay:
        return cls.at(time.time())

    def seconds_left(self) -> float:
        return max(self.ends_at - time.time(), 0.0)


@dataclass(frozen=True, slots=True)
class Tally:
    """One client's counters for a day (or everyone's, summed)."""

    calls: int = 0  # tool calls admitted past the rate limit and the budget
    hits: int = 0  # answered from the cache
    shared: int = 0  # answered by joining an identical call already waiting on the model
    spend_usd: float = 0.0  # what OpenRouter billed for the answers this client caused

    @classmethod
    def total(cls, tallies: Iterable[Tally]) -> Tally:
        items = list(tallies)
        return cls(
            calls=sum(t.calls for t in items),
            hits=sum(t.hits for t in items),
            shared=sum(t.shared for t in items),
            spend_usd=sum(t.spend_usd for t in items),
        )

    def as_json(self) -> dict[str, float | int]:
        return {
            "calls": self.calls,
            "cache_hits": self.hits,
            "shared": self.shared,
            "hit_rate": round(self.hits / self.calls, 4) if self.calls else 0.0,
            "spend_usd": round(self.spend_usd, 6),
        }


COUNTERS: frozenset[str] = frozenset(f.name for f in fields(Tally))


def tally_from(counts: dict[str, float]) -> Tally:
    return Tally(
        calls=int(counts.get("calls", 0)),
        hits=int(counts.get("hits", 0)),
        shared=int(counts.get("shared", 0)),
        spend_usd=counts.get("spend_usd", 0.0),
    )


class Ledger(Protocol):
    """Daily counters per client; implementations raise `StoreUnavailable` when unreachable."""

    async def add(self, day: UtcDay, client: str, counter: Counter, amount: float = 1) -> None:
        """Add `amount` to one client's counter for `day`."""

    async def read(self, day: UtcDay) -> dict[str, Tally]:
        """Every client's counters for `day`."""


class MemoryLedger:
    """This process's counters; only the current day is kept."""

    def __init__(self) -> None:
        self._day = ""
        self._counts: defaultdict[str, defaultdict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )

    async def add(self, day: UtcDay, client: str, counter: Counter, amount: float = 1) -> None:
        self._roll_to(day)
        self._counts[client][counter] += amount

    async def read(self, day: UtcDay) -> dict[str, Tally]:
        if day.key != self._day:
            return {}
        return {client: tally_from(counts) for client, counts in self._counts.items()}

    def _roll_to(self, day: UtcDay) -> None:
        if day.key != self._day:
            self._day = day.key
            self._counts.clear()


class RedisLedger:
    """Counters shared by every replica: one hash per day, field `<counter>:<client>`."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, day: UtcDay, client: str, counter: Counter, amount: float = 1) -> None:
        key = REDIS_KEY_PREFIX + day.key
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrbyfloat(key, f"{counter}:{client}", amount)
                pipe.expireat(key, int(day.ends_at) + EXPIRY_GRACE_S)
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise StoreUnavailable("usage counters") from error

    async def read(self, day: UtcDay) -> dict[str, Tally]:
        try:
            fields_: dict[str, str] = await self._redis.hgetall(REDIS_KEY_PREFIX + day.key)
        except (RedisError, OSError) as error:
            raise StoreUnavailable("usage counters") from error
        counts: defaultdict[str, dict[str, float]] = defaultdict(dict)
        for name, value in fields_.items():
            counter, _, client = name.partition(":")
            if counter in COUNTERS:
                counts[client][counter] = float(value)
        return {client: tally_from(values) for client, values in counts.items()}
