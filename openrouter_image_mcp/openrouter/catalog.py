"""OpenRouter's model catalog (public GET /models): which models exist, what they read, prices.

`ModelCatalog` keeps the last good copy: the first fetch starts in the background with the
server (start-up never waits on it), then it is refreshed hourly; a failed fetch is retried
with exponential backoff while the last good copy stays in use. A call that needs the catalog
before it was ever fetched waits briefly for a fetch (at most one every `cooldown_s`), and
otherwise goes on without it.

How a model id is looked up (`Catalog.lookup`):
- an id listed as it is is that model, with its own prices (`:free` variants are listed ids);
- a listed id with a routing suffix (`:nitro`, `:floor`, `:exacto`) is the same model served by
  another provider: the listed model's prices, which the request must then pin with
  `provider.max_price`, since other providers may charge more;
- a listed id with `:online` adds web search, which the catalog does not price;
- anything else is unknown (OpenRouter answers "not a valid model ID").
A model whose listed price is not fixed (routers such as openrouter/auto list "-1") has no
`pricing`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio

logger = logging.getLogger(__name__)

ROUTING_SUFFIXES = frozenset({"nitro", "floor", "exacto"})
PLUGIN_SUFFIXES = frozenset({"online"})

FetchModels = Callable[[], Awaitable[bytes]]
"""Returns the raw body of GET /models; raises on any failure."""


@dataclass(frozen=True, slots=True)
class ModelPricing:
    """Fixed prices in USD: per prompt token, per completion token, per request, per image."""

    prompt: float
    completion: float  # reasoning tokens included (the larger of the two listed prices)
    request: float = 0.0
    image: float = 0.0

    def per_million(self) -> dict[str, float]:
        """As `provider.max_price` wants them: per million tokens, per request, per image."""
        return {
            "prompt": _round_up(self.prompt * 1e6),
            "completion": _round_up(self.completion * 1e6),
            "request": _round_up(self.request),
            "image": _round_up(self.image),
        }


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    input_modalities: frozenset[str]
    pricing: ModelPricing | None  # None: the price is not fixed (a router)

    @property
    def reads_images(self) -> bool:
        return "image" in self.input_modalities


LookupKind = Literal["listed", "routed", "plugin", "unknown"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a requested model id is: `info` is the listed model it names (None if unknown)."""

    kind: LookupKind
    info: ModelInfo | None


@dataclass(frozen=True, slots=True)
class Catalog:
    models: Mapping[str, ModelInfo]

    def lookup(self, model_id: str) -> Lookup:
        listed = self.models.get(model_id)
        if listed is not None:
            return Lookup("listed", listed)
        base, _, suffix = model_id.partition(":")
        info = self.models.get(base)
        if info is not None and suffix in ROUTING_SUFFIXES:
            return Lookup("routed", info)
        if info is not None and suffix in PLUGIN_SUFFIXES:
            return Lookup("plugin", info)
        return Lookup("unknown", None)

    def cheap_vision_models(self, limit: int, allowed: Iterable[str] = ()) -> list[str]:
        """Up to `limit` paid vision models with fixed prices, cheapest typical call first."""
        allowed_ids = frozenset(allowed)
        candidates = [
            info
            for info in self.models.values()
            if info.reads_images
            and info.pricing is not None
            and _typical_call_usd(info.pricing) > 0
            and (not allowed_ids or info.id in allowed_ids)
        ]
        candidates.sort(key=lambda info: (_typical_call_usd(info.pricing), info.id))  # type: ignore[arg-type]
        return [info.id for info in candidates[:limit]]


def _typical_call_usd(pricing: ModelPricing) -> float:
    # About one image and a short question in, a paragraph out.
    return 1500 * pricing.prompt + 500 * pricing.completion + pricing.request + pricing.image


def _round_up(value: float) -> float:
    # max_price is a ceiling: never round below the price the reservation assumed (the inner
    # round only drops float noise such as 505800.00000000006).
    return math.ceil(round(value * 1e9, 3)) / 1e9


# --- Parsing GET /models ----------------------------------------------------------------------


