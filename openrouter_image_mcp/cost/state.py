"""The one seam where cost-control state lives: this process, or Redis shared by replicas.

In-process by default. With IMAGE_MCP_REDIS_URL set, every replica shares the same rate-limit
windows (`limits` RedisStorage), answer cache (py-key-value RedisStore), daily counters
(`RedisLedger`) and spend holds (`RedisReservations`), so limits, budgets and cache hits hold
across the whole deployment. IMAGE_MCP_CACHE_REDIS_URL moves the answer cache to a Redis of
its own, which may evict under memory pressure without ever touching limits or budgets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from key_value.aio.protocols.key_value import AsyncKeyValue
from key_value.aio.stores.redis import RedisStore
from key_value.aio.wrappers.limit_size import LimitSizeWrapper
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..settings import Settings
from .ledger import Ledger, MemoryLedger, RedisLedger
from .memory_store import BoundedMemoryStore
from .reservations import MemoryReservations, RedisReservations, Reservations

# A Redis that does not answer within this is treated as down (see outage.py), so a call
# never hangs on it; one immediate retry covers a pooled connection the server has closed.
REDIS_TIMEOUT_S = 2.0
LIMITS_KEY_PREFIX = "image-mcp:limits"


@dataclass(frozen=True, slots=True)
class SharedState:
    limits: Storage
    answers: AsyncKeyValue
    ledger: Ledger
    reservations: Reservations


@asynccontextmanager
async def open_shared_state(settings: Settings) -> AsyncIterator[SharedState]:
    if settings.redis_url is None:
        ledger = MemoryLedger()
        yield SharedState(
            limits=MemoryStorage(),
            answers=BoundedMemoryStore(
                max_entries=settings.cache_max_entries, max_bytes=settings.cache_max_bytes
            ),
            ledger=ledger,
            reservations=MemoryReservations(ledger),
        )
        return
    url = settings.redis_url.get_secret_value()
    async with AsyncExitStack() as stack:
        options = {
            "socket_timeout": REDIS_TIMEOUT_S,
            "socket_connect_timeout": REDIS_TIMEOUT_S,
            "retry": Retry(NoBackoff(), 1),
        }
        # Text replies for the cache and the counters; `limits` reads raw replies of its own.
        redis = Redis.from_url(url, decode_responses=True, **options)
        stack.push_async_callback(redis.aclose)
        cache_redis = redis
        if settings.cache_redis_url is not None:
            cache_url = settings.cache_redis_url.get_secret_value()
            cache_redis = Redis.from_url(cache_url, decode_responses=True, **options)
            stack.push_async_callback(cache_redis.aclose)
        limits_pool = ConnectionPool.from_url(url, **options)
        stack.push_async_callback(limits_pool.aclose)
        yield SharedState(
            limits=RedisStorage(
                limits_uri(url),
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=LIMITS_KEY_PREFIX,
                connection_pool=limits_pool,
            ),
            # Redis itself bounds the total (the cache Redis's maxmemory with LRU eviction);
            # entries expire with the cache TTL, and no single answer may take more than the
            # whole cache budget.
            answers=LimitSizeWrapper(
                RedisStore(client=cache_redis),
                max_size=settings.cache_max_bytes,
                raise_on_too_large=False,
            ),
            ledger=RedisLedger(redis),
            reservations=RedisReservations(redis),
        )


def limits_uri(url: str) -> str:
    """The `limits` spelling of a Redis URL: redis://h -> async+redis://h, unix:// too."""
    scheme, _, rest = url.partition("://")
    return f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}"
