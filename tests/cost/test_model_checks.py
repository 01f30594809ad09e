"""Models checked against OpenRouter's catalog before any work, and priced for the limits:
unknown ids, blind models, variants, routers, the per-call ceiling, a catalog that is down."""

from __future__ import annotations

import re

import pytest

from tests import fake_openrouter as upstream
from tests.cost.helpers import (
    MakeImage,
    MakeSettings,
    analyze,
    cache_status,
    connected,
    error_of,
)
from tests.fake_openrouter import FakeOpenRouter

CHEAP_VISION = ["openai/gpt-5-nano", "google/gemini-2.5-flash-lite", "qwen/qwen2.5-vl-72b-instruct"]
WEBPAGE = "analyze_webpage_screenshot"


@pytest.mark.parametrize(
    ("model", "code", "says"),
    [
        ("acme/ghost-1", "MODEL_NOT_FOUND", "OpenRouter has no model 'acme/ghost-1'"),
        ("google/gemini-2.5-flash:free", "MODEL_NOT_FOUND", "has no model"),
        ("google/gemini-2.5-flash:turbo", "MODEL_NOT_FOUND", "has no model"),
        ("meta-llama/llama-3.3-70b-instruct", "MODEL_NO_VISION", "does not accept images"),
    ],
)
async def test_unknown_and_blind_models_are_refused_before_any_work(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    loaded_paths: list[str],
    model: str,
    code: str,
    says: str,
) -> None:
    async with connected(make_settings()) as client:
        result = await analyze(client, make_image(), model=model)

    error = error_of(result)
    assert (error["code"], error["retryable"]) == (code, False)
    assert says in error["message"]
    assert ", ".join(CHEAP_VISION) in error["message"]  # three cheap vision models instead
    assert loaded_paths == []
    assert fake.completions == []


