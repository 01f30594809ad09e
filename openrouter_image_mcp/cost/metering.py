"""Paying for one tool call's upstream requests: hold, settle, and stay under the ceilings.

A `CallMeter` is the `Meter` (openrouter/meter.py) of one call. Before each attempt (retries
and the structured-output repair included) it prices the request's worst case, refuses it if
the call would go over IMAGE_MCP_MAX_COST_PER_CALL_USD (or could never fit a daily budget)
with COST_LIMIT_EXCEEDED, and otherwise holds it against the budgets (BUDGET_EXCEEDED when it
does not fit). After the attempt it settles the hold to what was billed: the reported
`usage.cost`, 0 when the request provably was not billed, the whole hold when nobody knows,
and counts the attempt (its code, charge and tokens) in the metrics and its span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from ..errors import ErrorCode, ToolFailure
from ..openrouter import ChatRequest, Usage
from ..openrouter.meter import CANCELLED
from ..settings import Settings
from ..telemetry import spans
from ..telemetry.metrics import Metrics
from .budget import Budget
from .ledger import dollars
from .model_plan import ModelPlan
from .outage import StoreUnavailable, refusal
from .pricing import ImageSize, RequestSize, completion_floor_usd, worst_case_usd
from .reservations import Hold

CEILING_SETTING = "IMAGE_MCP_MAX_COST_PER_CALL_USD"


@dataclass(frozen=True, slots=True)
class Cap:
    """The most a call's next request may cost, and the setting that says so."""

    usd: float
    setting: str


def daily_caps(settings: Settings) -> tuple[Cap, ...]:
    """No single request can cost more than a whole daily budget."""
    budgets = (
        (settings.budget_usd_per_day, "IMAGE_MCP_BUDGET_USD_PER_DAY"),
        (settings.global_budget_usd_per_day, "IMAGE_MCP_GLOBAL_BUDGET_USD_PER_DAY"),
    )
    return tuple(Cap(budget, name) for budget, name in budgets if budget is not None)


class CallMeter:
    def __init__(
        self,
        budget: Budget,
        client: str,
        plan: ModelPlan,
        *,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self._budget = budget
        self._client = client
        self._plan = plan
        self._metrics = metrics
        self._ceiling_usd = settings.max_cost_per_call_usd
        self._daily_caps = daily_caps(settings)
        self._allowed_models = settings.allowed_models
        self.charged_usd = 0.0  # settled so far, for this call
        # The size of each image as sent, in request order; set once they are prepared.
        self.image_sizes: Sequence[ImageSize] = ()

    @property
    def provider(self) -> dict[str, Any] | None:
        """The `provider` preferences every request of this call must carry (max_price, and
        the operator's routing and privacy preferences)."""
        return self._plan.provider

    @property
    def models(self) -> tuple[str, ...] | None:
        """The `models` list every request of this call carries: its model, then fallbacks."""
        return self._plan.models

    async def reserve(self, request: ChatRequest) -> _Charge:
        worst = self._worst_case_usd(request)
        with self._metrics.counting_refusals("cost_limit"):
            self._check_caps(worst, request.max_tokens)
        try:
            with self._metrics.counting_refusals("budget"):
                hold = await self._budget.hold(self._client, worst or 0.0)
        except StoreUnavailable as outage:
            raise refusal(outage) from None
        return _Charge(self, hold, worst, spans.start_request(request.model))

    async def settle(self, hold: Hold, billed_usd: float | None) -> float:
        """Settle `hold` to what was billed; what this charged."""
        charged = await self._budget.settle(hold, billed_usd)
        self.charged_usd += charged
        return charged

    def observe(self, span: Span, code: str, charged_usd: float, usage: Usage | None) -> None:
        """Count one settled attempt in the metrics, and end its span."""
        prompt = usage.prompt_tokens if usage else None
        completion = usage.completion_tokens if usage else None
        self._metrics.observe_upstream(code, charged_usd, self._client, prompt, completion)
        spans.end_request(span, code, charged_usd, prompt, completion)

    def _worst_case_usd(self, request: ChatRequest) -> float | None:
        if not self._plan.candidates:
            return None
        return worst_case_usd(RequestSize.of(request, self.image_sizes), self._plan.candidates)

    def check_floor(self, max_tokens: int, images: int) -> None:
        """Refuse before any work when the answer alone would break a cap."""
        if self._plan.candidates:
            floor = completion_floor_usd(max_tokens, images, self._plan.candidates)
            with self._metrics.counting_refusals("cost_limit"):
                self._check_caps(floor, max_tokens, at_least=True)

    def _check_caps(self, worst: float | None, max_tokens: int, *, at_least: bool = False) -> None:
        cap = self._tightest_cap()
        if cap is None or worst is None or worst <= cap.usd:
            return
        raise self._too_costly(worst, cap, max_tokens, at_least)

    def _tightest_cap(self) -> Cap | None:
        caps = list(self._daily_caps)
        if self._ceiling_usd is not None:
            caps.append(Cap(self._ceiling_usd - self.charged_usd, CEILING_SETTING))
        return min(caps, key=lambda cap: cap.usd, default=None)

    def _too_costly(self, worst: float, cap: Cap, max_tokens: int, at_least: bool) -> ToolFailure:
        bound = "at least" if at_least else "up to"
        if cap.setting != CEILING_SETTING:
            over = f"more than this server's whole daily budget of {dollars(cap.usd)}"
        elif self.charged_usd:
            over = (
                f"more than the {dollars(max(cap.usd, 0))} left of this server's per-call limit "
                f"after the {dollars(self.charged_usd)} this call already cost"
            )
        else:
            over = f"more than this server's per-call limit of {dollars(cap.usd)}"
        advice = ["detail='low'"]
        fitting = self._fitting_max_tokens(worst, cap, max_tokens)
        if fitting is not None:
            advice.insert(0, f"max_tokens of at most {fitting}")
        alternatives = self._plan.alternatives(self._allowed_models)
        if alternatives:
            advice.append(f"a cheaper model such as {', '.join(alternatives)}")
        return ToolFailure(
            ErrorCode.COST_LIMIT_EXCEEDED,
            f"This request to {self._plan.model} may cost {bound} {dollars(worst)}, {over} "
            f"({cap.setting}); try {', or '.join(advice)}.",
        )

    def _fitting_max_tokens(self, worst: float, cap: Cap, max_tokens: int) -> int | None:
        per_token = max(c.pricing.completion for c in self._plan.candidates)
        if per_token <= 0:
            return None
        fitting = math.floor(max_tokens - (worst - cap.usd) / per_token)
        return fitting if 0 < fitting < max_tokens else None


class _Charge:
    """One attempt's hold, settled to what the attempt recorded, and the attempt's span."""

    def __init__(self, meter: CallMeter, hold: Hold, worst: float | None, span: Span) -> None:
        self._meter = meter
        self._hold = hold
        self._worst = worst
        self._span = span
        self._billed: float | None = None
        self._code = CANCELLED
        self._usage: Usage | None = None

    def record(self, billed_usd: float | None) -> None:
        self._billed = billed_usd

    def report(self, code: str, usage: Usage | None = None) -> None:
        self._code = code
        self._usage = usage

    async def settle(self) -> None:
        billed = self._billed
        if billed is None and self._worst is None:
            billed = 0.0  # unknown and unpriceable: nothing this server can charge
        charged = await self._meter.settle(self._hold, billed)
        self._meter.observe(self._span, self._code, charged, self._usage)
