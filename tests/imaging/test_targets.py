"""Model-aware target sizes and token estimates."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from openrouter_image_mcp.imaging import SizeTarget, estimate_image_tokens, target_for_model
from openrouter_image_mcp.settings import Settings
from tests.imaging.conftest import MakeSettings

MODELS = [
    "openai/gpt-4o",
    "openai/gpt-4.1",
    "openai/gpt-5",
    "openai/gpt-5-mini",
    "openai/gpt-4.1-nano",
    "openai/o4-mini",
    "anthropic/claude-sonnet-4.5",
    "anthropic/claude-opus-4.7",
    "google/gemini-2.5-flash",
    "google/gemini-3-flash-preview",
    "qwen/qwen2.5-vl-72b-instruct",
    "qwen/qwen3-vl-235b-a22b-instruct",
    "meta-llama/llama-3.2-90b-vision-instruct",
    "mistralai/pixtral-large-2411",
]


@pytest.mark.parametrize(
    ("model", "family", "sent"),
    [
        ("openai/gpt-4o", "openai-tile", (1024, 768)),  # 2048 box, then short side 768
        ("openai/gpt-4o-2024-08-06", "openai-tile", (1024, 768)),
        ("openai/gpt-4.1", "openai-tile", (1024, 768)),
        ("openai/gpt-5", "openai-tile", (1024, 768)),
        ("openai/o3", "openai-tile", (1024, 768)),
        ("openai/gpt-5-mini", "openai-patch", (1440, 1080)),  # 45 x 34 = 1530 patches
        ("openai/gpt-5-nano", "openai-patch", (1440, 1080)),
        ("openai/gpt-4.1-mini", "openai-patch", (1440, 1080)),
        ("openai/o4-mini", "openai-patch", (1440, 1080)),
        ("anthropic/claude-sonnet-4.5", "claude", (1237, 928)),  # 1,147,936 px <= 1.15 MP
        ("anthropic/claude-opus-4.7", "claude", (1237, 928)),
        ("google/gemini-2.5-flash", "gemini-2", (2048, 1536)),
        ("google/gemini-2.5-flash-lite", "gemini-2", (2048, 1536)),
        ("google/gemini-3-flash-preview", "gemini-3", (2048, 1536)),
        ("google/gemini-3.1-flash-lite", "gemini-3", (2048, 1536)),
        ("qwen/qwen2.5-vl-72b-instruct", "qwen2.5-vl", (1456, 1092)),  # 52 x 39 = 2028 patches
        ("qwen/qwen3-vl-235b-a22b-instruct", "qwen3-vl", (1664, 1248)),  # 52 x 39 patches
        ("qwen/qwen3.8-27b:free", "qwen3-vl", (1664, 1248)),
        ("meta-llama/llama-3.2-90b-vision-instruct", "llama-3.2-vision", (1120, 840)),
        ("mistralai/pixtral-large-2411", "default", (2048, 1536)),
        ("~Anthropic/Claude-Sonnet-4.5:beta", "claude", (1237, 928)),
    ],
)
def test_each_family_gets_its_documented_size(
    model: str, family: str, sent: tuple[int, int], settings: Settings
) -> None:
    target = target_for_model(model, "auto", settings)
    assert target.family == family
    assert target.fitted_size(4000, 3000) == sent
    assert target.fitted_size(3000, 4000) == sent[::-1]


@pytest.mark.parametrize(
    ("model", "sent"),
    [
        ("anthropic/claude-opus-4.7", (2236, 1677)),  # Opus 4.7's 2576 px / 3.75 MP tier
        ("anthropic/claude-opus-4-7", (2236, 1677)),  # Anthropic's own spelling
        ("anthropic/claude-opus-5", (2236, 1677)),  # assumed to keep the tier
        ("anthropic/claude-sonnet-4.5", (1237, 928)),  # no high tier before 4.7
        ("anthropic/claude-opus-4-20250514", (1237, 928)),  # a date, not version 4.20
        ("anthropic/claude-3.5-sonnet", (1237, 928)),
        ("google/gemini-2.5-flash", (3072, 2304)),  # Gemini's own 3072 px cap
        ("qwen/qwen3-vl-235b-a22b-instruct", (2346, 1760)),  # 4096 patches
        ("openai/gpt-4o", (1024, 768)),  # high detail is OpenAI's standard rule
    ],
)
def test_high_detail_uses_the_high_tier_where_there_is_one(
    model: str, sent: tuple[int, int], settings: Settings
) -> None:
    assert target_for_model(model, "high", settings).fitted_size(4000, 3000) == sent


@pytest.mark.parametrize("model", MODELS)
def test_low_detail_is_512_px_everywhere(model: str, settings: Settings) -> None:
    assert target_for_model(model, "low", settings).fitted_size(4000, 3000) == (512, 384)


def test_deployment_caps_tighten_every_target(make_settings: MakeSettings) -> None:
    edge_capped = make_settings(max_edge=1000)
    assert target_for_model("google/gemini-2.5-flash", "auto", edge_capped).fitted_size(
        4000, 3000
    ) == (1000, 750)
    assert target_for_model("openai/gpt-4o", "auto", edge_capped).fitted_size(4000, 3000) == (
        1000,
        750,
    )
    budget_capped = make_settings(pixel_budget=300_000)
    target = target_for_model("google/gemini-2.5-flash", "high", budget_capped)
    assert target.fitted_size(4000, 3000) == (632, 474)  # 299,568 px
    # A cap never loosens a stricter model bound.
    loose = make_settings(max_edge=5000, pixel_budget=50_000_000)
    assert target_for_model("openai/gpt-4o", "auto", loose).fitted_size(4000, 3000) == (1024, 768)


def test_images_already_small_enough_keep_their_size(settings: Settings) -> None:
    for model in MODELS:
        target = target_for_model(model, "auto", settings)
        assert target.fitted_size(300, 200) == (300, 200)
        assert target.fits(300, 200)


_UNCAPPED = Settings(_env_file=None, transport="stdio", max_edge=None, pixel_budget=None)  # type: ignore[call-arg]


@hypothesis_settings(max_examples=300, deadline=None, derandomize=True)
@given(
    width=st.integers(1, 30_000),
    height=st.integers(1, 30_000),
    model=st.sampled_from(MODELS),
    detail=st.sampled_from(["auto", "low", "high"]),
    max_edge=st.none() | st.integers(16, 5000),
    pixel_budget=st.none() | st.integers(256, 20_000_000),
)
def test_fitted_size_respects_bounds_never_upscales_and_keeps_aspect(
    width: int,
    height: int,
    model: str,
    detail: str,
    max_edge: int | None,
    pixel_budget: int | None,
) -> None:
    target = target_for_model(model, detail, _UNCAPPED).capped(max_edge, pixel_budget)  # type: ignore[arg-type]
    fitted_width, fitted_height = target.fitted_size(width, height)

    assert 1 <= fitted_width <= width
    assert 1 <= fitted_height <= height
    _assert_within_bounds(target, fitted_width, fitted_height)
    long_edge, short_edge = max(width, height), min(width, height)
    fitted_long, fitted_short = max(fitted_width, fitted_height), min(fitted_width, fitted_height)
    assert abs(fitted_short - short_edge * fitted_long / long_edge) <= 1


def _assert_within_bounds(target: SizeTarget, width: int, height: int) -> None:
    if target.max_edge is not None:
        assert max(width, height) <= target.max_edge
    if target.max_short_edge is not None:
        assert min(width, height) <= target.max_short_edge
    if target.max_pixels is not None:
        assert width * height <= target.max_pixels
    if target.patch_size is not None and target.max_patches is not None:
        patches = math.ceil(width / target.patch_size) * math.ceil(height / target.patch_size)
        assert patches <= target.max_patches


@pytest.mark.parametrize(
    ("size", "family", "tokens"),
    [
        ((1024, 1024), "openai-tile", 765),  # OpenAI's example: 768x768, 4 tiles
        ((2048, 4096), "openai-tile", 1105),  # OpenAI's example: 768x1536, 6 tiles
        ((512, 384), "openai-tile", 255),
        ((1024, 1024), "openai-patch", 1024),  # OpenAI's example: 32 x 32 patches
        ((1440, 1080), "openai-patch", 1530),
        ((4000, 3000), "openai-patch", 1536),  # capped
        ((1000, 1000), "claude", 1334),  # Anthropic's table
        ((384, 384), "gemini-2", 258),
        ((2048, 1536), "gemini-2", 258 * 6),
        ((4000, 3000), "gemini-3", 1120),
        ((1456, 1092), "qwen2.5-vl", 52 * 39),
        ((1664, 1248), "qwen3-vl", 52 * 39),
        ((1120, 840), "llama-3.2-vision", 4 * 1601),
        ((1000, 750), "default", 1000),
    ],
)
def test_token_estimates_follow_the_published_rules(
    size: tuple[int, int], family: str, tokens: int
) -> None:
    assert estimate_image_tokens(*size, family) == tokens


def test_fitting_cuts_the_estimated_tokens(settings: Settings) -> None:
    target = target_for_model("anthropic/claude-sonnet-4.5", "auto", settings)
    fitted = target.fitted_size(4000, 3000)
    assert (
        estimate_image_tokens(*fitted, "claude")
        <= 1534
        < estimate_image_tokens(4000, 3000, "claude")
    )


def test_unknown_family_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="nonsense"):
        estimate_image_tokens(100, 100, "nonsense")
