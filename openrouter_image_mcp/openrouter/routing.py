"""Which models and providers may serve a request: the operator's routing and privacy
preferences, as OpenRouter's `models` list and `provider` object.

Nothing is sent for what is not set, so OpenRouter's own defaults apply: price-weighted load
balancing over every provider of the one requested model. Spend control adds
`provider.max_price` and structured output `provider.require_parameters` on top (see
cost/model_plan.py and analysis/structured.py).
"""

from __future__ import annotations

from typing import Any

from ..settings import Settings


def models_to_try(model: str, fallbacks: list[str]) -> tuple[str, ...]:
    """`model` first, then each fallback (IMAGE_MCP_FALLBACK_MODELS) not already listed."""
    return tuple(dict.fromkeys((model, *fallbacks)))


def provider_preferences(settings: Settings) -> dict[str, Any]:
    """The `provider` fields the settings ask for; empty when none is set."""
    preferences: dict[str, Any] = {}
    if settings.provider_order:
        preferences["order"] = list(settings.provider_order)
    if settings.provider_ignore:
        preferences["ignore"] = list(settings.provider_ignore)
    if settings.provider_sort is not None:
        preferences["sort"] = settings.provider_sort
    if settings.provider_data_collection is not None:
        preferences["data_collection"] = settings.provider_data_collection
    if settings.provider_zdr:
        preferences["zdr"] = True
    return preferences
