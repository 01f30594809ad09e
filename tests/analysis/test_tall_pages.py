"""Tall screenshots arrive upstream as overlapping tiles the model can read, checked by reading
what the fake OpenRouter received with tesseract; photos, ordinary screenshots and
detail="low" go as one image; the cost estimate counts every tile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openrouter_image_mcp.cost.pricing import Candidate, RequestSize, worst_case_usd
from openrouter_image_mcp.imaging import Family
from openrouter_image_mcp.openrouter import ChatRequest
from openrouter_image_mcp.openrouter.catalog import ModelPricing
from tests import ocr
from tests.fake_catalog import BY_ID
from tests.fake_openrouter import FakeOpenRouter, RecordedRequest
from tests.helpers import call, in_memory_client, text_of
from tests.imaging.images import encoded, photo, screenshot
from tests.pages import Page, tall_page

needs_tesseract = pytest.mark.skipif(ocr.MISSING is not None, reason=ocr.MISSING or "")


@pytest.fixture(scope="module")
def page() -> Page:
    return tall_page()  # 1280x9000, 14 px text


@pytest.fixture
def page_file(tmp_path: Path, page: Page) -> str:
    path = tmp_path / "full-page.png"
    path.write_bytes(page.png())
    return str(path)


def settings_for(fake: FakeOpenRouter, tmp_path: Path, **overrides: Any) -> Any:
    values = {"transport": "stdio", "file_roots": [tmp_path], "cache_ttl_s": 0}
    return fake.settings(**{**values, **overrides})


async def analyze_page(
    fake: FakeOpenRouter, tmp_path: Path, image_path: str, **arguments: Any
) -> tuple[Any, RecordedRequest]:
    settings = settings_for(fake, tmp_path, **arguments.pop("settings", {}))
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=image_path, **arguments)
    assert not result.is_error, text_of(result)
    return result, fake.completions[-1]


@needs_tesseract
async def test_a_tall_page_arrives_as_tiles_whose_text_can_be_read(
    fake: FakeOpenRouter, tmp_path: Path, page: Page, page_file: str
) -> None:
    tiled, request = await analyze_page(fake, tmp_path, page_file)
    whole, baseline = await analyze_page(
        fake, tmp_path, page_file, settings={"max_tiles": 1}, question="Read it."
    )

    assert 2 <= len(request.images) <= 6
    assert tiled.meta["image"]["sent"]["tiles"] == len(request.images)
    read_from_tiles = ocr.share_read(page.words, request.ocr_words())
    read_whole = ocr.share_read(page.words, baseline.ocr_words())
    assert read_from_tiles >= 0.9, read_from_tiles
    assert read_whole <= 0.2, read_whole  # 291x2048: 14 px text at 3 px
    assert len(baseline.images) == 1
    assert "tiles" not in whole.meta["image"]["sent"]


async def test_the_tiles_are_described_in_meta_and_in_the_prompt(
    fake: FakeOpenRouter, tmp_path: Path, page_file: str
) -> None:
    result, request = await analyze_page(fake, tmp_path, page_file, question="Summarise.")

    sent = result.meta["image"]["sent"]
    assert result.meta["image"]["received"] == {
        "format": "PNG",
        "width": 1280,
        "height": 9000,
        "bytes": Path(page_file).stat().st_size,
    }
    parts = [(image.format, image.width, image.height) for image in request.images]
    assert [(p["format"], p["width"], p["height"]) for p in sent["parts"]] == parts
    assert sent["tiles"] == len(parts)
    assert sent["order"] == "top to bottom"
    assert sent["scale"] >= 9 / 14 - 0.01  # 14 px text stays at least 9 px high
    assert "scaled_down" not in sent
    assert sent["bytes"] == sum(image.byte_length or 0 for image in request.images)
    # Each tile is the page's full width, and neighbours overlap.
    assert {image.width for image in request.images} == {sent["width"]}
    assert sum(image.height or 0 for image in request.images) > sent["height"]
    content = request.body["messages"][0]["content"]
    assert content[0]["text"] == "Summarise."
    note = content[1]["text"]
    assert f"{len(parts)} consecutive pieces, top to bottom" in note
    assert f"about {sent['overlap_px']} pixels" in note
    assert [part["type"] for part in content[2:]] == ["image_url"] * len(parts)


async def test_more_tiles_than_allowed_are_scaled_down_and_meta_says_so(
    fake: FakeOpenRouter, tmp_path: Path, page_file: str
) -> None:
    result, request = await analyze_page(fake, tmp_path, page_file, settings={"max_tiles": 2})

    sent = result.meta["image"]["sent"]
    assert len(request.images) == sent["tiles"] == 2
    assert sent["scaled_down"] is True
    assert sent["scale"] < 9 / 14


async def test_detail_high_may_use_more_tiles_and_detail_low_sends_one_image(
    fake: FakeOpenRouter, tmp_path: Path, page_file: str
) -> None:
    _, auto_request = await analyze_page(fake, tmp_path, page_file)
    high, high_request = await analyze_page(fake, tmp_path, page_file, detail="high")
    low, low_request = await analyze_page(fake, tmp_path, page_file, detail="low")

    assert len(high_request.images) > len(auto_request.images)
    assert high.meta["image"]["sent"]["scale"] == 1.0  # full resolution
    assert len(low_request.images) == 1
    assert "tiles" not in low.meta["image"]["sent"]
    assert max(low_request.image.width or 0, low_request.image.height or 0) <= 512


@pytest.mark.parametrize(
    ("name", "picture"),
    [
        ("ordinary screenshot", screenshot(2560, 1600)),
        ("photo", photo(800, 4000)),  # as elongated as a page, but a photograph
    ],
)
async def test_ordinary_screenshots_and_photos_go_whole(
    fake: FakeOpenRouter, tmp_path: Path, name: str, picture: Any
) -> None:
    path = tmp_path / f"{name}.png"
    path.write_bytes(encoded(picture, "PNG"))
    result, request = await analyze_page(fake, tmp_path, str(path))

    assert len(request.images) == 1
    assert "tiles" not in result.meta["image"]["sent"]
    assert len(request.body["messages"][0]["content"]) == 2  # the question, the image


async def test_the_cost_estimate_counts_every_tile(
    fake: FakeOpenRouter, tmp_path: Path, page_file: str
) -> None:
    """With a per-call cap between the worst case of one tile and that of all of them, the
    tiled call is refused before anything is sent: its reservation priced every tile."""
    _, request = await analyze_page(fake, tmp_path, page_file)
    model = BY_ID["google/gemini-2.5-flash"]
    pricing = ModelPricing(prompt=float(model.prompt), completion=float(model.completion))
    candidates = [Candidate(Family.GEMINI_2, pricing)]
    sent = ChatRequest(
        model=request.body["model"],
        messages=request.body["messages"],
        max_tokens=request.body["max_tokens"],
    )
    sizes = [(image.width or 0, image.height or 0) for image in request.images]
    every_tile = worst_case_usd(RequestSize.of(sent, sizes), candidates)
    one_tile = RequestSize.of(sent, sizes)
    one_tile = RequestSize(one_tile.text_bytes, one_tile.messages, (sizes[0],), one_tile.max_tokens)
    cap = (worst_case_usd(one_tile, candidates) + every_tile) / 2
    assert worst_case_usd(one_tile, candidates) < cap < every_tile

    fake.reset()
    settings = settings_for(fake, tmp_path, max_cost_per_call_usd=cap)
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=page_file)

    assert result.structured_content["error"]["code"] == "COST_LIMIT_EXCEEDED"
    assert fake.completions == []
