"""Checking a call's model against OpenRouter's catalog, and pricing it, before any work.

Refused before the image is loaded and without a chat request: an id the catalog does not
know (MODEL_NOT_FOUND), a model that cannot read images (MODEL_NO_VISION), both naming cheap
vision models to use instead; and, when a budget or a per-call ceiling is set, a model whose
price is not fixed (a router such as openrouter/auto, or `:online` web search) with
COST_LIMIT_EXCEEDED. With limits set, every request is sent with `provider.max_price` at the
prices its reservation assumed, so OpenRouter itself refuses an endpoint that charges more
(models are served by several providers, not all at the listed price; `:nitro` and `:floor`
pick among them).

If the catalog was never fetched (OpenRouter unreachable since start-up), calls go ahead
unchecked when no limit is set; with limits they fail closed, retryably.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ErrorCode, ToolFailure
from ..imaging import target_for_model
from ..openrouter.catalog import Catalog, Lookup, ModelCatalog
from ..settings import Settings
from .pricing import Candidate

SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """A call's model as the catalog knows it, and what its requests must carry."""

    model: str
    candidates: tuple[Candidate, ...]  # empty: not priced (no catalog, no limits to keep)
    provider: dict[str, Any] | None  # `provider` routing preferences for the request
    catalog: Catalog | None = None

    def alternatives(self, allowed: list[str]) -> list[str]:
        """Cheap vision models to suggest instead, within the allow-list if there is one."""
        if self.catalog is None:
            return []
        cheap = self.catalog.cheap_vision_models(SUGGESTIONS + 1, allowed)
        return [model for model in cheap if model != self.model][:SUGGESTIONS]


class ModelPlanner:
    def __init__(self, settings: Settings, catalog: ModelCatalog) -> None:
        self._settings = settings
        self._catalog = catalog

    @property
    def limits_set(self) -> bool:
        settings = self._settings
        limits = (
            settings.budget_usd_per_day,
            settings.global_budget_usd_per_day,
            settings.max_cost_per_call_usd,
        )
        return any(limit is not None for limit in limits)

    async def plan(self, model: str) -> ModelPlan:
        """The plan for `model`, or the ToolFailure that refuses it (see the module doc)."""
        catalog = await self._catalog.current()
        if catalog is None:
            if self.limits_set:
                raise self._no_catalog()
            return ModelPlan(model, (), None)
        found = catalog.lookup(model)
        unpriced = ModelPlan(model, (), None, catalog)
        if found.info is None:
            raise self._refusal(ErrorCode.MODEL_NOT_FOUND, unpriced, _unknown(model))
        if not found.info.reads_images:
            raise self._refusal(ErrorCode.MODEL_NO_VISION, unpriced, _blind(model))
        pricing = None if found.kind == "plugin" else found.info.pricing
        if pricing is None:
            if self.limits_set:
                raise self._refusal(ErrorCode.COST_LIMIT_EXCEEDED, unpriced, _unpriced(found))
            return unpriced
        family = target_for_model(model, "auto", self._settings).family
        provider = {"max_price": pricing.per_million()} if self.limits_set else None
        return ModelPlan(model, (Candidate(family, pricing),), provider, catalog)

    def _refusal(self, code: ErrorCode, plan: ModelPlan, what: str) -> ToolFailure:
        alternatives = plan.alternatives(self._settings.allowed_models)
        instead = f"; use one of: {', '.join(alternatives)}" if alternatives else ""
        return ToolFailure(code, f"{what}{instead} (or omit `model` for the default).")

    def _no_catalog(self) -> ToolFailure:
        return ToolFailure(
            ErrorCode.UPSTREAM_UNAVAILABLE,
            "This server could not fetch OpenRouter's model list and prices (GET /models), "
            "which its spend limits need to price a call before sending it; retry shortly.",
            retry_after_s=self._catalog.retry_after_s,
        )


def _unknown(model: str) -> str:
    return f"OpenRouter has no model '{model[:100]}'"


def _blind(model: str) -> str:
    return f"Model '{model[:100]}' does not accept images"


def _unpriced(found: Lookup) -> str:
    what = "web search (:online)" if found.kind == "plugin" else "a price that is not fixed"
    return f"This server has spend limits and cannot bound the cost of a model with {what}"
