"""One server's Prometheus metrics, in a registry of its own.

Each server has its own `CollectorRegistry` rather than prometheus_client's global one: a
process may run several servers (the tests do), and each replica exposes only what it did;
Prometheus sums the replicas. Label values come from small fixed sets (tool names, error
codes, stage names), never from callers, except the client label IMAGE_MCP_METRICS_PER_CLIENT
adds to the call and cost counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)

from ..errors import ToolFailure
from ..settings import Settings

# The `_created` series would double the number of series for no use on a dashboard.
disable_created_metrics()

# From cache hits and refusals (milliseconds) to slow models with a repair request (minutes).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
TOTAL = "total"
"""The key of the whole call's time in `_meta.timings_ms`; the other keys are stages."""

CacheResult = Literal["hit", "miss", "shared"]
Refusal = Literal["rate_limit", "upstream_queue", "budget", "cost_limit"]
Queue = Literal["upstream_slots", "image_workers"]


class Metrics:
    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._per_client = settings.metrics_per_client
        client = ["client"] if self._per_client else []
        registry = self.registry
        self._calls = Counter(
            "image_mcp_tool_calls",
            "Tool calls by tool and outcome: OK or the error code (refusals before the tool ran "
            "included).",
            ["tool", "code", *client],
            registry=registry,
        )
        self._call_seconds = Histogram(
            "image_mcp_tool_call_seconds",
            "Time from a tool call's start to its result, errors included.",
            ["tool"],
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self._stage_seconds = Histogram(
            "image_mcp_stage_seconds",
            "Time spent in each stage of a call: load, prepare, upstream (as _meta.timings_ms).",
            ["stage"],
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self._upstream_requests = Counter(
            "image_mcp_upstream_requests",
            "Requests sent to OpenRouter (retries and repair requests included), by outcome.",
            ["code"],
            registry=registry,
        )
        self._upstream_cost = Counter(
            "image_mcp_upstream_cost_usd",
            "US dollars charged for upstream requests: what OpenRouter billed, or the whole "
            "hold when that is unknown; the same sums as GET /usage.",
            client,
            registry=registry,
        )
        self._upstream_tokens = Counter(
            "image_mcp_upstream_tokens",
            "Tokens in OpenRouter's answers, by kind: prompt or completion.",
            ["kind"],
            registry=registry,
        )
        self._cache = Counter(
            "image_mcp_cache_events",
            "Calls that reached the answer cache: hit, miss (asked the model), or shared (joined "
            "an identical call under way).",
            ["result"],
            registry=registry,
        )
        self._refusals = Counter(
            "image_mcp_refusals",
            "Requests refused by a limit: rate_limit, upstream_queue (no upstream slot in time), "
            "budget, cost_limit.",
            ["reason"],
            registry=registry,
        )
        self._queue_depth = Gauge(
            "image_mcp_queue_depth",
            "Calls waiting now: for an upstream slot, or for an image worker.",
            ["queue"],
            registry=registry,
        )
        budgets = Gauge(
            "image_mcp_daily_budget_usd",
            "The daily spend limits in US dollars, by scope: client (IMAGE_MCP_BUDGET_USD_PER_DAY, "
            "each client's) and server (IMAGE_MCP_GLOBAL_BUDGET_USD_PER_DAY); absent when unset.",
            ["scope"],
            registry=registry,
        )
        for scope, usd in (
            ("client", settings.budget_usd_per_day),
            ("server", settings.global_budget_usd_per_day),
        ):
            if usd is not None:
                budgets.labels(scope).set(usd)
        ProcessCollector(registry=registry)

    def observe_call(
        self, tool: str, code: str, client: str, timings_ms: Mapping[str, float]
    ) -> None:
        """Count one finished tool call; `timings_ms` as `_meta.timings_ms` has them: the
        stages' and the whole call's (`total`)."""
        self._calls.labels(tool, code, *self._client(client)).inc()
        for stage, milliseconds in timings_ms.items():
            if stage == TOTAL:
                self._call_seconds.labels(tool).observe(milliseconds / 1000)
            else:
                self._stage_seconds.labels(stage).observe(milliseconds / 1000)

    def observe_upstream(
        self,
        code: str,
        charged_usd: float,
        client: str,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> None:
        """Count one upstream request, what it was charged and the tokens its answer reports."""
        self._upstream_requests.labels(code).inc()
        cost = self._upstream_cost.labels(client) if self._per_client else self._upstream_cost
        cost.inc(charged_usd)
        self._upstream_tokens.labels("prompt").inc(prompt_tokens or 0)
        self._upstream_tokens.labels("completion").inc(completion_tokens or 0)

    def cache_event(self, result: CacheResult) -> None:
        self._cache.labels(result).inc()

    def refused(self, reason: Refusal) -> None:
        self._refusals.labels(reason).inc()

    @contextmanager
    def counting_refusals(self, reason: Refusal) -> Iterator[None]:
        """Count a `ToolFailure` raised in the block as a refusal for `reason`."""
        try:
            yield
        except ToolFailure:
            self.refused(reason)
            raise

    def watch_queue(self, queue: Queue, depth: Callable[[], int]) -> None:
        """Report `depth()` as the queue's depth whenever metrics are read."""
        self._queue_depth.labels(queue).set_function(depth)

    def _client(self, client: str) -> tuple[str, ...]:
        return (client,) if self._per_client else ()
