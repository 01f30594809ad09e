"""The answer cache: a successful answer, kept for `cache_ttl_s` under its content key.

Only answers are cached, never errors and never the image. The store is bounded memory in
this process (memory_store.py) or py-key-value's Redis store shared by every replica
(redis_state.py). The cache fails open: if the store cannot be read or written, the call goes
on without it and the outage is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, SupportsFloat

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .outage import StoreUnavailable

logger = logging.getLogger(__name__)

COLLECTION = "image-mcp-answers"

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


class AnswerStore(Protocol):
    """Where answers are kept (py-key-value's calls); raises `StoreUnavailable` when unreachable."""

    async def get(self, key: str, *, collection: str) -> dict[str, Any] | None: ...

    async def put(
        self, key: str, value: Mapping[str, Any], *, collection: str, ttl: SupportsFloat | None
    ) -> None: ...


class AnswerCache:
    """`get`/`put` replies by key; a TTL of 0 turns the cache off."""

    def __init__(self, store: AnswerStore, ttl_s: int) -> None:
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
        except StoreUnavailable:
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
        except StoreUnavailable:
            logger.warning("answer cache unreachable; this answer was not cached", exc_info=True)
