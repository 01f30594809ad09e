"""Checking a call's model against OpenRouter's catalog, and pricing it, before any work.

Refused before the image is loaded and without a chat request: an id the catalog does not
know (MODEL_NOT_FOUND), a model that cannot read images (MODEL_NO_VISION), both naming cheap
vision models to use instead; and, when a budget or a per-call ceiling is set, a model whose
price is not fixed (a router such as openrouter/auto, or `:online` web search) with
COST_LIMIT_EXCEEDED. With limits set, every request is sent with `provider.max_price` at the
prices its reservation assumed, so OpenRouter itself refuses an endpoint that charges more
(models are served by several providers, not all at the listed price; `:nitro` and `:floor`
pick among them).

Every model that may serve the call is checked and priced: the call's own, then each of
IMAGE_MCP_FALLBACK_MODELS, which OpenRouter tries in order when the one before fails. With
limits set and fallbacks, one `provider.max_price` covers them all, so both it and the
reservation take, field by field, the highest of their prices: whichever model answers, at
whichever endpoint, the call cannot cost more than it held. The operator's provider
preferences (openrouter/routing.py) go in the same `provider` object.

If the catalog was never fetched (OpenRouter unreachable since start-up), calls go ahead
unchecked when no limit is set; with limits they fail closed, retryably.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ErrorCode, ToolFailure
from ..imaging import target_for_model
from ..openrouter.catalog import Catalog, Lookup, ModelCatalog, ModelPricing
from ..openrouter.routing import models_to_try, provider_preferences
from ..settings import Settings
from .pricing import Candidate

SUGGESTIONS = 3
FALLBACK_SETTING = "IMAGE_MCP_FALLBACK_MODELS"


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """A call's model as the catalog knows it, and what its requests must carry."""

    model: str
    candidates: tuple[Candidate, ...]  # empty: not priced (no catalog, no limits to keep)
    provider: dict[str, Any] | None  # `provider` routing preferences for the request
    catalog: Catalog | None = None
    fallbacks: tuple[str, ...] = ()  # tried in order after `model`

    @property
    def models(self) -> tuple[str, ...] | None:
        """The request's `models` list: `model`, then its fallbacks; None without fallbacks."""
        return (self.model, *self.fallbacks) if self.fallbacks else None

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
        models = models_to_try(model, self._settings.fallback_models)
        fallbacks = models[1:]
        catalog = await self._catalog.current()
        if catalog is None:
            if self.limits_set:
                raise self._no_catalog()
            return self._plan(model, fallbacks, (), catalog)
        unpriced = self._plan(model, fallbacks, (), catalog)
        pricings = [self._pricing(catalog, name, unpriced) for name in models]
        priced = [pricing for pricing in pricings if pricing is not None]
        if len(priced) < len(pricings):  # a price that is not fixed, and no limits to keep
            return unpriced
        ceiling = _ceiling(priced)
        families = dict.fromkeys(self._family(name) for name in models)
        candidates = tuple(Candidate(family, ceiling) for family in families)
        max_price = ceiling.per_million() if self.limits_set else None
        return self._plan(model, fallbacks, candidates, catalog, max_price)

    def _plan(
        self,
        model: str,
        fallbacks: tuple[str, ...],
        candidates: tuple[Candidate, ...],
        catalog: Catalog | None,
        max_price: dict[str, float] | None = None,
    ) -> ModelPlan:
        provider = provider_preferences(self._settings)
        if max_price is not None:
            provider["max_price"] = max_price
        return ModelPlan(model, candidates, provider or None, catalog, fallbacks)

    def _pricing(self, catalog: Catalog, name: str, plan: ModelPlan) -> ModelPricing | None:
        """`name`'s fixed prices (None: not fixed), or the refusal of a model that may not
        serve the call: unknown, blind, or not priceable while limits are set."""
        found = catalog.lookup(name)
        if found.info is None:
            raise self._refusal(ErrorCode.MODEL_NOT_FOUND, plan, name, _unknown(name))
        if not found.info.reads_images:
            raise self._refusal(ErrorCode.MODEL_NO_VISION, plan, name, _blind(name))
        pricing = None if found.kind == "plugin" else found.info.pricing
        if pricing is None and self.limits_set:
            raise self._refusal(ErrorCode.COST_LIMIT_EXCEEDED, plan, name, _unpriced(found))
        return pricing

    def _family(self, model: str) -> str:
        return target_for_model(model, "auto", self._settings).family

    def _refusal(self, code: ErrorCode, plan: ModelPlan, name: str, what: str) -> ToolFailure:
        alternatives = ", ".join(plan.alternatives(self._settings.allowed_models))
        if name != plan.model:
            instead = f" (e.g. with {alternatives})" if alternatives else ""
            return ToolFailure(
                code,
                f"{what}, a fallback {FALLBACK_SETTING} adds to every call; the server's "
                f"operator must remove or replace it{instead}.",
            )
        instead = f"; use one of: {alternatives}" if alternatives else ""
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


def _ceiling(pricings: list[ModelPricing]) -> ModelPricing:
    """Field by field, the highest of `pricings`: no endpoint of any of them costs more."""
    return ModelPricing(
        prompt=max(p.prompt for p in pricings),
        completion=max(p.completion for p in pricings),
        request=max(p.request for p in pricings),
        image=max(p.image for p in pricings),
    )
