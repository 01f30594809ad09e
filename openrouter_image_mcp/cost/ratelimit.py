"""Per-client, per-tool call rate limits (IMAGE_MCP_RATE_LIMIT), counted in a moving window.

Every tool call is counted, before the cache is consulted: a cache hit still loads the
image (a file read, or a download from someone's server), so a runaway loop of identical
calls must be stopped here too. Fails closed when the shared store is unreachable.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from ..errors import ErrorCode, ToolFailure
from .outage import StoreUnavailable


class RateLimits:
    def __init__(self, storage: Storage, spec: str) -> None:
        self._items: list[RateLimitItem] = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, client: str, tool: str) -> None:
        """Count one call against each limit; raise RATE_LIMITED at the first one used up."""
        try:
            for item in self._items:
                if not await self._limiter.hit(item, client, tool):
                    raise await self._refusal(item, client, tool)
        except StorageError as error:
            raise StoreUnavailable("rate limits") from error

    async def _refusal(self, item: RateLimitItem, client: str, tool: str) -> ToolFailure:
        stats = await self._limiter.get_window_stats(item, client, tool)
        wait_s = max(stats.reset_time - time.time(), 0.0)
        return ToolFailure(
            ErrorCode.RATE_LIMITED,
            f"Client '{client}' made too many {tool} calls (this server allows {item}); "
            f"retry in {math.ceil(wait_s)} s.",
            retry_after_s=wait_s,
        )
