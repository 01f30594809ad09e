"""The answer cache: a successful answer, kept for `cache_ttl_s` under its content key.

Only answers are cached, never errors and never the image. The store is any py-key-value
store (bounded memory, or Redis shared by every replica). The cache fails open: if the store
cannot be read or written, the call goes on without it and the outage is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from key_value.aio.errors import BaseKeyValueError
from key_value.aio.protocols.key_value import AsyncKeyValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

COLLECTION = "image-mcp-answers"
STORE_ERRORS = (BaseKeyValueError, RedisError, OSError)

CacheStatus = Literal["hit", "miss", "shared"]


class Reply(BaseModel):
    """A successful answer as the cache keeps it: what the agent sees, minus timings."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str
    structured: dict[str, Any] | None = None
    meta: dict[str, Any]
    cost_usd: float = Field(default=0.0, ge=0)
    created_at: float = Field(default_factory=time.time)  # epoch seconds


@dataclass(frozen=True, slots=True)
class Served:
    """A reply and how this call got it."""

    reply: Reply
    cache: CacheStatus

    def meta(self) -> dict[str, Any]:
        """The reply's `_meta` for this call: a hit or a shared answer cost this call nothing,
        and says what it saved."""
        meta = {**self.reply.meta, "cache": self.cache}
        if self.cache == "miss":
            return meta
        meta["usage"] = {**meta.get("usage", {}), "cost": 0.0}
        meta["cache_saved_usd"] = self.reply.cost_usd
        if self.cache == "hit":
            meta["cache_age_s"] = round(max(time.time() - self.reply.created_at, 0.0), 3)
        return meta


class AnswerCache:
    """`get`/`put` replies by key; a TTL of 0 turns the cache off."""

    def __init__(self, store: AsyncKeyValue, ttl_s: int) -> None:
        self._store = store
        self._ttl_s = ttl_s

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    async def get(self, key: str) -> Reply | None:
        if not self.enabled:
            return None
        try:
            value = await self._store.get(key, collection=COLLECTION)
        except STORE_ERRORS:
            logger.warning("answer cache unreachable; answering without it", exc_info=True)
            return None
        if value is None:
            return None
        try:
            return Reply.model_validate(value)
        except ValidationError:
            logger.warning("ignoring an answer cache entry that does not parse")
            return None

    async def put(self, key: str, reply: Reply) -> None:
        if not self.enabled:
            return
        try:
            await self._store.put(
                key, reply.model_dump(mode="json"), collection=COLLECTION, ttl=self._ttl_s
            )
        except STORE_ERRORS:
            logger.warning("answer cache unreachable; this answer was not cached", exc_info=True)
