"""Every billed request is charged, whether the call then succeeds or fails; a request whose
cost nobody knows is charged its whole hold; a request refused before any model ran is free."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastmcp import Client
from httpx import AsyncClient

from openrouter_image_mcp.cost.ledger import nano_usd, usd
from openrouter_image_mcp.cost.pricing import Candidate, RequestSize, worst_case_usd
from openrouter_image_mcp.imaging import target_for_model
from openrouter_image_mcp.openrouter import ChatRequest
from openrouter_image_mcp.openrouter.catalog import parse_catalog
from openrouter_image_mcp.settings import Settings
from tests import fake_openrouter as upstream
from tests.cost.helpers import analyze, error_of, png_data_url, served_over_http
from tests.fake_catalog import CATALOGUE
from tests.fake_openrouter import FakeOpenRouter, RecordedRequest

WEBPAGE = "analyze_webpage_screenshot"
PRICES = parse_catalog(json.dumps({"data": [m.listing() for m in CATALOGUE]}).encode())
SETTINGS = Settings(_env_file=None, transport="stdio")  # type: ignore[call-arg]


@asynccontextmanager
async def local_server(
    fake: FakeOpenRouter, **settings: Any
) -> AsyncIterator[tuple[Client, AsyncClient]]:
    """A server without tokens (one local client, who sees all of /usage) and its HTTP side."""
    values = {"upstream_max_retries": 0, "rate_limit": "1000/minute", **settings}
    async with (
        served_over_http(fake.settings(**values)) as server,
        server.client() as client,
        server.http_client() as http,
    ):
        yield client, http


async def charged(http: AsyncClient) -> tuple[float, float]:
    """What /usage says the local client was charged today, and still holds."""
    entry = (await http.get("/usage")).json()["clients"]["local"]
    return entry["spend_usd"], entry["reserved_usd"]


def hold_for(request: RecordedRequest) -> float:
    """The hold the server placed for a request, recomputed from what reached the fake."""
    body = request.body
    chat = ChatRequest(
        model=body["model"],
        messages=body["messages"],
        max_tokens=body["max_tokens"],
        response_format=body.get("response_format"),
        provider=body.get("provider"),
    )
    pricing = PRICES.models[body["model"]].pricing
    assert pricing is not None
    candidate = Candidate(target_for_model(body["model"], "auto", SETTINGS).family, pricing)
    sizes = [(image.width or 0, image.height or 0) for image in request.images]
    return usd(nano_usd(worst_case_usd(RequestSize.of(chat, sizes), [candidate])))


async def test_reasoning_cutoffs_are_charged_until_the_budget_refuses_them(
    fake: FakeOpenRouter,
) -> None:
    budget = 0.005
    fake.script(*[upstream.reasoning_cutoff()] * 20)
    async with local_server(fake, budget_usd_per_day=budget) as (client, http):
        codes = []
        for seed in range(20):
            result = await analyze(client, png_data_url(seed), max_tokens=400)
            codes.append(error_of(result)["code"])
            if codes[-1] != "REASONING_CUTOFF":
                break
        spend, held = await charged(http)

    assert codes[-1] == "BUDGET_EXCEEDED"
    assert set(codes[:-1]) == {"REASONING_CUTOFF"}
    assert len(fake.bills) == len(codes) - 1 >= 3
    assert spend == pytest.approx(fake.billed_usd, abs=1e-9 * len(fake.bills))
    assert fake.billed_usd <= budget
    assert held == 0


@pytest.mark.parametrize(
    "failure",
    [upstream.content_filtered(), upstream.refused(), upstream.choice_error()],
    ids=["content-filter", "refusal", "error-in-choice"],
)
async def test_a_failure_that_reports_its_cost_is_charged_that_cost(
    fake: FakeOpenRouter, failure: upstream.Reply
) -> None:
    fake.script(failure)
    async with local_server(fake, budget_usd_per_day=1.0) as (client, http):
        result = await analyze(client, png_data_url())
        spend, held = await charged(http)

    assert result.is_error
    assert fake.billed_usd > 0
    assert spend == pytest.approx(fake.billed_usd, abs=1e-9)
    assert held == 0


async def test_model_output_invalid_is_charged_for_both_billed_requests(
    fake: FakeOpenRouter,
) -> None:
    fake.script(upstream.invalid_json(), upstream.invalid_json())
    async with local_server(fake, budget_usd_per_day=1.0) as (client, http):
        result = await client.call_tool(
            WEBPAGE, {"image_path": png_data_url()}, raise_on_error=False
        )
        spend, _ = await charged(http)

    assert error_of(result)["code"] == "MODEL_OUTPUT_INVALID"
    assert len(fake.bills) == 2
    assert spend == pytest.approx(fake.billed_usd, abs=2e-9)


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        (upstream.Drop(), "UPSTREAM_UNAVAILABLE"),
        (upstream.provider_error(), "UPSTREAM_UNAVAILABLE"),
        (upstream.KeepAlive(seconds=3), "UPSTREAM_TIMEOUT"),
    ],
    ids=["dropped-connection", "502-provider-error", "timeout"],
)
async def test_a_request_of_unknown_cost_is_charged_its_whole_hold(
    fake: FakeOpenRouter, behaviour: upstream.Behaviour, code: str
) -> None:
    fake.script(behaviour)
    settings = {"budget_usd_per_day": 1.0, "upstream_timeout_s": 1}
    async with local_server(fake, **settings) as (client, http):
        result = await analyze(client, png_data_url(), max_tokens=500)
        spend, held = await charged(http)

    assert error_of(result)["code"] == code
    (request,) = fake.completions
    assert spend == hold_for(request)
    assert spend > sum(fake.bills)  # the hold is an upper bound of what may have been billed
    assert held == 0


@pytest.mark.parametrize(
    "rejection",
    [
        upstream.rate_limited(),
        upstream.insufficient_credits(),
        upstream.moderation_flagged(),
        upstream.no_provider(),
    ],
    ids=["429", "402", "403", "503"],
)
async def test_a_request_refused_before_any_model_ran_is_free(
    fake: FakeOpenRouter, rejection: upstream.Fail
) -> None:
    fake.script(rejection)
    async with local_server(fake, budget_usd_per_day=1.0) as (client, http):
        result = await analyze(client, png_data_url())
        spend, held = await charged(http)

    assert result.is_error
    assert (spend, held) == (0, 0)


async def test_retries_are_each_held_and_charged(fake: FakeOpenRouter) -> None:
    fake.script(upstream.provider_error(), upstream.Reply())
    async with local_server(fake, budget_usd_per_day=1.0, upstream_max_retries=1) as (
        client,
        http,
    ):
        result = await analyze(client, png_data_url())
        spend, _ = await charged(http)

    assert not result.is_error
    failed, _ = fake.completions
    assert spend == pytest.approx(hold_for(failed) + fake.billed_usd, abs=1e-9)


async def test_a_retry_the_budget_cannot_hold_is_not_made(fake: FakeOpenRouter) -> None:
    fake.script(upstream.provider_error(), upstream.Reply())
    settings = {"upstream_max_retries": 2, "budget_usd_per_day": 0.008}
    async with local_server(fake, **settings) as (client, http):
        # The first hold (~$0.0055) fits; after the 502 is charged in full, a second does not.
        result = await analyze(client, png_data_url())
        spend, held = await charged(http)

    assert error_of(result)["code"] == "UPSTREAM_UNAVAILABLE"  # the failure that prompted it
    (failed,) = fake.completions
    assert (spend, held) == (hold_for(failed), 0)