async def test_suggestions_stay_within_the_allow_list(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    allowed = ["google/gemini-2.5-flash", "anthropic/claude-sonnet-4.5", "acme/ghost-1"]
    async with connected(make_settings(allowed_models=allowed)) as client:
        result = await analyze(client, make_image(), model="acme/ghost-1")

    message = error_of(result)["message"]
    assert "use one of: google/gemini-2.5-flash, anthropic/claude-sonnet-4.5 " in message


@pytest.mark.parametrize(
    ("model", "served_by"),
    [
        ("qwen/qwen3.8-27b:free", "FakeProvider"),
        ("qwen/qwen2.5-vl-72b-instruct:floor", "FakeProvider"),
        ("qwen/qwen2.5-vl-72b-instruct:nitro", "FastProvider"),
        ("google/gemini-2.5-flash:online", "FakeProvider"),
        ("openrouter/auto", "FakeProvider"),
    ],
)
async def test_without_limits_variants_and_routers_go_through_unpinned(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    model: str,
    served_by: str,
) -> None:
    async with connected(make_settings()) as client:
        result = await analyze(client, make_image(), model=model)

    assert cache_status(result) == "miss"
    assert result.meta["provider"] == served_by
    (sent,) = fake.completions
    assert "provider" not in sent.body


async def test_with_a_budget_a_routing_variant_is_pinned_to_the_listed_price(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    async with connected(make_settings(budget_usd_per_day=1.0)) as client:
        result = await analyze(client, make_image(), model="qwen/qwen2.5-vl-72b-instruct:nitro")

    assert cache_status(result) == "miss"
    (sent,) = fake.completions
    assert sent.body["provider"] == {
        "max_price": {"prompt": 0.25, "completion": 0.75, "request": 0.0, "image": 0.0}
    }
    # The faster endpoint charges three times the listed price: OpenRouter itself ruled it out.
    assert result.meta["provider"] == "FakeProvider"


@pytest.mark.parametrize("model", ["openrouter/auto", "google/gemini-2.5-flash:online"])
@pytest.mark.parametrize(
    "limit",
    [{"budget_usd_per_day": 1.0}, {"max_cost_per_call_usd": 1.0}],
    ids=["budget", "ceiling"],
)
async def test_with_limits_a_model_without_a_fixed_price_is_refused_before_any_work(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    loaded_paths: list[str],
    model: str,
    limit: dict[str, float],
) -> None:
    async with connected(make_settings(**limit)) as client:
        result = await analyze(client, make_image(), model=model)

    error = error_of(result)
    assert (error["code"], error["retryable"]) == ("COST_LIMIT_EXCEEDED", False)
    assert "cannot bound the cost" in error["message"]
    assert loaded_paths == []
    assert fake.completions == []


# --- The per-call ceiling ---------------------------------------------------------------------


def worst_case_in(message: str) -> float:
    return float(re.search(r"may cost (?:up to|at least) \$(\d+\.\d+)", message)[1])  # type: ignore[index]


async def test_a_call_whose_answer_alone_is_over_the_ceiling_is_refused_before_loading(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    loaded_paths: list[str],
) -> None:
    async with connected(make_settings(max_cost_per_call_usd=0.05)) as client:
        result = await analyze(client, make_image(), model="openai/o1-pro", max_tokens=1000)

    error = error_of(result)
    assert (error["code"], error["retryable"]) == ("COST_LIMIT_EXCEEDED", False)
    assert worst_case_in(error["message"]) == 0.6  # 1000 tokens at $600/M, before the prompt
    assert "IMAGE_MCP_MAX_COST_PER_CALL_USD" in error["message"]
    assert "max_tokens of at most 83" in error["message"]
    assert "detail='low'" in error["message"]
    assert "openai/gpt-5-nano" in error["message"]
    assert loaded_paths == []
    assert fake.completions == []


async def test_a_call_whose_prompt_takes_it_over_the_ceiling_is_refused_without_a_request(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    # gpt-4o: 10 answer tokens cost $0.0001; the prompt and image bring it over $0.001.
    settings = make_settings(max_cost_per_call_usd=0.001)
    async with connected(settings) as client:
        result = await analyze(client, make_image(), model="openai/gpt-4o", max_tokens=10)

    error = error_of(result)
    assert error["code"] == "COST_LIMIT_EXCEEDED"
    assert worst_case_in(error["message"]) > 0.001
    assert fake.completions == []


async def test_a_call_under_the_ceiling_is_served_and_costs_less(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    async with connected(make_settings(max_cost_per_call_usd=0.01)) as client:
        result = await analyze(client, make_image(), max_tokens=1000)

    assert cache_status(result) == "miss"
    assert fake.billed_usd <= 0.01
    assert "max_price" in fake.completions[0].body["provider"]


async def test_a_repair_that_would_break_the_ceiling_is_not_sent(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    image = make_image()

    async def refusal(ceiling: float) -> str:
        async with connected(make_settings(max_cost_per_call_usd=ceiling)) as probe:
            result = await probe.call_tool(WEBPAGE, {"image_path": image}, raise_on_error=False)
        return error_of(result)["message"]

    answer_alone = worst_case_in(await refusal(1e-6))  # refused before loading: "at least"
    first_request = worst_case_in(await refusal(answer_alone + 1e-6))  # the whole first request
    # Room for the first request, not for a second one that carries the schema once more.
    ceiling = first_request + 0.0005
    fake.script(upstream.invalid_json())
    async with connected(make_settings(max_cost_per_call_usd=ceiling)) as client:
        result = await client.call_tool(WEBPAGE, {"image_path": image}, raise_on_error=False)

    error = error_of(result)
    assert error["code"] == "MODEL_OUTPUT_INVALID"
    assert "No repair request was sent" in error["message"]
    assert "IMAGE_MCP_MAX_COST_PER_CALL_USD" in error["message"]
    assert len(fake.completions) == 1
    assert fake.billed_usd <= ceiling


# --- A catalog that cannot be fetched ---------------------------------------------------------


async def test_without_the_catalog_calls_work_unchecked_when_no_limit_is_set(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    fake.models_status = 503
    async with connected(make_settings()) as client:
        served = await analyze(client, make_image())
        unknown = await analyze(client, make_image(1), model="acme/ghost-1")

    assert cache_status(served) == "miss"
    assert error_of(unknown)["code"] == "MODEL_NOT_FOUND"  # OpenRouter's own answer
    assert len(fake.completions) == 2


@pytest.mark.parametrize(
    "limit",
    [
        {"budget_usd_per_day": 1.0},
        {"global_budget_usd_per_day": 1.0},
        {"max_cost_per_call_usd": 1.0},
    ],
)
async def test_without_the_catalog_limits_fail_closed_and_retryably(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    loaded_paths: list[str],
    limit: dict[str, float],
) -> None:
    fake.models_status = 503
    async with connected(make_settings(**limit)) as client:
        result = await analyze(client, make_image())

    error = error_of(result)
    assert (error["code"], error["retryable"]) == ("UPSTREAM_UNAVAILABLE", True)
    assert 0 < error["retry_after_s"] <= 30
    assert "model list and prices" in error["message"]
    assert loaded_paths == []
    assert fake.completions == []


async def test_the_catalog_is_fetched_once_at_start_not_per_call(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    async with connected(make_settings()) as client:
        for seed in range(3):
            await analyze(client, make_image(seed))

    fetches = [request for request in fake.requests if request.path.endswith("/models")]
    assert len(fetches) == 1
