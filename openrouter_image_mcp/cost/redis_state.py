"""Cost-control state in Redis, shared by every replica; imported only when it is configured.

Rate-limit windows (`limits` RedisStorage), the answer cache (py-key-value RedisStore), daily
counters (`RedisLedger`) and spend holds (`RedisReservations`). IMAGE_MCP_CACHE_REDIS_URL
moves the answer cache to a Redis of its own, which may evict under memory pressure without
ever touching limits or budgets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, SupportsFloat

from key_value.aio.errors import BaseKeyValueError
from key_value.aio.protocols.key_value import AsyncKeyValue
from key_value.aio.stores.redis import RedisStore
from key_value.aio.wrappers.limit_size import LimitSizeWrapper
from limits.aio.storage import RedisStorage
from pydantic import SecretStr
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..settings import Settings
from .outage import StoreUnavailable
from .redis_ledger import RedisLedger
from .redis_reservations import RedisReservations
from .state import SharedState

# A Redis that does not answer within this is treated as down (see outage.py), so a call
# never hangs on it; one immediate retry covers a pooled connection the server has closed.
REDIS_TIMEOUT_S = 2.0
LIMITS_KEY_PREFIX = "image-mcp:limits"
STORE_ERRORS = (BaseKeyValueError, RedisError, OSError)


class RedisAnswers:
    """py-key-value's store, its failures reported as `StoreUnavailable` like every store's."""

    def __init__(self, store: AsyncKeyValue) -> None:
        self._store = store

    async def get(self, key: str, *, collection: str) -> dict[str, Any] | None:
        try:
            return await self._store.get(key, collection=collection)
        except STORE_ERRORS as error:
            raise StoreUnavailable("answer cache") from error

    async def put(
        self, key: str, value: Mapping[str, Any], *, collection: str, ttl: SupportsFloat | None
    ) -> None:
        try:
            await self._store.put(key, value, collection=collection, ttl=ttl)
        except STORE_ERRORS as error:
            raise StoreUnavailable("answer cache") from error


@asynccontextmanager
async def open_redis_state(settings: Settings, redis_url: SecretStr) -> AsyncIterator[SharedState]:
    url = redis_url.get_secret_value()
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
        limits = RedisStorage(
            limits_uri(url),
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix=LIMITS_KEY_PREFIX,
            connection_pool=limits_pool,
        )
        yield SharedState(
            limits=lambda: limits,
            # Redis itself bounds the total (the cache Redis's maxmemory with LRU eviction);
            # entries expire with the cache TTL, and no single answer may take more than the
            # whole cache budget.
            answers=RedisAnswers(
                LimitSizeWrapper(
                    RedisStore(client=cache_redis),
                    max_size=settings.cache_max_bytes,
                    raise_on_too_large=False,
                )
            ),
            ledger=RedisLedger(redis),
            reservations=RedisReservations(redis),
        )


def limits_uri(url: str) -> str:
    """The `limits` spelling of a Redis URL: redis://h -> async+redis://h, unix:// too."""
    scheme, _, rest = url.partition("://")
    return f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}"
