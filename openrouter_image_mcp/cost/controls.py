"""Every cost control a tool call passes through, in the order the pipeline calls them.

- `plan`: the model checked and priced against OpenRouter's catalog, before any work;
- `admit`: the rate limit (per client and tool), then the daily budgets, before any work;
- `cached`: the answer cache, keyed on the image's content; a hit ends the call;
- `share`: identical calls under way share one upstream request, whose answer is cached;
- `gate`: the cap on upstream requests at once, wrapped around the OpenRouter call;
- `meter`: what pays for each upstream request: a hold before it, settled to its cost after.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from ..openrouter.catalog import ModelCatalog
from ..settings import Settings
from ..telemetry.metrics import Metrics
from .budget import Budget
from .cache import AnswerCache, Reply, Served
from .inflight import InFlight
from .ledger import Counter, Tally, UtcDay
from .metering import CallMeter
from .model_plan import ModelPlan, ModelPlanner
from .outage import StoreUnavailable, refusal
from .slots import UpstreamSlots
from .state import SharedState, open_shared_state

if TYPE_CHECKING:
    from .ratelimit import RateLimits

logger = logging.getLogger(__name__)

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")

# A hold outlives its request by this much before it expires into spend (see reservations.py).
HOLD_GRACE_S = 60.0


class CostControls:
    def __init__(
        self, settings: Settings, state: SharedState, catalog: ModelCatalog, metrics: Metrics
    ) -> None:
        self._settings = settings
        self._state = state
        self._metrics = metrics
        self._ledger = state.ledger
        self._budget = Budget(
            state.reservations,
            per_client_usd=settings.budget_usd_per_day,
            global_usd=settings.global_budget_usd_per_day,
            hold_ttl_s=settings.upstream_timeout_s + HOLD_GRACE_S,
        )
        self._planner = ModelPlanner(settings, catalog)
        self._cache = AnswerCache(state.answers, settings.cache_ttl_s)
        self._in_flight: InFlight[Reply] = InFlight()
        self._slots = UpstreamSlots(settings.max_concurrency, settings.queue_timeout_s, metrics)
        metrics.watch_queue("upstream_slots", self._slots.waiting)

    @cached_property
    def _rate_limits(self) -> RateLimits:
        # Made on the first call: `limits` is not imported to start the server.
        from .ratelimit import RateLimits

        return RateLimits(self._state.limits(), self._settings.rate_limit)

    async def plan(self, model: str) -> ModelPlan:
        """`model` checked against the catalog and priced; raises the refusal (see model_plan)."""
        return await self._planner.plan(model)

    def meter(self, client: str, plan: ModelPlan) -> CallMeter:
        """The meter that pays for one call's upstream requests, charged to `client`."""
        return CallMeter(self._budget, client, plan, settings=self._settings, metrics=self._metrics)

    async def admit(self, client: str, tool: str) -> None:
        """Raise RATE_LIMITED or BUDGET_EXCEEDED, or count the call as admitted."""
        day = UtcDay.now()
        try:
            with self._metrics.counting_refusals("rate_limit"):
                await self._rate_limits.hit(client, tool)
            with self._metrics.counting_refusals("budget"):
                await self._budget.admit(client, day)
        except StoreUnavailable as outage:
            logger.error("%s (%s); refusing calls until it answers", outage, outage.__cause__)
            raise refusal(outage) from None
        await self._count(day, client, "calls")

    async def cached(self, key: str, client: str) -> Served | None:
        reply = await self._cache.get(key)
        if reply is None:
            return None
        self._metrics.cache_event("hit")
        await self._count(UtcDay.now(), client, "hits")
        return Served(reply, "hit")

    async def share(self, key: str, client: str, produce: Callable[[], Awaitable[Reply]]) -> Served:
        """`produce`'s reply, run once for every identical call under way at the same time.

        The spend is charged (by `produce`'s meter) to the client whose call started the work;
        the calls that joined it cost nothing.
        """

        async def work() -> Reply:
            reply = await produce()
            await self._cache.put(key, reply)
            return reply

        self._metrics.cache_event("shared" if self.under_way(key) else "miss")
        reply, joined = await self._in_flight.run(key, work)
        if not joined:
            return Served(reply, "miss")
        await self._count(UtcDay.now(), client, "shared")
        return Served(reply, "shared")

    def under_way(self, key: str) -> bool:
        """Whether an identical call is under way now, so `share` would join it."""
        return key in self._in_flight

    def gate(
        self, call: Callable[[RequestT], Awaitable[ResultT]]
    ) -> Callable[[RequestT], Awaitable[ResultT]]:
        """`call` (an upstream request) run within the concurrency cap."""
        return self._slots.gate(call)

    async def usage(self, viewer: str | None) -> dict[str, Any]:
        """Today's counters: only `viewer`'s, or every client's and the total when `viewer` is
        None (an administrator, or a server without authentication). Raises `StoreUnavailable`.
        """
        day = UtcDay.now()
        tallies = await self._ledger.read(day)
        report: dict[str, Any] = {
            "day": day.key,
            "resets_in_s": int(day.seconds_left()),
            "shared_across_replicas": self._settings.redis_url is not None,
            "budgets_usd": {
                "per_client": self._settings.budget_usd_per_day,
                "global": self._settings.global_budget_usd_per_day,
                "per_call": self._settings.max_cost_per_call_usd,
            },
        }
        if viewer is not None:
            return {**report, "clients": {viewer: tallies.get(viewer, Tally()).as_json()}}
        return {
            **report,
            "clients": {name: tallies[name].as_json() for name in sorted(tallies)},
            "total": Tally.total(tallies.values()).as_json(),
        }

    async def aclose(self) -> None:
        await self._in_flight.aclose()

    async def _count(self, day: UtcDay, client: str, counter: Counter) -> None:
        # Counting is for visibility (spend is settled by the meter): it never fails a call.
        try:
            await self._ledger.add(day, client, counter)
        except StoreUnavailable as outage:
            logger.warning("%s; %s for client %s not counted", outage, counter, client)


@asynccontextmanager
async def open_cost_controls(
    settings: Settings, catalog: ModelCatalog, metrics: Metrics
) -> AsyncIterator[CostControls]:
    async with open_shared_state(settings) as state:
        controls = CostControls(settings, state, catalog, metrics)
        try:
            yield controls
        finally:
            await controls.aclose()
