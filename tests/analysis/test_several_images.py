"""analyze_image with extra_images: every image in one request, in order, each loaded and
checked like image_path; the count capped before anything is loaded; a bad one named, with
nothing sent; the cache keyed on every image in order."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from PIL import Image

from openrouter_image_mcp.imaging.workers import ImageWorkers
from tests.app.helpers import serving
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import call, data_url, error_code, in_memory_client, noise_png, text_of
from tests.sources.servers import TinyServer, image


def encoded(size: tuple[int, int], colour: str, format_name: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format_name, **options)
    return buffer.getvalue()


PNG = encoded((64, 48), "teal", "PNG")
JPEG = encoded((80, 60), "orange", "JPEG", quality=90)
WEBP = encoded((50, 40), "navy", "WEBP", lossless=True)
GIF = encoded((30, 20), "red", "GIF")


@pytest.fixture
async def gif_server() -> AsyncIterator[TinyServer]:
    server = await TinyServer({"/drawing.gif": image(GIF)}).start()
    yield server
    await server.stop()


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "before.png"
    path.write_bytes(PNG)
    return path


def settings_for(fake: FakeOpenRouter, tmp_path: Path, **overrides: Any) -> Any:
    return fake.settings(
        transport="stdio", file_roots=[tmp_path], allowed_hosts=["127.0.0.1"], **overrides
    )


async def test_four_kinds_of_image_arrive_in_order_in_one_request(
    fake: FakeOpenRouter, tmp_path: Path, png_file: Path, gif_server: TinyServer
) -> None:
    extra = [
        data_url(JPEG, "image/jpeg"),
        base64.b64encode(WEBP).decode(),
        f"http://127.0.0.1:{gif_server.port}/drawing.gif",
    ]
    async with in_memory_client(settings_for(fake, tmp_path)) as client:
        result = await call(
            client,
            image_path=str(png_file),
            extra_images=extra,
            question="What changed between these images?",
        )

    assert not result.is_error, text_of(result)
    (request,) = fake.completions
    arrived = [(i.format, i.width, i.height) for i in request.images]
    assert arrived == [("PNG", 64, 48), ("JPEG", 80, 60), ("WEBP", 50, 40), ("GIF", 30, 20)]
    content = request.body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What changed between these images?"}
    # Each image after a caption numbering it, so a question can say "image 2".
    captions = [part["text"] for part in content[1:] if part["type"] == "text"]
    assert captions == [f"Image {n} of 4:" for n in range(1, 5)]
    meta = result.meta
    received = [entry["received"] for entry in meta["images"]]
    assert received == [
        {"format": "PNG", "width": 64, "height": 48, "bytes": len(PNG)},
        {"format": "JPEG", "width": 80, "height": 60, "bytes": len(JPEG)},
        {"format": "WEBP", "width": 50, "height": 40, "bytes": len(WEBP)},
        {"format": "GIF", "width": 30, "height": 20, "bytes": len(GIF)},
    ]
    assert [entry["sent"]["format"] for entry in meta["images"]] == ["PNG", "JPEG", "WEBP", "GIF"]
    assert meta["image"] == meta["images"][0]
    assert text_of(result).count("I see a") == 4


async def test_more_images_than_the_limit_are_refused_before_any_is_loaded(
    fake: FakeOpenRouter, tmp_path: Path, png_file: Path, loaded_paths: list[str]
) -> None:
    settings = settings_for(fake, tmp_path, max_images_per_call=3)
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=str(png_file), extra_images=[str(png_file)] * 3)

    error = result.structured_content["error"]
    assert error["code"] == "INVALID_INPUT"
    assert "4 images" in error["message"]
    assert "IMAGE_MCP_MAX_IMAGES_PER_CALL" in error["message"]
    assert error["arguments"] == ["extra_images"]
    assert loaded_paths == []
    assert fake.completions == []


@pytest.mark.parametrize(
    ("bad", "code", "says"),
    [
        (b"<html><body>not an image</body></html>", "UNSUPPORTED_FORMAT", "HTML"),
        (PNG[: len(PNG) // 2], "INVALID_INPUT", ""),
    ],
)
async def test_a_bad_extra_image_fails_the_call_naming_it_and_nothing_is_sent(
    fake: FakeOpenRouter, tmp_path: Path, png_file: Path, bad: bytes, code: str, says: str
) -> None:
    extra = [data_url(JPEG, "image/jpeg"), data_url(WEBP, "image/webp"), data_url(bad)]
    async with in_memory_client(settings_for(fake, tmp_path)) as client:
        result = await call(client, image_path=str(png_file), extra_images=extra)

    error = result.structured_content["error"]
    assert error["code"] == code
    assert error["message"].startswith("extra_images[2]: ")
    assert says in error["message"]
    assert error["arguments"] == ["extra_images[2]"]
    assert fake.completions == []


async def test_a_missing_file_among_them_is_named_too(
    fake: FakeOpenRouter, tmp_path: Path, png_file: Path
) -> None:
    async with in_memory_client(settings_for(fake, tmp_path)) as client:
        result = await call(
            client, image_path=str(png_file), extra_images=[str(tmp_path / "after.png")]
        )

    assert error_code(result) == "INVALID_INPUT"
    assert result.structured_content["error"]["message"].startswith("extra_images[0]: ")
    assert fake.completions == []


async def test_the_cache_tells_apart_extra_images_and_their_order(
    fake: FakeOpenRouter, tmp_path: Path, png_file: Path
) -> None:
    jpeg, webp = data_url(JPEG, "image/jpeg"), data_url(WEBP, "image/webp")
    calls = [[jpeg], [webp], [jpeg, webp], [webp, jpeg], [jpeg, webp]]
    async with in_memory_client(settings_for(fake, tmp_path)) as client:
        results = [
            await call(client, image_path=str(png_file), extra_images=extra) for extra in calls
        ]

    assert [result.meta["cache"] for result in results] == ["miss"] * 4 + ["hit"]
    assert len(fake.completions) == 4
    single = await _single_call(fake, tmp_path, png_file)
    assert single.meta["cache"] == "miss"  # image_path alone is yet another question


async def _single_call(fake: FakeOpenRouter, tmp_path: Path, png_file: Path) -> Any:
    async with in_memory_client(settings_for(fake, tmp_path)) as client:
        return await call(client, image_path=str(png_file))


async def test_together_the_images_stay_within_the_request_byte_cap(
    fake: FakeOpenRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four noise PNGs of ~1.3 MB each, with 2 MiB for all images of a request: each is
    re-encoded within its quarter, none passes through whole, one request carries them."""
    budgets: list[int | None] = []
    prepare = ImageWorkers.prepare

    async def recording(self: ImageWorkers, raw: bytes, target: Any, **options: Any) -> Any:
        budgets.append(options.get("max_bytes"))
        return await prepare(self, raw, target, **options)

    monkeypatch.setattr(ImageWorkers, "prepare", recording)
    cap = 2 * 1024 * 1024
    noisy = [data_url(noise_png(660, 660, seed)) for seed in range(4)]
    settings = settings_for(fake, tmp_path, max_image_bytes=cap, prepare_timeout_s=60)
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=noisy[0], extra_images=noisy[1:])

    assert not result.is_error, text_of(result)
    assert budgets == [cap // 4] * 4
    (request,) = fake.completions
    assert sum(image.byte_length or 0 for image in request.images) <= cap
    assert all(entry["sent"]["passthrough"] is False for entry in result.meta["images"])


async def test_over_http_data_urls_pass_the_guards_and_a_long_list_is_refused_cheaply(
    fake: FakeOpenRouter, loaded_paths: list[str]
) -> None:
    """Eight data URLs (a ':' and a ',' each) are a legitimate call; nine are refused by the
    argument guard from the list's length, before any image is validated or loaded."""
    images = [data_url(encoded((20 + n, 20), "teal", "PNG")) for n in range(9)]
    async with (
        serving(fake.settings()) as base,
        Client(StreamableHttpTransport(f"{base}/mcp")) as client,
    ):
        eight = await call(client, image_path=images[0], extra_images=images[1:8])
        nine = await call(client, image_path=images[0], extra_images=images[1:])

    assert not eight.is_error, text_of(eight)
    assert len(fake.completions[0].images) == 8
    assert error_code(nine) == "INVALID_INPUT"
    assert "IMAGE_MCP_MAX_IMAGES_PER_CALL" in nine.structured_content["error"]["message"]
    assert len(loaded_paths) == 8  # the first call's; the refused one loaded nothing
    assert len(fake.completions) == 1


async def test_the_tool_tells_the_agent_how_to_compare(fake: FakeOpenRouter) -> None:
    async with in_memory_client(fake.settings(transport="stdio")) as client:
        (tool,) = [t for t in await client.list_tools() if t.name == "analyze_image"]

    extra = tool.inputSchema["properties"]["extra_images"]
    assert "before" in extra["description"]
    assert "what changed" in extra["description"]
    assert "extra_images" in (tool.description or "")
