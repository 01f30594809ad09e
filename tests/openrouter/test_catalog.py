"""The model catalog: parsing GET /models, looking model ids up, keeping the last good copy."""

from __future__ import annotations

import json
import time

import anyio
import httpx2
import pytest

from openrouter_image_mcp.openrouter import OpenRouterClient
from openrouter_image_mcp.openrouter.catalog import (
    Catalog,
    ModelCatalog,
    ModelPricing,
    parse_catalog,
    running_catalog,
)
from tests.fake_catalog import CATALOGUE
from tests.fake_openrouter import FakeOpenRouter

LISTING = json.dumps({"data": [model.listing() for model in CATALOGUE]}).encode()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_catalog(LISTING)


def test_prices_are_parsed_per_token_with_request_and_image_prices(catalog: Catalog) -> None:
    flash = catalog.models["google/gemini-2.5-flash"]
    llama = catalog.models["meta-llama/llama-3.2-90b-vision-instruct"]

    assert flash.pricing == ModelPricing(prompt=3e-7, completion=2.5e-6)
    assert flash.reads_images
    assert llama.pricing == ModelPricing(3.5e-7, 4e-7, request=0.0002, image=0.0005058)
    assert not catalog.models["meta-llama/llama-3.3-70b-instruct"].reads_images


def test_a_router_with_a_variable_price_has_no_pricing(catalog: Catalog) -> None:
    assert catalog.models["openrouter/auto"].pricing is None


def test_reasoning_priced_above_completion_is_what_completion_costs() -> None:
    entry = {
        "id": "x/thinker",
        "architecture": {"input_modalities": ["image", "text"]},
        "pricing": {
            "prompt": "0.000001",
            "completion": "0.000002",
            "internal_reasoning": "0.00001",
        },
    }
    parsed = parse_catalog(json.dumps({"data": [entry]}).encode())

    assert parsed.models["x/thinker"].pricing == ModelPricing(prompt=1e-6, completion=1e-5)


def test_malformed_entries_are_skipped_and_a_useless_body_refused() -> None:
    body = {"data": [{"id": 3}, "nonsense", {"id": "ok/model", "pricing": {"prompt": "x"}}]}
    parsed = parse_catalog(json.dumps(body).encode())

    assert list(parsed.models) == ["ok/model"]
    assert parsed.models["ok/model"].pricing is None
    for raw in (b"<html>", b'{"data": []}', b'{"models": 1}'):
        with pytest.raises(ValueError, match="GET /models"):
            parse_catalog(raw)


@pytest.mark.parametrize(
    ("model_id", "kind", "listed_as"),
    [
        ("google/gemini-2.5-flash", "listed", "google/gemini-2.5-flash"),
        ("qwen/qwen3.8-27b:free", "listed", "qwen/qwen3.8-27b:free"),
        ("qwen/qwen2.5-vl-72b-instruct:nitro", "routed", "qwen/qwen2.5-vl-72b-instruct"),
        ("google/gemini-2.5-flash:floor", "routed", "google/gemini-2.5-flash"),
        ("openai/gpt-5-mini:exacto", "routed", "openai/gpt-5-mini"),
        ("google/gemini-2.5-flash:online", "plugin", "google/gemini-2.5-flash"),
        ("google/gemini-2.5-flash:free", "unknown", None),
        ("google/gemini-2.5-flash:turbo", "unknown", None),
        ("acme/ghost-1", "unknown", None),
        ("acme/ghost-1:nitro", "unknown", None),
    ],
)
def test_variant_suffixes_are_looked_up_deliberately(
    catalog: Catalog, model_id: str, kind: str, listed_as: str | None
) -> None:
    found = catalog.lookup(model_id)

    assert found.kind == kind
    assert (found.info.id if found.info else None) == listed_as


def test_cheap_vision_suggestions_are_paid_fixed_price_vision_models(catalog: Catalog) -> None:
    cheap = catalog.cheap_vision_models(3)

    assert cheap == [
        "openai/gpt-5-nano",
        "google/gemini-2.5-flash-lite",
        "qwen/qwen2.5-vl-72b-instruct",
    ]
    allowed = ["openai/o1-pro", "google/gemini-2.5-flash", "meta-llama/llama-3.3-70b-instruct"]
    assert catalog.cheap_vision_models(3, allowed) == [
        "google/gemini-2.5-flash",
        "openai/o1-pro",
    ]


def test_max_price_is_per_million_tokens_and_never_below_the_price() -> None:
    pricing = ModelPricing(prompt=3e-7, completion=2.5e-6, request=0.0002, image=0.0005058)

    max_price = pricing.per_million()

    assert max_price == {"prompt": 0.3, "completion": 2.5, "request": 0.0002, "image": 0.0005058}
    assert max_price["prompt"] >= pricing.prompt * 1e6


# --- Keeping it fresh -----------------------------------------------------------------------


class Upstream:
    """GET /models answers from a list of outcomes, then the last one forever."""

    def __init__(self, *outcomes: bytes | Exception) -> None:
        self.outcomes = list(outcomes)
        self.fetches = 0

    async def __call__(self) -> bytes:
        self.fetches += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def fast_catalog(upstream: Upstream, **timing: float) -> ModelCatalog:
    defaults = {"refresh_s": 3600, "retry_base_s": 0.05, "cooldown_s": 0.2, "wait_s": 2}
    return ModelCatalog(upstream, **{**defaults, **timing})


async def test_a_call_waits_for_the_first_fetch_under_way() -> None:
    upstream = Upstream(LISTING)
    async with running_catalog(fast_catalog(upstream)) as models:
        found = await models.current()

    assert found is not None
    assert "google/gemini-2.5-flash" in found.models
    assert upstream.fetches == 1


async def test_failures_are_retried_with_backoff_and_calls_do_not_wait_meanwhile() -> None:
    upstream = Upstream(OSError("refused"), OSError("refused"), LISTING)
    async with running_catalog(fast_catalog(upstream)) as models:
        assert await models.current() is None  # the first fetch failed
        started = time.perf_counter()
        assert await models.current() is None  # within the cooldown: no wait at all
        assert time.perf_counter() - started < 0.05
        assert models.retry_after_s >= 1
        with anyio.fail_after(5):
            while await models.current() is None:
                await anyio.sleep(0.02)

    assert upstream.fetches == 3


async def test_the_last_good_copy_is_kept_when_a_refresh_fails() -> None:
    upstream = Upstream(LISTING, OSError("down"))
    async with running_catalog(fast_catalog(upstream, refresh_s=0.05)) as models:
        first = await models.current()
        with anyio.fail_after(5):
            while upstream.fetches < 3:
                await anyio.sleep(0.02)
        assert await models.current() is first


async def test_start_up_never_waits_on_an_unreachable_catalog() -> None:
    async def hanging() -> bytes:
        await anyio.sleep_forever()
        raise AssertionError

    started = time.perf_counter()
    async with running_catalog(ModelCatalog(hanging, wait_s=0.1)) as models:
        opened = time.perf_counter() - started
        assert await models.current() is None  # waited 0.1 s for the fetch, then went on

    assert opened < 0.05


async def test_the_fake_serves_the_catalog_and_can_be_made_unreachable(
    fake: FakeOpenRouter,
) -> None:
    client = OpenRouterClient(fake.settings())
    try:
        assert parse_catalog(await client.models()).models
        fake.models_status = 503
        with pytest.raises(httpx2.HTTPStatusError, match="503"):
            await client.models()
    finally:
        await client.aclose()
