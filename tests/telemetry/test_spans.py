"""Spans: ours for load, prepare and upstream (one per request to OpenRouter) beneath FastMCP's
span for the tool call, carrying model, outcome code, cost and tokens, and never a secret, a
question, a prompt, image data or a URL."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.app.helpers import ALICE_TOKEN, TOKENS, mcp_client, serving
from tests.cost.helpers import png_bytes
from tests.fake_openrouter import FakeOpenRouter, Reply, invalid_json, rate_limited

QUESTION = "Which word is written on the sign? The passphrase is tangerine-7741."
SECRET_QUERY = "sig=s3cr3t-signature-4242"
MODEL = "google/gemini-2.5-flash"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """Every span this process finishes from now on (a process has one tracer provider)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def one(spans: list[ReadableSpan], name: str, kind: SpanKind = SpanKind.INTERNAL) -> ReadableSpan:
    (found,) = [s for s in spans if s.name == name and s.kind == kind]
    return found


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[str]:
    return sorted(s.name for s in spans if s.parent and s.parent.span_id == parent.context.span_id)


async def test_a_call_is_traced_stage_by_stage_with_model_code_cost_and_tokens(
    fake: FakeOpenRouter, spans: InMemorySpanExporter
) -> None:
    fake.script(rate_limited(reset_in_s=0.1))  # one retry: two requests to OpenRouter
    settings = fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1)
    image = "data:image/png;base64," + base64.b64encode(png_bytes(7)).decode()
    async with serving(settings) as url, mcp_client(url) as client:
        spans.clear()
        result = await client.call_tool(
            "analyze_image", {"image_path": image, "question": QUESTION}, raise_on_error=False
        )
    assert not result.is_error
    finished = list(spans.get_finished_spans())

    call = one(finished, "tools/call analyze_image", SpanKind.SERVER)
    assert children(finished, call) == ["image_mcp.load", "image_mcp.prepare", "image_mcp.upstream"]
    upstream = one(finished, "image_mcp.upstream")
    assert children(finished, upstream) == [f"chat {MODEL}", f"chat {MODEL}"]
    limited, answered = sorted(
        (s for s in finished if s.name == f"chat {MODEL}"), key=lambda s: s.start_time or 0
    )

    usage = result.meta["usage"]
    assert call.attributes is not None
    assert call.attributes["image_mcp.code"] == "OK"
    assert call.attributes["image_mcp.cache"] == "miss"
    assert call.attributes["gen_ai.response.model"] == MODEL
    assert call.attributes["image_mcp.cost_usd"] == usage["cost"]
    assert call.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    for stage in ("image_mcp.load", "image_mcp.prepare", "image_mcp.upstream"):
        assert one(finished, stage).attributes["image_mcp.code"] == "OK"
    assert one(finished, "image_mcp.prepare").attributes["gen_ai.request.model"] == MODEL
    assert upstream.attributes["gen_ai.request.model"] == MODEL

    assert limited.kind == SpanKind.CLIENT
    assert limited.attributes["gen_ai.request.model"] == MODEL
    assert limited.attributes["image_mcp.code"] == "UPSTREAM_RATE_LIMITED"
    assert limited.attributes["image_mcp.cost_usd"] == 0
    assert limited.status.status_code == StatusCode.ERROR
    assert answered.attributes["image_mcp.code"] == "OK"
    assert answered.attributes["image_mcp.cost_usd"] == pytest.approx(usage["cost"], abs=1e-9)
    assert answered.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert answered.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert_nothing_private(finished, fake, image)


async def test_a_repaired_review_is_two_requests_under_one_upstream_span(
    fake: FakeOpenRouter, spans: InMemorySpanExporter
) -> None:
    fake.script(invalid_json(), Reply())
    settings = fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1)
    image = "data:image/png;base64," + base64.b64encode(png_bytes(8)).decode()
    async with serving(settings) as url, mcp_client(url) as client:
        result = await client.call_tool(
            "analyze_webpage_screenshot", {"image_path": image}, raise_on_error=False
        )
    assert not result.is_error
    finished = list(spans.get_finished_spans())

    upstream = one(finished, "image_mcp.upstream")
    requests = [s for s in finished if s.name == f"chat {MODEL}"]
    assert children(finished, upstream) == [f"chat {MODEL}"] * 2
    assert sum(s.attributes["image_mcp.cost_usd"] for s in requests) == pytest.approx(
        result.meta["usage"]["cost"], abs=1e-9
    )


async def test_a_failed_stage_carries_its_code_and_no_url(
    fake: FakeOpenRouter, spans: InMemorySpanExporter
) -> None:
    # Port 1 on loopback refuses connections: the download fails.
    url_with_query = f"http://127.0.0.1:1/screens/private.png?{SECRET_QUERY}"
    settings = fake.settings(auth_tokens=TOKENS, allowed_hosts="127.0.0.1", shutdown_grace_s=1)
    async with serving(settings) as url, mcp_client(url) as client:
        result = await client.call_tool(
            "analyze_image",
            {"image_path": url_with_query, "question": QUESTION},
            raise_on_error=False,
        )
    assert result.structured_content["error"]["code"] == "FETCH_FAILED"
    finished = list(spans.get_finished_spans())

    call = one(finished, "tools/call analyze_image", SpanKind.SERVER)
    load = one(finished, "image_mcp.load")
    assert children(finished, call) == ["image_mcp.load"]
    for span in (call, load):
        assert span.attributes["image_mcp.code"] == "FETCH_FAILED"
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description == "FETCH_FAILED"
        assert not span.events  # no exception recorded: its text could quote the URL
    assert_nothing_private(finished, fake, url_with_query)


def assert_nothing_private(spans: list[ReadableSpan], fake: FakeOpenRouter, image: str) -> None:
    exported = "\n".join(span.to_json() for span in spans)
    for private in (
        fake.api_key,
        ALICE_TOKEN,
        QUESTION,
        "tangerine",
        SECRET_QUERY,
        image[:64],
        image[-64:],
        "private.png",
    ):
        assert private not in exported, private
