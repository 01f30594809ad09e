"""Holds: money set aside for an upstream request before it is sent, settled after it.

`hold` places a hold only if the client's and the server's daily budgets can take it beside
what is already spent and held; `settle` releases it and adds what the request was billed to
spend. Each is atomic: in this process both run on the event loop with no await between the
check and the update; with Redis each is one Lua script (one round trip, redis_reservations.py),
so two replicas can never both take the last of a budget.

A hold carries an expiry (the call's deadline and a margin). A hold still there after it (the
process died mid-request, or could not reach Redis to settle) is turned into spend at its full
amount: the request may well have been billed, and nobody can tell for how much.

Amounts are whole nano-dollars (see ledger.py). Holds live in a sorted set per day,
`image-mcp:holds:<day>`, scored by expiry; the amounts held are counters in the day's usage hash.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from .ledger import MemoryLedger, UtcDay

Scope = Literal["client", "server"]


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """Daily budgets in nano-dollars; None: no limit."""

    client: int | None
    server: int | None

    @property
    def any(self) -> bool:
        return self.client is not None or self.server is not None


@dataclass(frozen=True, slots=True)
class Hold:
    day: UtcDay
    client: str
    amount: int
    member: str  # names the hold in the store

    @classmethod
    def new(cls, day: UtcDay, client: str, amount: int) -> Hold:
        member = json.dumps({"t": secrets.token_hex(8), "c": client, "a": amount})
        return cls(day, client, amount, member)


@dataclass(frozen=True, slots=True)
class Standing:
    """Spent and held today, for one client and for the whole server."""

    client_spent: int = 0
    client_held: int = 0
    server_spent: int = 0
    server_held: int = 0


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Why `amount` does not fit: the budget it would break, and what fills it."""

    scope: Scope
    spent: int
    held: int
    limit: int
    amount: int


def shortfall(standing: Standing, amount: int, limits: BudgetLimits) -> Shortfall | None:
    """The budget `amount` would break beside what is spent and held, or None if it fits."""
    if limits.client is not None and (
        standing.client_spent + standing.client_held + amount > limits.client
    ):
        return Shortfall(
            "client", standing.client_spent, standing.client_held, limits.client, amount
        )
    if limits.server is not None and (
        standing.server_spent + standing.server_held + amount > limits.server
    ):
        return Shortfall(
            "server", standing.server_spent, standing.server_held, limits.server, amount
        )
    return None


class Reservations(Protocol):
    """Raises `StoreUnavailable` when its store cannot be reached."""

    async def standing(self, day: UtcDay, client: str) -> Standing: ...

    async def hold(
        self, day: UtcDay, client: str, amount: int, limits: BudgetLimits, ttl_s: float
    ) -> Hold | Shortfall: ...

    async def settle(self, hold: Hold, cost: int) -> None: ...


class MemoryReservations:
    """Holds in this process, counted in its `MemoryLedger`."""

    def __init__(self, ledger: MemoryLedger) -> None:
        self._ledger = ledger
        self._expiries: dict[Hold, float] = {}

    async def standing(self, day: UtcDay, client: str) -> Standing:
        return self._standing(day, client)

    async def hold(
        self, day: UtcDay, client: str, amount: int, limits: BudgetLimits, ttl_s: float
    ) -> Hold | Shortfall:
        # No await in here: the check and the update happen as one step on the event loop.
        missing = shortfall(self._standing(day, client), amount, limits)
        if missing is not None:
            return missing
        hold = Hold.new(day, client, amount)
        self._ledger.bump(day, client, "reserved_nusd", amount)
        self._expiries[hold] = time.time() + ttl_s
        return hold

    async def settle(self, hold: Hold, cost: int) -> None:
        self._settle(hold, cost)

    def _standing(self, day: UtcDay, client: str) -> Standing:
        self._expire()
        ledger = self._ledger
        return Standing(
            client_spent=ledger.value(day, client, "spend_nusd"),
            client_held=ledger.value(day, client, "reserved_nusd"),
            server_spent=ledger.total(day, "spend_nusd"),
            server_held=ledger.total(day, "reserved_nusd"),
        )

    def _settle(self, hold: Hold, cost: int) -> None:
        if self._expiries.pop(hold, None) is not None:
            self._ledger.bump(hold.day, hold.client, "reserved_nusd", -hold.amount)
        self._ledger.bump(hold.day, hold.client, "spend_nusd", cost)

    def _expire(self) -> None:
        now = time.time()
        for hold in [hold for hold, expires_at in self._expiries.items() if expires_at <= now]:
            self._settle(hold, hold.amount)
