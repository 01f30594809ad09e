"""Routing and privacy settings reach OpenRouter as its `provider` object and `models` list,
merged with what spend control adds; every fallback model is checked and priced like the
call's own; the review tools always require endpoints that honour their JSON schema."""

from __future__ import annotations

import pytest

from openrouter_image_mcp.cost.pricing import Candidate, RequestSize, worst_case_usd
from openrouter_image_mcp.openrouter import ChatRequest
from openrouter_image_mcp.openrouter.catalog import ModelPricing
from tests.cost.helpers import MakeImage, MakeSettings, analyze, connected, error_of
from tests.fake_catalog import BY_ID
from tests.fake_openrouter import FakeOpenRouter

WEBPAGE = "analyze_webpage_screenshot"
PRIMARY = "google/gemini-2.5-flash"


async def test_by_default_nothing_is_added(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    async with connected(make_settings()) as client:
        result = await analyze(client, make_image())

    body = fake.completions[0].body
    assert "provider" not in body
    assert "models" not in body
    assert result.meta["provider"] == "FakeProvider"


async def test_the_settings_become_the_provider_object_and_the_models_list(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    settings = make_settings(
        provider_zdr=True,
        provider_data_collection="deny",
        provider_sort="throughput",
        provider_order=["privateprovider", "fakeprovider"],
        provider_ignore=["fastprovider"],
        fallback_models=["openai/gpt-5-mini", PRIMARY, "anthropic/claude-sonnet-4.5"],
    )
    async with connected(settings) as client:
        result = await analyze(client, make_image())

    body = fake.completions[0].body
    assert body["provider"] == {
        "order": ["privateprovider", "fakeprovider"],
        "ignore": ["fastprovider"],
        "sort": "throughput",
        "data_collection": "deny",
        "zdr": True,
    }
    # The call's model first, then each fallback once.
    assert body["model"] == PRIMARY
    assert body["models"] == [PRIMARY, "openai/gpt-5-mini", "anthropic/claude-sonnet-4.5"]
    # Only the private endpoint retains nothing and trains on nothing.
    assert (result.meta["model"], result.meta["provider"]) == (PRIMARY, "PrivateProvider")


@pytest.mark.parametrize(
    ("preferences", "provider"),
    [
        ({"provider_sort": "throughput"}, "FastProvider"),
        ({"provider_sort": "latency"}, "FastProvider"),
        ({"provider_order": ["privateprovider"]}, "PrivateProvider"),
        ({"provider_ignore": ["fakeprovider", "privateprovider"]}, "FastProvider"),
        ({"provider_data_collection": "deny"}, "PrivateProvider"),
    ],
)
async def test_each_preference_steers_the_routing(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    preferences: dict[str, object],
    provider: str,
) -> None:
    async with connected(make_settings(**preferences)) as client:
        result = await analyze(client, make_image())

    assert result.meta["provider"] == provider


async def test_spend_limits_add_max_price_to_the_operators_preferences(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    settings = make_settings(provider_zdr=True, max_cost_per_call_usd=0.5)
    async with connected(settings) as client:
        await analyze(client, make_image())

    provider = fake.completions[0].body["provider"]
    assert provider["zdr"] is True
    assert provider["max_price"] == {"prompt": 0.3, "completion": 2.5, "request": 0, "image": 0}


async def test_a_fallback_answers_when_the_model_has_no_qualifying_endpoint(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    """No endpoint of gpt-5-mini retains nothing; the fallback's private endpoint does."""
    settings = make_settings(provider_zdr=True, fallback_models=[PRIMARY])
    async with connected(settings) as client:
        served = await analyze(client, make_image(), model="openai/gpt-5-mini")
    async with connected(make_settings(provider_zdr=True)) as client:
        unmet = await analyze(client, make_image(seed=1), model="openai/gpt-5-mini")

    assert (served.meta["model"], served.meta["provider"]) == (PRIMARY, "PrivateProvider")
    error = error_of(unmet)
    assert error["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["retryable"] is False
    assert "IMAGE_MCP_PROVIDER_" in error["message"]


@pytest.mark.parametrize(
    ("fallback", "code", "says"),
    [
        ("acme/ghost-1", "MODEL_NOT_FOUND", "OpenRouter has no model 'acme/ghost-1'"),
        ("meta-llama/llama-3.3-70b-instruct", "MODEL_NO_VISION", "does not accept images"),
    ],
)
async def test_every_fallback_is_checked_against_the_catalog_before_any_work(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    loaded_paths: list[str],
    fallback: str,
    code: str,
    says: str,
) -> None:
    async with connected(make_settings(fallback_models=[fallback])) as client:
        result = await analyze(client, make_image())

    error = error_of(result)
    assert error["code"] == code
    assert says in error["message"]
    assert "IMAGE_MCP_FALLBACK_MODELS" in error["message"]
    assert loaded_paths == []
    assert fake.completions == []


async def test_an_unpriced_fallback_is_refused_while_limits_are_set(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    settings = make_settings(fallback_models=["openrouter/auto"], budget_usd_per_day=1.0)
    async with connected(settings) as client:
        result = await analyze(client, make_image())

    assert error_of(result)["code"] == "COST_LIMIT_EXCEEDED"
    assert fake.completions == []


async def test_the_worst_case_is_priced_at_the_dearest_model_that_may_answer(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    """A per-call cap the default model's worst case fits under, but not claude-opus's: with
    claude-opus as a fallback the call is refused, as that model may be the one that answers;
    max_price then lets no endpoint charge more than the dearest of them."""
    image = make_image()
    async with connected(make_settings()) as client:
        await analyze(client, image)
    body = fake.completions[0].body
    request = ChatRequest(body["model"], body["messages"], body["max_tokens"])
    size = RequestSize.of(request, [(32, 24)])

    def worst(model: str, family: str) -> float:
        listed = BY_ID[model]
        pricing = ModelPricing(float(listed.prompt), float(listed.completion))
        return worst_case_usd(size, [Candidate(family, pricing)])

    alone, dearest = worst(PRIMARY, "gemini-2"), worst("anthropic/claude-opus-4.7", "claude")
    cap = (alone + dearest) / 2
    fake.reset()
    async with connected(make_settings(max_cost_per_call_usd=cap)) as client:
        fits = await analyze(client, image, max_tokens=body["max_tokens"])
    fallback = make_settings(
        max_cost_per_call_usd=cap, fallback_models=["anthropic/claude-opus-4.7"]
    )
    async with connected(fallback) as client:
        refused = await analyze(client, make_image(seed=1), max_tokens=body["max_tokens"])
    generous = make_settings(max_cost_per_call_usd=1.0, fallback_models=["openai/gpt-5-nano"])
    async with connected(generous) as client:
        await analyze(client, make_image(seed=2))

    assert not fits.is_error
    assert error_of(refused)["code"] == "COST_LIMIT_EXCEEDED"
    assert len(fake.completions) == 2
    # Field by field, the dearer of gemini-2.5-flash and gpt-5-nano: gemini's on both.
    assert fake.completions[-1].body["provider"]["max_price"] == {
        "prompt": 0.3,
        "completion": 2.5,
        "request": 0,
        "image": 0,
    }


async def test_the_review_tools_require_endpoints_that_honour_their_schema(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    """pixtral's first endpoint drops response_format (and answers in prose); the review asks
    for require_parameters, so the endpoint that honours the schema serves it."""
    async with connected(make_settings()) as client:
        review = await client.call_tool(
            WEBPAGE,
            {"image_path": make_image(), "model": "mistralai/pixtral-large-2411"},
            raise_on_error=False,
        )
        free_text = await analyze(client, make_image(seed=1), model="mistralai/pixtral-large-2411")

    assert not review.is_error, review.content
    reviewed, described = fake.completions
    assert reviewed.body["provider"] == {"require_parameters": True}
    assert review.meta["provider"] == "FakeProvider"
    assert len(fake.completions) == 2  # no repair request was needed
    assert "provider" not in described.body  # free text needs no such endpoint
    assert free_text.meta["provider"] == "LaxProvider"
