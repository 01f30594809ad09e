"""The client against the fake OpenRouter over real sockets: what it sends, what it returns,
when it retries and when it stops."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx2
import pytest
from pydantic import BaseModel, ConfigDict, Field

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.openrouter import OpenRouterClient, Usage
from tests.fake_openrouter import (
    Drop,
    FakeOpenRouter,
    KeepAlive,
    Reply,
    error_in_200,
    guardrail_blocked,
    insufficient_credits,
    invalid_model_id,
    model_not_found,
    no_provider,
    provider_error,
    rate_limited,
    user_not_found,
)
from tests.openrouter.conftest import (
    INSTANT_BACKOFF,
    MODEL,
    data_url,
    image_request,
    png_bytes,
)

MakeClient = Callable[..., OpenRouterClient]


async def test_answer_describes_the_image_with_usage_and_generation_id(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    completion = await make_client().complete(image_request())

    assert completion.content == "I see a PNG image, 64x48 pixels."
    assert completion.model == MODEL
    assert completion.generation_id is not None
    assert completion.generation_id.startswith("gen-")
    assert completion.provider == "FakeProvider"
    assert completion.finish_reason == "stop"
    assert completion.usage.cost == fake.bills[-1] > 0
    assert completion.usage.reasoning_tokens == 0
    assert set(completion.usage.as_meta()) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "reasoning_tokens",
        "cost",
    }


async def test_sends_key_attribution_headers_and_exact_body(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    request = image_request()
    client = make_client(app_url="https://example.org/app", app_title="Image Tool")

    await client.complete(request)

    [sent] = fake.completions
    assert sent.headers["authorization"] == f"Bearer {fake.api_key}"
    assert sent.headers["http-referer"] == "https://example.org/app"
    assert sent.headers["x-openrouter-title"] == "Image Tool"
    assert sent.headers["x-title"] == "Image Tool"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {"model": MODEL, "messages": request.messages, "max_tokens": 300}


async def test_image_arrives_decoded_with_its_detail(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    await make_client().complete(image_request())

    image = fake.completions[0].image
    assert (image.format, image.width, image.height) == ("PNG", 64, 48)
    assert image.mime == "image/png"
    assert image.byte_length == len(png_bytes())
    assert image.detail == "high"


async def test_temperature_zero_is_sent_as_zero(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    await make_client().complete(image_request(temperature=0))

    body = fake.completions[0].body
    assert "temperature" in body
    assert body["temperature"] == 0


async def test_non_ascii_app_title_is_sent(fake: FakeOpenRouter, make_client: MakeClient) -> None:
    await make_client(app_title="Outil d'images é").complete(image_request())

    raw_title = fake.completions[0].headers["x-openrouter-title"].encode("latin-1")
    assert raw_title.decode() == "Outil d'images é"


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=3, max_length=40)
    confidence: float = Field(ge=0, le=1)
    kind: str | None = None


class Analysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str
    objects: list[Finding] = Field(min_length=2)
    count: int = Field(gt=0, le=100)
    has_text: bool


async def test_json_schema_request_gets_a_valid_instance(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    schema = Analysis.model_json_schema()
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "analysis", "strict": True, "schema": schema},
    }

    completion = await make_client().complete(image_request(response_format=response_format))

    analysis = Analysis.model_validate_json(completion.content)
    assert "PNG image, 64x48" in analysis.summary
    assert fake.completions[0].body["response_format"] == response_format


async def test_served_model_is_reported_not_the_requested_one(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    fake.script(Reply(model="google/gemini-2.5-flash-001", content="ok"))

    completion = await make_client().complete(image_request())

    assert completion.model == "google/gemini-2.5-flash-001"


async def test_missing_api_key_fails_before_any_request(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    with pytest.raises(ToolFailure) as caught:
        await make_client(openrouter_api_key=None).complete(image_request())

    assert caught.value.code == ErrorCode.CONFIG_ERROR
    assert "OPENROUTER_API_KEY" in caught.value.message
    assert fake.completions == []


async def test_non_finite_temperature_is_refused_before_any_request(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    with pytest.raises(ToolFailure) as caught:
        await make_client().complete(image_request(temperature=float("nan")))

    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert fake.completions == []


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(rate_limited(reset_in_s=0.05), id="429-reset"),
        pytest.param(rate_limited(reset_in_s=60, retry_after="0.05"), id="429-retry-after"),
        pytest.param(provider_error(), id="502"),
        pytest.param(no_provider(retry_after="0.1"), id="503-retry-after"),
        pytest.param(Drop(), id="connection-drop"),
        pytest.param(error_in_200(503), id="200-with-503-error"),
    ],
)
async def test_retries_transient_failures_then_succeeds(
    fake: FakeOpenRouter, make_client: MakeClient, failure: object
) -> None:
    fake.script(failure, failure)

    completion = await make_client(upstream_max_retries=2).complete(image_request())

    assert completion.content == "I see a PNG image, 64x48 pixels."
    assert len(fake.completions) == 3


async def test_gives_up_after_the_configured_retries(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    fake.script(*[provider_error()] * 4)

    with pytest.raises(ToolFailure) as caught:
        await make_client(upstream_max_retries=2).complete(image_request())

    assert caught.value.code == ErrorCode.UPSTREAM_UNAVAILABLE
    assert len(fake.completions) == 3


async def test_retry_after_beyond_the_deadline_stops_at_once(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    fake.script(rate_limited(retry_after="30"))
    client = make_client(upstream_max_retries=5, upstream_timeout_s=5)

    with pytest.raises(ToolFailure) as caught:
        await client.complete(image_request())

    assert caught.value.code == ErrorCode.UPSTREAM_RATE_LIMITED
    assert caught.value.retry_after_s == 30
    assert len(fake.completions) == 1


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(invalid_model_id(), id="400"),
        pytest.param(user_not_found(), id="401"),
        pytest.param(insufficient_credits("in_flight_budget", retry_after="0.01"), id="402"),
        pytest.param(guardrail_blocked(), id="403"),
        pytest.param(model_not_found(), id="404"),
        pytest.param(error_in_200(400, "bad"), id="200-with-400-error"),
    ],
)
async def test_does_not_retry_client_errors(
    fake: FakeOpenRouter, make_client: MakeClient, failure: object
) -> None:
    fake.script(failure)

    with pytest.raises(ToolFailure):
        await make_client(upstream_max_retries=3).complete(image_request())

    assert len(fake.completions) == 1


async def test_keep_alive_whitespace_cannot_outlast_the_total_deadline(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    fake.script(KeepAlive(seconds=3, interval_s=0.05))
    client = make_client(upstream_timeout_s=0.5, upstream_max_retries=2)

    with pytest.raises(ToolFailure) as caught:
        await client.complete(image_request())

    assert caught.value.code == ErrorCode.UPSTREAM_TIMEOUT
    assert caught.value.retryable
    assert len(fake.completions) == 1


async def test_keep_alive_whitespace_before_the_body_is_tolerated(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    fake.script(KeepAlive(seconds=0.2, interval_s=0.05, then=Reply(content="slow answer")))

    completion = await make_client().complete(image_request())

    assert completion.content == "slow answer"


async def test_unreachable_server_is_unavailable_after_retries(fake: FakeOpenRouter) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = fake.settings(openrouter_base_url=f"http://127.0.0.1:{port}/api/v1")
    client = OpenRouterClient(settings, backoff=INSTANT_BACKOFF)

    with pytest.raises(ToolFailure) as caught:
        await client.complete(image_request())
    await client.aclose()

    assert caught.value.code == ErrorCode.UPSTREAM_UNAVAILABLE
    assert "127.0.0.1" in caught.value.message
    assert "ConnectError" in caught.value.message


async def test_tolerates_odd_but_valid_answer_shapes(fake: FakeOpenRouter) -> None:
    """Content as a list of parts, no id or model in the body, junk usage values."""
    body = {
        "choices": [
            {
                "finish_reason": "stop",
                "message": {"content": [{"type": "text", "text": "a "}, {"text": "cat"}]},
            }
        ],
        "usage": {"prompt_tokens": True, "completion_tokens": -1, "cost": "0.1"},
    }
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(200, json=body, headers={"X-Generation-Id": "gen-h"})
    )
    client = OpenRouterClient(fake.settings(), transport=transport)

    completion = await client.complete(image_request())
    await client.aclose()

    assert completion.content == "a cat"
    assert completion.model == MODEL
    assert completion.generation_id == "gen-h"
    assert completion.usage == Usage(None, None, None, None, None)
    assert completion.usage.as_meta() == {}


async def test_key_of_any_format_echoed_upstream_is_redacted(fake: FakeOpenRouter) -> None:
    key = "gateway-key-42"  # not sk-… shaped, e.g. a self-hosted gateway's key
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(401, json={"error": {"message": f"bad key {key}"}})
    )
    client = OpenRouterClient(fake.settings(openrouter_api_key=key), transport=transport)

    with pytest.raises(ToolFailure) as caught:
        await client.complete(image_request())
    await client.aclose()

    assert caught.value.code == ErrorCode.UPSTREAM_AUTH
    assert key not in str(caught.value)
    assert "[redacted]" in caught.value.message


async def test_request_body_never_logged(
    fake: FakeOpenRouter, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="openrouter_image_mcp")
    fake.script(provider_error())
    encoded_image = data_url(png_bytes()).split(",")[1]

    await make_client(upstream_max_retries=1).complete(image_request())

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "attempt 1" in logged
    assert encoded_image not in logged
    assert fake.api_key not in logged


async def test_no_endpoint_within_max_price_is_a_retryable_unavailability(
    fake: FakeOpenRouter, make_client: MakeClient
) -> None:
    max_price = {"prompt": 0.01, "completion": 0.01, "request": 0, "image": 0}

    with pytest.raises(ToolFailure) as caught:
        await make_client().complete(image_request(provider={"max_price": max_price}))

    assert fake.completions[0].body["provider"] == {"max_price": max_price}
    assert caught.value.code == ErrorCode.UPSTREAM_UNAVAILABLE
    assert caught.value.retryable
    assert "provider.max_price" in caught.value.message
