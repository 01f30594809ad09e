"""When a screenshot is cut into tiles, and how: only elongated screenshots that would be
illegible whole, in reading order, overlapping, each within the model's size, at most
IMAGE_MCP_MAX_TILES of them."""

from __future__ import annotations

import asyncio
import io
from itertools import pairwise

import pytest
from PIL import Image

from openrouter_image_mcp.imaging import SizeTarget, normalize, target_for_model, tile_policy
from openrouter_image_mcp.imaging.classify import Content, classify
from openrouter_image_mcp.imaging.limits import PreparationLimits
from openrouter_image_mcp.imaging.normalize import prepare
from openrouter_image_mcp.imaging.tiles import LEGIBLE_SCALE, TilePolicy
from openrouter_image_mcp.imaging.workers import ImageWorkers
from openrouter_image_mcp.settings import Settings
from tests.imaging.conftest import MakeSettings
from tests.imaging.images import encoded, photo, screenshot
from tests.pages import tall_page

GEMINI = SizeTarget("gemini-2", 2048, None)
CLAUDE = SizeTarget("claude", 1568, 1_150_000)
OPENAI = SizeTarget("openai-tile", 2048, None, max_short_edge=768)
AUTO = TilePolicy(LEGIBLE_SCALE, 6)
MODELS = (
    "google/gemini-2.5-flash",
    "anthropic/claude-sonnet-4.5",
    "openai/gpt-4o",
    "openai/gpt-5-mini",
    "qwen/qwen2.5-vl-72b-instruct",
    "meta-llama/llama-3.2-90b-vision-instruct",
)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    "size", [(2560, 1600), (3840, 2160), (1179, 2556), (1920, 1080), (3440, 1440)]
)
def test_ordinary_screens_are_never_tiled(
    model: str, size: tuple[int, int], settings: Settings
) -> None:
    """Desktop, 4K, phone and ultrawide screens, on every model family's size rule."""
    for detail in ("auto", "high"):
        policy = tile_policy(detail, settings)
        assert policy is not None
        assert policy.plan(*size, target_for_model(model, detail, settings)) is None


@pytest.mark.parametrize("model", MODELS)
def test_a_tall_page_is_cut_into_legible_tiles_on_every_model(
    model: str, settings: Settings
) -> None:
    target = target_for_model(model, "auto", settings)
    plan = AUTO.plan(1280, 9000, target)

    assert plan is not None
    assert 2 <= plan.count <= 6
    whole = plan.whole_target(target.family).fitted_size(1280, 9000)
    boxes = plan.boxes(*whole)
    for left, top, right, bottom in boxes:
        assert (left, right) == (0, whole[0])  # the full width
        assert target.fits(right - left, bottom - top)  # the model takes it as it is
    facts = plan.facts(*whole, 9000)
    # 14 px text stays 9 px high, unless the model cannot take the full width at that scale
    # (OpenAI's 768 px short side: 0.6).
    assert facts.scale >= min(LEGIBLE_SCALE, 768 / 1280) - 0.005
    assert facts.order == "top to bottom"


def test_tiles_cover_the_page_in_reading_order_and_overlap() -> None:
    plan = AUTO.plan(1280, 9000, GEMINI)
    assert plan is not None
    boxes = plan.boxes(823, 5786)

    assert boxes[0][1] == 0
    assert boxes[-1][3] == 5786
    for (_, top, _, bottom), (_, next_top, _, _) in pairwise(boxes):
        assert top < next_top < bottom  # each starts inside the one before
        assert bottom - next_top >= plan.overlap
    assert len({bottom - top for _, top, _, bottom in boxes}) == 1  # equally long


def test_a_wide_image_is_cut_left_to_right() -> None:
    plan = AUTO.plan(9000, 1280, GEMINI)
    assert plan is not None
    boxes = plan.boxes(5786, 823)

    assert [box[0] for box in boxes] == sorted(box[0] for box in boxes)
    assert all((top, bottom) == (0, 823) for _, top, _, bottom in boxes)
    assert plan.facts(5786, 823, 9000).order == "left to right"


