"""Holds in Redis, shared by every replica: each operation one Lua script, one round trip.

The rules are reservations.py's; the layout is a sorted set of holds per day beside the day's
usage hash (ledger.py). Imported only when IMAGE_MCP_REDIS_URL is set.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .ledger import UtcDay, expiry, usage_key
from .outage import StoreUnavailable
from .reservations import BudgetLimits, Hold, Shortfall, Standing

HOLDS_KEY_PREFIX = "image-mcp:holds:"
NO_LIMIT = -1

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
