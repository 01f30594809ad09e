"""Per-client counters for the UTC day: calls, cache hits, shared answers, spend and holds.

Budgets and the /usage route read these counters, so they live behind one seam: a dict in
this process, or one Redis hash per day that every replica updates (HINCRBY, with EXPIREAT so
a finished day cleans itself up; redis_ledger.py). Money is counted in whole nano-dollars
(1e-9 USD), so sums are exact and Redis, Lua and Python agree on them. Spend and reservations
("holds", see reservations.py) are also kept in total, so the global budget is checked in
O(1); they are written by the reservation store only.

Redis layout, one hash per day at `image-mcp:usage:<day>`: `<counter>:<client>` per client,
and `<counter>` alone for the totals of spend_nusd and reserved_nusd.
"""

from __future__ import annotations

import math
import time
from collections import Counter as Counts
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

Counter = Literal["calls", "hits", "shared", "spend_nusd", "reserved_nusd"]
NANO = 1_000_000_000

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


def nano_usd(usd: float) -> int:
    """Whole nano-dollars, rounded up: a charge or a reservation is never understated."""
    return math.ceil(round(usd * NANO, 3))


def usd(nano: int) -> float:
    return nano / NANO


def dollars(amount_usd: float) -> str:
    """An amount for messages: image calls cost fractions of a cent, so six decimals."""
    return f"${amount_usd:.6f}"


@dataclass(frozen=True, slots=True)
class Tally:
    """One client's counters for a day (or everyone's, summed)."""

    calls: int = 0  # tool calls admitted past the rate limit and the budget
    hits: int = 0  # answered from the cache
    shared: int = 0  # answered by joining an identical call already waiting on the model
    spend_nusd: int = 0  # what upstream requests this client caused were billed (or held)
    reserved_nusd: int = 0  # held for requests under way right now

    @classmethod
    def total(cls, tallies: Iterable[Tally]) -> Tally:
        items = list(tallies)
        return cls(**{f.name: sum(getattr(t, f.name) for t in items) for f in fields(cls)})

    def as_json(self) -> dict[str, float | int]:
        return {
            "calls": self.calls,
            "cache_hits": self.hits,
            "shared": self.shared,
            "hit_rate": round(self.hits / self.calls, 4) if self.calls else 0.0,
            "spend_usd": usd(self.spend_nusd),
            "reserved_usd": usd(self.reserved_nusd),
        }


COUNTERS: frozenset[str] = frozenset(f.name for f in fields(Tally))


def tally_from(counts: dict[str, int]) -> Tally:
    return Tally(**{name: int(counts.get(name, 0)) for name in COUNTERS})


def usage_key(day: UtcDay) -> str:
    return REDIS_KEY_PREFIX + day.key


def client_field(counter: Counter, client: str) -> str:
    return f"{counter}:{client}"


def expiry(day: UtcDay) -> int:
    """When a day's keys may go: a little past its end."""
    return int(day.ends_at) + EXPIRY_GRACE_S


class Ledger(Protocol):
    """Daily counters per client; implementations raise `StoreUnavailable` when unreachable."""

    async def add(self, day: UtcDay, client: str, counter: Counter, amount: int = 1) -> None:
        """Add `amount` to one client's counter for `day`."""

    async def read(self, day: UtcDay) -> dict[str, Tally]:
        """Every client's counters for `day`."""


@dataclass(slots=True)
class _DayCounts:
    clients: defaultdict[str, Counts[str]] = field(default_factory=lambda: defaultdict(Counts))
    totals: Counts[str] = field(default_factory=Counts)


class MemoryLedger:
    """This process's counters, for today and yesterday (a call may settle past midnight)."""

    KEPT_DAYS = 2

    def __init__(self) -> None:
        self._days: dict[str, _DayCounts] = {}

    async def add(self, day: UtcDay, client: str, counter: Counter, amount: int = 1) -> None:
        self.bump(day, client, counter, amount)

    async def read(self, day: UtcDay) -> dict[str, Tally]:
        counts = self._days.get(day.key)
        if counts is None:
            return {}
        return {client: tally_from(values) for client, values in counts.clients.items()}

    def bump(self, day: UtcDay, client: str, counter: Counter, amount: int) -> None:
        """Add to a client's counter and to the total, at once (no await in between)."""
        counts = self._day(day)
        counts.clients[client][counter] += amount
        counts.totals[counter] += amount

    def value(self, day: UtcDay, client: str, counter: Counter) -> int:
        counts = self._days.get(day.key)
        return counts.clients[client][counter] if counts and client in counts.clients else 0

    def total(self, day: UtcDay, counter: Counter) -> int:
        counts = self._days.get(day.key)
        return counts.totals[counter] if counts else 0

    def _day(self, day: UtcDay) -> _DayCounts:
        counts = self._days.get(day.key)
        if counts is None:
            counts = self._days[day.key] = _DayCounts()
            for old in sorted(self._days)[: -self.KEPT_DAYS]:
                del self._days[old]
        return counts
