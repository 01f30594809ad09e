"""Oversized arguments are refused before anything is loaded: no file read, no URL fetched,
no data decoded, no upstream request. A 4 MB question must not become a million tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import call, data_url, error_code, in_memory_client, png_bytes
from tests.sources.servers import TinyServer, image

TOOLS = ["analyze_image", "analyze_webpage_screenshot", "analyze_mobile_app_screenshot"]


@pytest.fixture
async def image_server() -> AsyncIterator[TinyServer]:
    server = await TinyServer({"/cat.png": image(png_bytes())}).start()
    yield server
    await server.stop()


@pytest.mark.parametrize("tool", TOOLS)
async def test_a_question_over_the_cap_is_refused_before_the_file_is_read(
    fake: FakeOpenRouter, tmp_path: Path, loaded_paths: list[str], tool: str
) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(png_bytes())
    settings = fake.settings(transport="stdio", file_roots=[tmp_path], max_question_chars=100)
    async with in_memory_client(settings) as client:
        refused = await call(client, tool, image_path=str(picture), question="x" * 101)
        served = await call(client, tool, image_path=str(picture), question="é" * 100)

    assert error_code(refused) == "INVALID_INPUT"
    assert "IMAGE_MCP_MAX_QUESTION_CHARS" in refused.structured_content["error"]["message"]
    assert not served.is_error
    assert loaded_paths == [str(picture)]  # only the call within the cap
    assert len(fake.completions) == 1


async def test_the_default_cap_keeps_a_4_mb_question_from_the_upstream_and_the_url_unfetched(
    fake: FakeOpenRouter, image_server: TinyServer, loaded_paths: list[str]
) -> None:
    url = f"http://127.0.0.1:{image_server.port}/cat.png"
    settings = fake.settings(transport="stdio", allowed_hosts=["127.0.0.1"])
    async with in_memory_client(settings) as client:
        refused = await call(client, image_path=url, question="describe " * 500_000)
        capped = await call(client, image_path=url, question="q" * 10_000)

    assert error_code(refused) == "INVALID_INPUT"
    assert "10000" in refused.structured_content["error"]["message"]
    assert not capped.is_error
    assert image_server.paths() == ["/cat.png"]  # fetched once: for the call within the cap
    assert loaded_paths == [url]


async def test_an_absurd_model_id_is_refused_before_anything_is_loaded(
    fake: FakeOpenRouter, loaded_paths: list[str]
) -> None:
    async with in_memory_client(fake.settings(transport="stdio")) as client:
        result = await call(client, image_path=data_url(png_bytes()), model="a/" + "b" * 300)

    assert error_code(result) == "INVALID_INPUT"
    assert loaded_paths == []
    assert fake.completions == []


async def test_an_inline_image_longer_than_any_acceptable_one_is_refused_before_decoding(
    fake: FakeOpenRouter, loaded_paths: list[str]
) -> None:
    settings = fake.settings(transport="stdio", max_image_bytes=4096)
    huge = "data:image/png;base64," + "A" * (4 * 4096 + 1)
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=huge)

    assert error_code(result) == "RESOURCE_TOO_LARGE"
    assert "IMAGE_MCP_MAX_IMAGE_BYTES" in result.structured_content["error"]["message"]
    assert loaded_paths == []
