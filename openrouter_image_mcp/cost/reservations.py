"""Holds: money set aside for an upstream request before it is sent, settled after it.

`hold` places a hold only if the client's and the server's daily budgets can take it beside
what is already spent and held; `settle` releases it and adds what the request was billed to
spend. Each is atomic: in this process both run on the event loop with no await between the
check and the update; with Redis each is one Lua script (one round trip), so two replicas can
never both take the last of a budget.

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

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .ledger import MemoryLedger, UtcDay, expiry, usage_key
from .outage import StoreUnavailable

HOLDS_KEY_PREFIX = "image-mcp:holds:"
NO_LIMIT = -1

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


# Shared by both scripts: turn expired holds into spend, and add to a counter and its total.
_LUA_COMMON = """
local usage, holds = KEYS[1], KEYS[2]
local function add(counter, client, amount)
  local n = string.format('%d', amount)
  redis.call('HINCRBY', usage, counter .. ':' .. client, n)
  redis.call('HINCRBY', usage, counter, n)
end
local function get(field)
  return tonumber(redis.call('HGET', usage, field) or '0')
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
for _, member in ipairs(expired) do
  local hold = cjson.decode(member)
  add('reserved_nusd', hold.c, -hold.a)
  add('spend_nusd', hold.c, hold.a)
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', holds, '-inf', now) end
"""

# ARGV: client, amount, client limit, server limit (-1: none), ttl_s, member, expire_at.
_HOLD_SCRIPT = (
    _LUA_COMMON
    + """
local client, amount = ARGV[1], tonumber(ARGV[2])
local client_spent = get('spend_nusd:' .. client)
local client_held = get('reserved_nusd:' .. client)
local server_spent, server_held = get('spend_nusd'), get('reserved_nusd')
local client_limit, server_limit = tonumber(ARGV[3]), tonumber(ARGV[4])
if client_limit >= 0 and client_spent + client_held + amount > client_limit then
  return {0, 'client', client_spent, client_held, client_limit}
end
if server_limit >= 0 and server_spent + server_held + amount > server_limit then
  return {0, 'server', server_spent, server_held, server_limit}
end
redis.call('ZADD', holds, now + tonumber(ARGV[5]), ARGV[6])
add('reserved_nusd', client, amount)
redis.call('EXPIREAT', usage, ARGV[7])
redis.call('EXPIREAT', holds, ARGV[7])
return {1}
"""
)

# ARGV: client, cost, member, expire_at.
_SETTLE_SCRIPT = (
    _LUA_COMMON
    + """
if redis.call('ZREM', holds, ARGV[3]) == 1 then
  add('reserved_nusd', ARGV[1], -cjson.decode(ARGV[3]).a)
end
add('spend_nusd', ARGV[1], tonumber(ARGV[2]))
redis.call('EXPIREAT', usage, ARGV[4])
return 1
"""
)

_STANDING_SCRIPT = (
    _LUA_COMMON
    + """
local client = ARGV[1]
return {get('spend_nusd:' .. client), get('reserved_nusd:' .. client),
        get('spend_nusd'), get('reserved_nusd')}
"""
)


class RedisReservations:
    """Holds shared by every replica; one round trip per operation."""

    def __init__(self, redis: Redis) -> None:
        self._hold = redis.register_script(_HOLD_SCRIPT)
        self._settle = redis.register_script(_SETTLE_SCRIPT)
        self._standing = redis.register_script(_STANDING_SCRIPT)

    async def standing(self, day: UtcDay, client: str) -> Standing:
        values = await self._run(self._standing, day, client)
        return Standing(*map(int, values))

    async def hold(
        self, day: UtcDay, client: str, amount: int, limits: BudgetLimits, ttl_s: float
    ) -> Hold | Shortfall:
        hold = Hold.new(day, client, amount)
        reply = await self._run(
            self._hold,
            day,
            client,
            amount,
            NO_LIMIT if limits.client is None else limits.client,
            NO_LIMIT if limits.server is None else limits.server,
            ttl_s,
            hold.member,
            expiry(day),
        )
        if int(reply[0]) == 1:
            return hold
        scope, spent, held, limit = reply[1:]
        return Shortfall(scope, int(spent), int(held), int(limit), amount)  # type: ignore[arg-type]

    async def settle(self, hold: Hold, cost: int) -> None:
        await self._run(self._settle, hold.day, hold.client, cost, hold.member, expiry(hold.day))

    async def _run(self, script: object, day: UtcDay, *args: object) -> list[object]:
        keys = [usage_key(day), HOLDS_KEY_PREFIX + day.key]
        try:
            return await script(keys=keys, args=list(args))  # type: ignore[operator]
        except (RedisError, OSError) as error:
            raise StoreUnavailable("budgets") from error
