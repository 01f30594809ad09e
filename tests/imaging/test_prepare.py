"""Preparing images: pass-through, orientation, conversions, encoding by content, sizes."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.imaging import (
    PreparedImage,
    SizeTarget,
    normalize,
    prepare_image,
    target_for_model,
)
from openrouter_image_mcp.imaging.classify import Content, classify
from openrouter_image_mcp.imaging.modes import SENDABLE_MODES, to_sendable_mode
from openrouter_image_mcp.settings import Settings
from tests.imaging.conftest import MakeSettings
from tests.imaging.images import (
    BLUE,
    RED,
    close_to,
    encoded,
    halves,
    noise_bytes,
    photo,
    screenshot,
    sent_bytes,
    sent_image,
)

TARGET = SizeTarget("default", 2048, 4_000_000)
ORIENTATION = 0x0112


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def _is_lossless_webp(payload: bytes) -> bool:
    return payload[:4] == b"RIFF" and payload[8:12] == b"WEBP" and b"VP8L" in payload[12:40]


FULL_CHROMA, HALF_CHROMA = 0, 2  # what JpegImagePlugin.get_sampling says for 4:4:4 and 4:2:0


def _jpeg_sampling(prepared: PreparedImage) -> int:
    with Image.open(io.BytesIO(sent_bytes(prepared))) as sent:
        assert sent.format == "JPEG"
        return JpegImagePlugin.get_sampling(sent)


# --- pass-through -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format_name", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_fitting_images_are_sent_byte_for_byte(
    format_name: str, mime: str, settings: Settings
) -> None:
    raw = encoded(photo(120, 80), format_name)

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.passthrough is True
    assert prepared.mime == mime
    assert sent_bytes(prepared) == raw
    assert prepared.sent == prepared.received


def test_a_large_pass_through_survives_base64_chunking(settings: Settings) -> None:
    raw = encoded(Image.frombytes("RGB", (600, 600), noise_bytes(600 * 600 * 3)), "PNG")
    assert len(raw) > 1_000_000  # several base64 chunks

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.passthrough is True
    assert sent_bytes(prepared) == raw


def test_a_truncated_image_is_not_passed_through(settings: Settings) -> None:
    whole = encoded(photo(120, 80), "PNG")
    without_end = whole[: -len(b"IEND") - 8]  # drop the IEND chunk only: the pixels decode

    with pytest.raises(ToolFailure) as caught:
        prepare_image(without_end, TARGET, settings)

    assert caught.value.code is ErrorCode.INVALID_INPUT


def test_an_image_over_the_byte_limit_is_reencoded_smaller(make_settings: MakeSettings) -> None:
    raw = encoded(halves((60, 40), RED, BLUE), "PNG", compress_level=0)
    assert len(raw) > 4096

    prepared = prepare_image(raw, TARGET, make_settings(max_image_bytes=4096))

    assert prepared.passthrough is False
    assert prepared.sent.bytes <= 4096
    assert (prepared.sent.width, prepared.sent.height) == (60, 40)


# --- decoding: once, and no more pixels than needed --------------------------------------------


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[int, int]]]:
    """Every real decode (a load with tiles still to read): format and decoded size."""
    seen: list[tuple[str, tuple[int, int]]] = []
    original = ImageFile.ImageFile.load

    def counted(image: ImageFile.ImageFile) -> Any:
        pending = bool(image.tile)
        result = original(image)
        if pending:
            seen.append((str(image.format), image.size))
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted)
    return seen


def test_a_large_jpeg_is_decoded_once_at_reduced_scale(
    settings: Settings, decodes: list[tuple[str, tuple[int, int]]]
) -> None:
    raw = encoded(photo(4000, 3000), "JPEG", quality=90)

    prepared = prepare_image(raw, TARGET, settings)

    assert decodes == [("JPEG", (2000, 1500))]  # DCT scaling at 1/2: within 5% of 2048 px
    assert (prepared.sent.width, prepared.sent.height) == (2000, 1500)


def test_a_large_png_is_decoded_once(
    settings: Settings, decodes: list[tuple[str, tuple[int, int]]]
) -> None:
    raw = encoded(screenshot(2560, 1600), "PNG")

    prepared = prepare_image(raw, TARGET, settings)

    assert decodes == [("PNG", (2560, 1600))]
    assert (prepared.sent.width, prepared.sent.height) == (2048, 1280)


def test_a_fitting_jpeg_is_only_checked_at_an_eighth_of_its_size(
    settings: Settings, decodes: list[tuple[str, tuple[int, int]]]
) -> None:
    raw = encoded(photo(1600, 1200), "JPEG", quality=90)

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.passthrough is True
    assert decodes == [("JPEG", (200, 150))]


def test_cmyk_jpegs_are_converted_not_passed_through(settings: Settings) -> None:
    # Pillow writes CMYK JPEGs the Adobe way (inverted, with an APP14 marker).
    raw = encoded(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG", quality=95)
    assert b"Adobe" in raw

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.passthrough is False
    picture = sent_image(prepared)
    assert picture.mode == "RGB"
    assert close_to(picture.getpixel((20, 15)), (255, 0, 0))


# --- orientation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "top_left"),
    [(3, BLUE), (6, RED), (8, BLUE)],  # 180°, 90° clockwise, 90° counter-clockwise to view
)
def test_exif_orientation_is_applied_and_stripped(
    orientation: int, top_left: tuple[int, int, int], settings: Settings
) -> None:
    # Stored 80x40: left half red, right half blue.
    raw = encoded(halves((80, 40), RED, BLUE), "JPEG", quality=95, exif=_exif(orientation))

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.passthrough is False
    assert (prepared.received.width, prepared.received.height) == (80, 40)
    expected = (80, 40) if orientation == 3 else (40, 80)
    assert (prepared.sent.width, prepared.sent.height) == expected
    picture = sent_image(prepared)
    assert close_to(picture.convert("RGB").getpixel((2, 2)), top_left, 30)
    assert ORIENTATION not in picture.getexif()


def test_orientation_is_applied_when_shrinking_too(settings: Settings) -> None:
    raw = encoded(halves((4000, 1000), RED, BLUE), "JPEG", exif=_exif(6))
    target = SizeTarget("default", 1000, None)

    prepared = prepare_image(raw, target, settings)

    assert max(prepared.sent.width, prepared.sent.height) <= 1000
    assert prepared.sent.height > prepared.sent.width  # portrait once upright


# --- pixel formats -------------------------------------------------------------------------------


def test_sixteen_bit_gray_is_scaled_not_clipped(settings: Settings) -> None:
    deep = Image.new("I;16", (40, 20), 32768)
    deep.paste(65535, (20, 0, 40, 20))
    raw = encoded(deep, "PNG")
    assert Image.open(io.BytesIO(raw)).mode == "I;16"

    picture = sent_image(prepare_image(raw, SizeTarget("default", 20, None), settings))

    assert picture.convert("L").getpixel((2, 5)) == pytest.approx(128, abs=2)
    assert picture.convert("L").getpixel((18, 5)) == 255


def test_palette_transparency_is_kept_in_a_lossless_format(settings: Settings) -> None:
    palette = Image.new("P", (64, 64), 1)
    palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    palette.paste(0, (0, 0, 32, 64))
    raw = encoded(palette, "PNG", transparency=0)

    prepared = prepare_image(raw, SizeTarget("default", 32, None), settings)

    assert prepared.sent.format == "WEBP"
    assert _is_lossless_webp(sent_bytes(prepared))
    picture = sent_image(prepared)
    assert picture.mode == "RGBA"
    assert picture.getpixel((2, 16))[3] == 0
    assert picture.getpixel((30, 16)) == (200, 30, 30, 255)


def test_transparent_photos_go_out_as_jpeg_on_white(settings: Settings) -> None:
    picture = photo(200, 100).convert("RGBA")
    picture.paste((0, 0, 0, 0), (0, 0, 100, 100))
    raw = encoded(picture, "PNG")

    prepared = prepare_image(raw, SizeTarget("default", 100, None), settings)

    assert prepared.sent.format == "JPEG"
    sent = sent_image(prepared)
    assert sent.mode == "RGB"
    assert min(sent.getpixel((10, 25))) >= 245  # white, not black


def test_fully_opaque_alpha_is_dropped(settings: Settings) -> None:
    raw = encoded(screenshot(400, 300).convert("RGBA"), "PNG")

    picture = sent_image(prepare_image(raw, SizeTarget("default", 200, None), settings))

    assert picture.mode == "RGB"


@pytest.mark.parametrize(
    "mode",
    ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "LAB", "I", "F"],
)
def test_every_decoder_mode_becomes_sendable(mode: str) -> None:
    with Image.new(mode, (8, 8)) as image, to_sendable_mode(image) as sendable:
        assert sendable.mode in SENDABLE_MODES


def test_colour_profiles_are_kept_when_reencoding(settings: Settings) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raw = encoded(photo(300, 200), "PNG", icc_profile=profile)

    prepared = prepare_image(raw, SizeTarget("default", 150, None), settings)

    assert prepared.passthrough is False
    assert sent_image(prepared).info.get("icc_profile") == profile


# --- encoding by content -------------------------------------------------------------------------


def test_screenshots_go_out_as_full_chroma_jpeg_and_photos_as_subsampled_jpeg(
    settings: Settings,
) -> None:
    target = SizeTarget("default", 400, None)
    shot = prepare_image(encoded(screenshot(800, 500), "PNG"), target, settings)
    picture = prepare_image(encoded(photo(800, 500), "PNG"), target, settings)

    assert _jpeg_sampling(shot) == FULL_CHROMA
    assert _jpeg_sampling(picture) == HALF_CHROMA


def test_graphics_use_quality_95_whatever_the_photo_quality(
    make_settings: MakeSettings,
) -> None:
    picture = screenshot(800, 500)
    target = SizeTarget("default", 800, None)
    raw = encoded(picture, "BMP")  # never passed through

    prepared = prepare_image(raw, target, make_settings(jpeg_quality=40))

    assert sent_bytes(prepared) == encoded(picture, "JPEG", quality=95, subsampling=0)


def _gradient(width: int, height: int) -> Image.Image:
    """Slow colour gradients without noise: a render or illustration, not a photo."""
    return Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.linear_gradient("L").rotate(90).resize((width, height)),
        ],
    )


@pytest.mark.parametrize(
    ("image", "content"),
    [
        (screenshot(600, 400), Content.GRAPHICS),
        (screenshot(600, 400).convert("LA"), Content.GRAPHICS),
        (Image.new("RGB", (1, 1)), Content.GRAPHICS),
        (_gradient(600, 400), Content.SMOOTH_GRAPHICS),
        (photo(600, 400), Content.PHOTO),
        (Image.frombytes("L", (300, 200), noise_bytes(300 * 200)), Content.PHOTO),
    ],
    ids=["screenshot", "gray-screenshot", "one-pixel", "gradient", "photo", "noise"],
)
def test_content_classifier(image: Image.Image, content: Content) -> None:
    assert classify(image) is content


def test_smooth_graphics_go_out_as_full_chroma_jpeg_too(settings: Settings) -> None:
    prepared = prepare_image(encoded(_gradient(600, 400), "BMP"), TARGET, settings)

    assert _jpeg_sampling(prepared) == FULL_CHROMA


def test_transparent_graphics_stay_lossless(settings: Settings) -> None:
    transparent = screenshot(600, 400).convert("RGBA")
    transparent.paste((0, 0, 0, 0), (0, 0, 100, 100))

    prepared = prepare_image(
        encoded(transparent, "PNG"), SizeTarget("default", 300, None), settings
    )

    assert _is_lossless_webp(sent_bytes(prepared))
    assert sent_image(prepared).getpixel((10, 10))[3] == 0


def test_jpeg_quality_steps_down_to_meet_the_byte_limit(make_settings: MakeSettings) -> None:
    picture = photo(300, 200)
    at_85, at_50 = (
        len(encoded(picture, "JPEG", quality=85)),
        len(encoded(picture, "JPEG", quality=50)),
    )
    limit = (at_85 + at_50) // 2
    raw = encoded(picture, "BMP")

    prepared = prepare_image(raw, TARGET, make_settings(max_image_bytes=limit))

    assert prepared.sent.format == "JPEG"
    assert at_50 <= prepared.sent.bytes <= limit


def test_an_image_that_cannot_meet_the_byte_limit_is_refused(make_settings: MakeSettings) -> None:
    raw = encoded(Image.frombytes("RGB", (300, 300), noise_bytes(300 * 300 * 3)), "BMP")

    with pytest.raises(ToolFailure) as caught:
        prepare_image(raw, TARGET, make_settings(max_image_bytes=1024))

    assert caught.value.code is ErrorCode.RESOURCE_TOO_LARGE
    assert "IMAGE_MCP_MAX_IMAGE_BYTES" in caught.value.message


# --- sizes -----------------------------------------------------------------------------------


def test_small_images_are_never_upscaled(settings: Settings) -> None:
    for format_name in ("PNG", "BMP"):
        prepared = prepare_image(encoded(photo(10, 7), format_name), TARGET, settings)
        assert (prepared.sent.width, prepared.sent.height) == (10, 7)


def test_extreme_strips_are_capped_to_an_encodable_edge(settings: Settings) -> None:
    raw = encoded(Image.new("RGB", (30_000, 12), "white"), "PNG")  # 938 patches: in budget

    prepared = _prepare_for(raw, "openai/gpt-5-mini", "auto", settings)

    assert (prepared.sent.width, prepared.sent.height) == (8192, 3)


@pytest.mark.parametrize("format_name", ["PNG", "JPEG"])
@pytest.mark.parametrize(
    ("max_edge", "sent"),
    [
        (510, (500, 375)),  # halving (reduce / DCT scaling) lands 2% under: used as is
        (600, (600, 450)),  # halving would land 17% under: resampled to the exact target
    ],
)
def test_shrinking_takes_a_cheap_halving_only_within_5_percent_of_the_target(
    format_name: str, max_edge: int, sent: tuple[int, int], settings: Settings
) -> None:
    raw = encoded(photo(1000, 750), format_name)

    prepared = prepare_image(raw, SizeTarget("default", max_edge, None), settings)

    assert (prepared.sent.width, prepared.sent.height) == sent


@pytest.fixture
def filters(monkeypatch: pytest.MonkeyPatch) -> list[Image.Resampling]:
    """The filter of every resize made while preparing (the resize itself still happens),
    besides the nearest-neighbour sample the classifier takes."""
    seen: list[Image.Resampling] = []
    resize = Image.Image.resize

    def recording(image: Image.Image, size: tuple[int, int], resample: Any = None, **kw: Any):
        if resample != Image.Resampling.NEAREST:
            seen.append(resample)
        return resize(image, size, resample, **kw)

    monkeypatch.setattr(Image.Image, "resize", recording)
    return seen


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> list[Content]:
    """What every classification during preparation decided."""
    seen: list[Content] = []

    def recording(image: Image.Image) -> Content:
        seen.append(classify(image))
        return seen[-1]

    monkeypatch.setattr(normalize, "classify", recording)
    return seen


@pytest.fixture(scope="module")
def screenshot_png() -> bytes:
    return encoded(screenshot(1280, 800), "PNG")


@pytest.fixture(scope="module")
def photo_png() -> bytes:
    return encoded(photo(1280, 960), "PNG")


def test_graphics_are_shrunk_bilinear_once_classified(
    screenshot_png: bytes,
    filters: list[Image.Resampling],
    classified: list[Content],
    settings: Settings,
) -> None:
    # 1280 -> 1024: a non-integer factor, where area averaging smears small text.
    prepared = prepare_image(screenshot_png, SizeTarget("default", 1024, None), settings)

    assert (prepared.sent.width, prepared.sent.height) == (1024, 640)
    assert filters == [Image.Resampling.BILINEAR]
    assert classified == [Content.GRAPHICS]


def test_photos_are_shrunk_by_area_averaging_once_classified(
    photo_png: bytes,
    filters: list[Image.Resampling],
    classified: list[Content],
    settings: Settings,
) -> None:
    prepared = prepare_image(photo_png, SizeTarget("default", 1024, None), settings)

    assert (prepared.sent.width, prepared.sent.height) == (1024, 768)
    assert filters == [Image.Resampling.BOX]
    assert classified == [Content.PHOTO]
    assert _jpeg_sampling(prepared) == HALF_CHROMA


@pytest.fixture(scope="module")
def wide_screenshot() -> bytes:
    """A 2560x1600 UI with 11 px text, as PNG."""
    return encoded(screenshot(2560, 1600, text_px=11), "PNG")


@pytest.mark.parametrize(
    ("model", "detail"),
    [
        ("anthropic/claude-opus-4.7", "high"),
        ("google/gemini-2.5-flash", "auto"),
        ("google/gemini-3-flash-preview", "auto"),
        ("mistralai/pixtral-large-2411", "auto"),
    ],
)
def test_screenshot_text_stays_legible_where_the_model_can_see_it(
    model: str, detail: str, wide_screenshot: bytes, settings: Settings
) -> None:
    prepared = _prepare_for(wide_screenshot, model, detail, settings)

    assert _jpeg_sampling(prepared) == FULL_CHROMA
    assert prepared.sent.height / 1600 * 11 >= 8


@pytest.mark.parametrize(
    ("model", "model_view"),
    [
        ("openai/gpt-4o", (1228, 768)),  # OpenAI scales to a 768 px short side itself
        ("anthropic/claude-sonnet-4.5", (1356, 848)),  # Claude to about 1.15 MP itself
    ],
)
def test_screenshots_reach_tile_and_standard_claude_models_at_their_full_view(
    model: str, model_view: tuple[int, int], wide_screenshot: bytes, settings: Settings
) -> None:
    prepared = _prepare_for(wide_screenshot, model, "auto", settings)

    # These models never look at more than this; the text is as legible as they allow.
    assert (prepared.sent.width, prepared.sent.height) == model_view
    assert _jpeg_sampling(prepared) == FULL_CHROMA


def _prepare_for(raw: bytes, model: str, detail: str, settings: Settings) -> PreparedImage:
    return prepare_image(raw, target_for_model(model, detail, settings), settings)  # type: ignore[arg-type]
