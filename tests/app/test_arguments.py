"""Bad tool arguments: every kind a coded one-line INVALID_INPUT over HTTP and stdio, and
argument floods refused small and fast, with /healthz responsive, memory bounded, and every
refusal counted by the rate limiter."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from fastmcp.client.transports import StdioTransport

from tests.app.helpers import (
    ALICE_TOKEN,
    MCP_HEADERS,
    TOKENS,
    auth,
    mcp_client,
    rpc,
    serving,
    small_png_data_url,
)
from tests.app.processes import ServerProcess, clean_env, running_server
from tests.fake_openrouter import FakeOpenRouter

IMAGE = "data:image/png;base64,iVBORw0KGgo="  # never loaded: the arguments fail first

# (tool, arguments, the parameter named, words of what it accepts)
BAD_CALLS = [
    ("analyze_image", {"image_path": IMAGE, "detail": "medium"}, "detail", "'auto', 'low', 'high'"),
    ("analyze_image", {}, "image_path", "required: a non-empty string"),
    ("analyze_image", {"image_path": IMAGE, "colour": "red"}, "colour", "it takes image_path"),
    ("analyze_image", {"image_path": IMAGE, "temperature": 5}, "temperature", "from 0 to 2"),
    ("analyze_image", {"image_path": IMAGE, "temperature": "hot"}, "temperature", "a number"),
    ("analyze_image", {"image_path": 42}, "image_path", "a non-empty string"),
    ("analyze_image", {"image_path": IMAGE, "max_tokens": 0}, "max_tokens", "at least 1"),
    ("analyze_image", {"image_path": IMAGE, "question": ["a"]}, "question", "a string"),
    ("analyze_image", {"image_path": IMAGE, "question": "?" * 10_001}, "question", "10000"),
    ("analyze_image", {"image_path": IMAGE, "extra_images": IMAGE}, "extra_images", "array"),
    ("analyze_image", {"image_path": IMAGE, "extra_images": [7]}, "extra_images", "of strings"),
    (
        "analyze_image",
        {"image_path": IMAGE, "extra_images": [IMAGE] * 8},
        "extra_images",
        "IMAGE_MCP_MAX_IMAGES_PER_CALL",
    ),
    (
        "analyze_webpage_screenshot",
        {"image_path": IMAGE, "focus_area": "colours"},
        "focus_area",
        "'layout', 'content'",
    ),
    (
        "analyze_mobile_app_screenshot",
        {"image_path": IMAGE, "platform": "windows", "include_ux_heuristics": "maybe"},
        "platform",
        "'ios', 'android', 'auto'",
    ),
]


def assert_coded_one_line_error(
    result: CallToolResult, parameter: str, accepts: str
) -> dict[str, Any]:
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == "INVALID_INPUT"
    message = error["message"]
    assert "\n" not in message
    assert parameter in message
    assert accepts in message
    assert parameter in error["arguments"]
    for pydantic_text in ("pydantic", "validation error", "type=", "input_value"):
        assert pydantic_text not in message
    assert result.content[0].text == f"INVALID_INPUT: {message}"
    assert result.meta["content_is_untrusted"] is True
    return error


@pytest.mark.parametrize(("tool", "arguments", "parameter", "accepts"), BAD_CALLS)
async def test_each_bad_argument_is_a_coded_error_over_http(
    base_url: str,
    fake: FakeOpenRouter,
    tool: str,
    arguments: dict[str, Any],
    parameter: str,
    accepts: str,
) -> None:
    async with mcp_client(base_url) as client:
        result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert_coded_one_line_error(result, parameter, accepts)
    assert fake.completions == []


async def test_each_bad_argument_is_a_coded_error_over_stdio(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "openrouter_image_mcp", "--transport", "stdio"],
        env=clean_env(OPENROUTER_API_KEY=fake.api_key, OPENROUTER_BASE_URL=fake.base_url),
        cwd=str(tmp_path),
        log_file=tmp_path / "stderr.log",
    )
    async with Client(transport) as client:
        for tool, arguments, parameter, accepts in BAD_CALLS:
            result = await client.call_tool(tool, arguments, raise_on_error=False)
            assert_coded_one_line_error(result, parameter, accepts)
    assert fake.completions == []


async def test_only_the_first_few_problems_are_named(base_url: str) -> None:
    arguments = {"image_path": IMAGE, "detail": "x", "temperature": 9, "max_tokens": -1}
    async with mcp_client(base_url) as client:
        result = await client.call_tool(
            "analyze_image", {**arguments, "model": 3}, raise_on_error=False
        )
    error = result.structured_content["error"]
    assert error["arguments"] == ["model", "max_tokens", "temperature"]
    assert error["message"].endswith("; and 1 more problem.")


async def test_thousands_of_unknown_arguments_get_a_short_answer(base_url: str) -> None:
    arguments = {"image_path": IMAGE, **{f"extra_{i}": i for i in range(5000)}}
    async with mcp_client(base_url) as client:
        result = await client.call_tool("analyze_image", arguments, raise_on_error=False)
    error = assert_coded_one_line_error(result, "extra_0", "it takes image_path")
    assert error["arguments"] == ["extra_0", "extra_1", "extra_2"]
    assert "and 4997 more" in error["message"]
    assert len(error["message"]) < 300


async def test_refused_arguments_count_against_the_rate_limit(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, rate_limit="2/minute", shutdown_grace_s=1)
    async with serving(settings) as url, mcp_client(url) as client:
        for bad in ({"image_path": IMAGE, "detail": "medium"}, {"image_path": IMAGE, "x": 1}):
            refused = await client.call_tool("analyze_image", bad, raise_on_error=False)
            assert refused.structured_content["error"]["code"] == "INVALID_INPUT"
        good = await client.call_tool(
            "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
        )
    assert good.structured_content["error"]["code"] == "RATE_LIMITED"
    assert fake.completions == []


# --- A real process flooded with arguments -------------------------------------------------------


def flood_body(keys: int) -> bytes:
    """A tools/call for analyze_image with `keys` unknown arguments (27 MB for 1.4 million)."""
    arguments: dict[str, Any] = {"image_path": IMAGE}
    arguments.update((f"k{i}", i) for i in range(keys))
    return json.dumps(rpc("tools/call", 7, name="analyze_image", arguments=arguments)).encode()


HEADERS = {**MCP_HEADERS, **auth(ALICE_TOKEN), "MCP-Protocol-Version": "2025-11-25"}


async def healthz_latencies(url: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while not stop.is_set():
            started = time.monotonic()
            assert (await http.get("/healthz")).status_code == 200
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.05)
    return latencies


async def peak_rss(server: ServerProcess, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, server.rss_bytes())
        await asyncio.sleep(0.02)
    return peak


async def test_an_argument_flood_is_refused_small_and_fast_and_rate_limited(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    body = flood_body(1_400_000)
    assert len(body) > 25_000_000  # under the default body limit (27.7 MiB)
    with running_server(fake, tmp_path, IMAGE_MCP_RATE_LIMIT="3/minute") as server:
        rss_before = server.rss_bytes()
        stop = asyncio.Event()
        health = asyncio.create_task(healthz_latencies(server.url, stop))
        memory = asyncio.create_task(peak_rss(server, stop))
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            started = time.monotonic()
            floods = await asyncio.gather(
                *(http.post("/mcp", content=body, headers=HEADERS) for _ in range(3))
            )
            flood_s = time.monotonic() - started
            fourth = await http.post("/mcp", content=body, headers=HEADERS)
        stop.set()
        latencies, peak = await health, await memory
        async with mcp_client(server.url) as client:
            after = await client.call_tool(
                "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
            )

    for response in floods:
        assert response.status_code == 413
        assert len(response.content) < 2000
        assert response.json()["error"]["data"]["error"]["code"] == "INVALID_INPUT"
    assert flood_s < 10, flood_s  # was 25 s for one, 293 MB answered
    assert max(latencies) < 2, max(latencies)  # was a 13 s stall
    assert peak - rss_before < 400_000_000  # was 1.6 GB for one, 4.9 GB for three
    # Each flood counted as an analyze_image call: the fourth, and the next real call, are
    # over the limit.
    assert fourth.status_code == 429
    assert fourth.json()["error"]["data"]["error"]["code"] == "RATE_LIMITED"
    assert int(fourth.headers["retry-after"]) >= 1
    assert after.structured_content["error"]["code"] == "RATE_LIMITED"
    assert fake.completions == []