def parse_catalog(raw: bytes) -> Catalog:
    """The catalog in a GET /models body; ValueError if it is not one. Bad entries are skipped."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError("GET /models did not answer JSON") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ValueError("GET /models did not answer a model list")
    models = {}
    for entry in data:
        info = _model_info(entry)
        if info is not None:
            models[info.id] = info
    if not models:
        raise ValueError("GET /models listed no usable model")
    return Catalog(models=models)


def _model_info(entry: object) -> ModelInfo | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return None
    architecture = _mapping(entry.get("architecture"))
    return ModelInfo(
        id=entry["id"],
        input_modalities=_strings(architecture.get("input_modalities")),
        pricing=_pricing(_mapping(entry.get("pricing"))),
    )


def _pricing(pricing: Mapping[str, Any]) -> ModelPricing | None:
    prompt, completion = _price(pricing.get("prompt")), _price(pricing.get("completion"))
    reasoning = _price(pricing.get("internal_reasoning", "0"))
    request, image = _price(pricing.get("request", "0")), _price(pricing.get("image", "0"))
    if None in (prompt, completion, reasoning, request, image):
        return None
    return ModelPricing(
        prompt=prompt,  # type: ignore[arg-type]
        completion=max(completion, reasoning),  # type: ignore[type-var]
        request=request,  # type: ignore[arg-type]
        image=image,  # type: ignore[arg-type]
    )


def _price(value: object) -> float | None:
    """A listed price (a string of USD); None when missing, negative ("-1": variable) or odd."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        price = float(value)
    except ValueError:
        return None
    return price if math.isfinite(price) and price >= 0 else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> frozenset[str]:
    items = value if isinstance(value, list) else []
    return frozenset(item for item in items if isinstance(item, str))


# --- Keeping it fresh ---------------------------------------------------------------------------


class ModelCatalog:
    """The last good catalog, refreshed in the background by `keep_fresh` (see the module doc)."""

    def __init__(
        self,
        fetch: FetchModels,
        *,
        refresh_s: float = 3600.0,
        retry_base_s: float = 5.0,
        retry_cap_s: float = 300.0,
        cooldown_s: float = 30.0,
        wait_s: float = 5.0,
    ) -> None:
        self._fetch = fetch
        self._refresh_s = refresh_s
        self._retry_base_s = retry_base_s
        self._retry_cap_s = retry_cap_s
        self._cooldown_s = cooldown_s
        self._wait_s = wait_s
        self._catalog: Catalog | None = None
        self._failures = 0
        self._last_attempt = -math.inf  # monotonic
        self._attempting = False
        self._attempted = anyio.Event()  # set when the attempt under way (or next) ends
        self._wanted = anyio.Event()  # set when a call needs a catalog it never had

    @property
    def retry_after_s(self) -> float:
        """When a call refused for want of the catalog should try again."""
        return max(self._cooldown_s - (time.monotonic() - self._last_attempt), 1.0)

    async def current(self) -> Catalog | None:
        """The catalog; if it was never fetched, wait briefly for a fetch (rate-limited)."""
        if self._catalog is not None:
            return self._catalog
        recently_failed = time.monotonic() - self._last_attempt < self._cooldown_s
        if recently_failed and not self._attempting:
            return None
        attempted = self._attempted
        self._wanted.set()
        with anyio.move_on_after(self._wait_s):
            await attempted.wait()
        return self._catalog

    async def keep_fresh(self) -> None:
        """Fetch now, then hourly, retrying failures with backoff; runs until cancelled."""
        while True:
            await self._attempt()
            with anyio.move_on_after(self._next_delay_s()):
                await self._wanted.wait()
            self._wanted = anyio.Event()
            # An on-demand fetch still waits out the cooldown since the last attempt.
            await anyio.sleep(self._cooldown_s - (time.monotonic() - self._last_attempt))

    def _next_delay_s(self) -> float:
        if self._failures == 0:
            return self._refresh_s
        return min(self._retry_cap_s, self._retry_base_s * 2 ** (self._failures - 1))

    async def _attempt(self) -> None:
        self._attempting = True
        self._last_attempt = time.monotonic()
        try:
            raw = await self._fetch()
            catalog = await anyio.to_thread.run_sync(parse_catalog, raw)
        except Exception as error:  # any failure: keep the last good copy and retry later
            self._failures += 1
            logger.warning(
                "could not fetch OpenRouter's model catalog (%s); %s",
                _describe(error),
                "keeping the last good copy" if self._catalog else "no model checks until then",
            )
        else:
            if self._catalog is None:
                logger.info("model catalog fetched: %d models", len(catalog.models))
            self._catalog, self._failures = catalog, 0
        finally:
            self._attempting = False
            attempted, self._attempted = self._attempted, anyio.Event()
            attempted.set()


def _describe(error: Exception) -> str:
    return str(error) if isinstance(error, ValueError) else type(error).__name__


@asynccontextmanager
async def running_catalog(catalog: ModelCatalog) -> AsyncIterator[ModelCatalog]:
    """`catalog`, kept fresh in the background while the context is open."""
    task = asyncio.create_task(catalog.keep_fresh())
    try:
        yield catalog
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
