"""The daily counters in Redis, shared by every replica (the layout is in ledger.py).

Imported only when IMAGE_MCP_REDIS_URL is set: redis-py takes a noticeable part of a second
to import, which a server without Redis never pays.
"""

from __future__ import annotations

from collections import defaultdict

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .ledger import COUNTERS, Counter, Tally, UtcDay, client_field, expiry, tally_from, usage_key
from .outage import StoreUnavailable


class RedisLedger:
    """Counters shared by every replica (see the module docstring for the layout)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, day: UtcDay, client: str, counter: Counter, amount: int = 1) -> None:
        key = usage_key(day)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, client_field(counter, client), amount)
                pipe.expireat(key, expiry(day))
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise StoreUnavailable("usage counters") from error

    async def read(self, day: UtcDay) -> dict[str, Tally]:
        try:
            fields_: dict[str, str] = await self._redis.hgetall(usage_key(day))
        except (RedisError, OSError) as error:
            raise StoreUnavailable("usage counters") from error
        counts: defaultdict[str, dict[str, int]] = defaultdict(dict)
        for name, value in fields_.items():
            counter, per_client, client = name.partition(":")
            if counter in COUNTERS and per_client:
                counts[client][counter] = int(value)
        return {client: tally_from(values) for client, values in counts.items()}