def test_more_tiles_than_allowed_are_fewer_and_scaled_down() -> None:
    plan = AUTO.plan(1280, 30000, GEMINI)
    assert plan is not None

    assert plan.count == 6
    assert plan.scaled_down
    whole = plan.whole_target("gemini-2").fitted_size(1280, 30000)
    assert plan.facts(*whole, 30000).scale < LEGIBLE_SCALE
    assert all(GEMINI.fits(r - left, b - t) for left, t, r, b in plan.boxes(*whole))


def test_detail_high_uses_full_resolution_and_more_tiles_and_low_none(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings()
    high = tile_policy("high", settings)
    auto = tile_policy("auto", settings)
    assert high is not None
    assert auto is not None
    high_plan = high.plan(1280, 9000, target_for_model("google/gemini-2.5-flash", "high", settings))
    auto_plan = auto.plan(1280, 9000, GEMINI)

    assert high.max_tiles == 2 * auto.max_tiles == 12
    assert high_plan is not None
    assert auto_plan is not None
    assert high_plan.count > auto_plan.count
    assert tile_policy("low", settings) is None
    assert tile_policy("auto", make_settings(max_tiles=1)) is None


def test_a_page_already_legible_whole_is_not_tiled() -> None:
    """1280x4000 fits a 2048 px model at 0.51, illegible; on a 4096 px one at 1.0."""
    assert AUTO.plan(1280, 4000, GEMINI) is not None
    assert AUTO.plan(1280, 4000, SizeTarget("default", 4096, None)) is None


def test_prepared_tiles_share_the_byte_budget_and_fit_the_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = tall_page()
    limits = PreparationLimits(max_pixels=50_000_000, max_image_bytes=500_000, jpeg_quality=85)
    classified: list[Content] = []
    monkeypatch.setattr(
        normalize, "classify", lambda image: classified.append(classify(image)) or classified[-1]
    )
    preparation = prepare(page.png(), CLAUDE, limits, tiling=AUTO)

    assert classified == [Content.GRAPHICS]  # the page once, not every tile again
    assert preparation.tiling is not None
    assert len(preparation.sent) == preparation.tiling.count == 5
    assert preparation.payloads is not None
    for facts, payload in zip(preparation.sent, preparation.payloads, strict=True):
        assert len(payload) == facts.bytes <= 500_000 // 5
        assert CLAUDE.fits(facts.width, facts.height)
        assert Image.open(io.BytesIO(payload)).size == (facts.width, facts.height)


def test_an_elongated_photo_goes_whole() -> None:
    limits = PreparationLimits(max_pixels=50_000_000, max_image_bytes=20_000_000, jpeg_quality=85)
    preparation = prepare(encoded(photo(800, 4000), "PNG"), GEMINI, limits, tiling=AUTO)

    assert preparation.tiling is None
    (sent,) = preparation.sent
    assert (sent.format, sent.width, sent.height) == ("JPEG", 410, 2048)


async def test_the_workers_send_one_payload_per_tile(settings: Settings) -> None:
    workers = ImageWorkers(settings)
    try:
        raw = encoded(screenshot(1000, 6000, text_px=14), "PNG")
        image = await asyncio.wait_for(workers.prepare(raw, GEMINI, tiling=AUTO), 60)
        whole = await asyncio.wait_for(workers.prepare(raw, GEMINI), 60)
    finally:
        await workers.aclose()

    assert image.tiling is not None
    assert len(image.parts) == image.tiling.count >= 2
    # Each tile is encoded like any opaque screenshot (full-chroma JPEG), on its own.
    assert all(part.data_url.startswith("data:image/jpeg;base64,") for part in image.parts)
    assert image.as_meta()["sent"]["tiles"] == image.tiling.count
    assert whole.tiling is None
    assert len(whole.parts) == 1
