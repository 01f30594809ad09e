"""Decoding untrusted bytes: accepted formats, hostile and broken inputs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.imaging import SizeTarget, prepare_image
from openrouter_image_mcp.imaging.decode import ACCEPTED_FORMATS
from openrouter_image_mcp.settings import Settings
from tests.imaging.conftest import MakeSettings
from tests.imaging.images import (
    BLUE,
    GREEN,
    RED,
    close_to,
    encoded,
    halves,
    noise_bytes,
    png_claiming,
    sent_image,
)

TARGET = SizeTarget("default", 2048, 4_000_000)
SAFE_CODES = {ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.INVALID_INPUT, ErrorCode.RESOURCE_TOO_LARGE}


def _failure(raw: bytes, settings: Settings, target: SizeTarget = TARGET) -> ToolFailure:
    with pytest.raises(ToolFailure) as caught:
        prepare_image(raw, target, settings)
    message = caught.value.message
    assert "Traceback" not in message
    assert ".py" not in message
    assert "site-packages" not in message
    return caught.value


@pytest.mark.parametrize(
    ("format_name", "passthrough"),
    [
        ("JPEG", True),
        ("PNG", True),
        ("WEBP", True),
        ("GIF", True),
        ("BMP", False),
        ("TIFF", False),
        ("AVIF", False),
        ("HEIF", False),
    ],
)
def test_each_accepted_format_decodes(
    format_name: str, passthrough: bool, settings: Settings
) -> None:
    if format_name not in ACCEPTED_FORMATS:
        pytest.skip(f"this Pillow build has no {format_name} decoder")
    raw = encoded(halves((64, 48), RED, BLUE), format_name)

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.received.format == format_name
    assert (prepared.received.width, prepared.received.height) == (64, 48)
    assert prepared.received.bytes == len(raw)
    assert prepared.passthrough is passthrough
    picture = sent_image(prepared).convert("RGB")
    assert picture.size == (64, 48)
    assert close_to(picture.getpixel((8, 24)), RED, 40)  # lossy HEIF/AVIF: loose
    assert close_to(picture.getpixel((56, 24)), BLUE, 40)


@pytest.mark.parametrize("format_name", ["GIF", "PNG", "WEBP"])
def test_animations_send_their_first_frame_and_count_frames(
    format_name: str, settings: Settings
) -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in (RED, GREEN, BLUE)]
    raw = encoded(frames[0], format_name, save_all=True, append_images=frames[1:], duration=100)

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.received.frames == 3
    assert prepared.received.as_meta()["frames"] == 3
    assert prepared.passthrough is False
    assert prepared.sent.frames == 1
    assert "frames" not in prepared.sent.as_meta()
    picture = sent_image(prepared)
    assert getattr(picture, "n_frames", 1) == 1
    assert close_to(picture.convert("RGB").getpixel((20, 15)), RED)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every image whose pixels anything tried to decode (the decode itself is skipped)."""
    attempts: list[object] = []

    def record(image: Image.Image) -> None:
        attempts.append(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", record)
    monkeypatch.setattr(Image.Image, "load", record)
    return attempts


def test_a_tiny_png_claiming_10_gigapixels_is_refused_from_its_header(
    settings: Settings, loads: list[object]
) -> None:
    raw = png_claiming(100_000, 100_000)
    assert len(raw) < 1024

    failure = _failure(raw, settings)

    assert failure.code is ErrorCode.RESOURCE_TOO_LARGE
    assert "IMAGE_MCP_MAX_PIXELS" in failure.message
    assert loads == []


def test_the_pixel_limit_is_checked_before_decoding(
    settings: Settings, loads: list[object]
) -> None:
    # 64 MP: over the default 50 MP limit but under Pillow's own bomb threshold.
    failure = _failure(png_claiming(8000, 8000), settings)

    assert failure.code is ErrorCode.RESOURCE_TOO_LARGE
    assert "8000x8000" in failure.message
    assert "50,000,000" in failure.message
    assert "IMAGE_MCP_MAX_PIXELS" in failure.message
    assert loads == []


def test_max_pixels_setting_applies_to_real_images(make_settings: MakeSettings) -> None:
    raw = encoded(Image.new("RGB", (200, 100)), "PNG")
    failure = _failure(raw, make_settings(max_pixels=10_000))
    assert failure.code is ErrorCode.RESOURCE_TOO_LARGE
    assert "10,000" in failure.message


def _truncated_png() -> bytes:
    raw = encoded(Image.frombytes("RGB", (64, 64), noise_bytes(64 * 64 * 3)), "PNG")
    return raw[: len(raw) // 2]


def _truncated_jpeg() -> bytes:
    raw = encoded(Image.frombytes("RGB", (64, 64), noise_bytes(64 * 64 * 3)), "JPEG")
    return raw[: len(raw) // 2]


@pytest.mark.parametrize(
    ("raw", "code", "hint"),
    [
        (_truncated_png(), ErrorCode.INVALID_INPUT, "PNG image is corrupt or truncated"),
        (_truncated_jpeg(), ErrorCode.INVALID_INPUT, "JPEG image is corrupt or truncated"),
        (encoded(Image.new("RGB", (8, 8)), "PNG")[:20], ErrorCode.INVALID_INPUT, "PNG image"),
        (b"GIF89a\x01", ErrorCode.INVALID_INPUT, "GIF image"),
        (
            b"<!DOCTYPE html><html><body>Not found</body></html>",
            ErrorCode.UNSUPPORTED_FORMAT,
            "HTML page",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", ErrorCode.UNSUPPORTED_FORMAT, "PDF"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
            b"<script>alert(1)</script></svg>",
            ErrorCode.UNSUPPORTED_FORMAT,
            "SVG",
        ),
        (b"just some plain text, not an image", ErrorCode.UNSUPPORTED_FORMAT, "PNG or JPEG"),
        (b"", ErrorCode.UNSUPPORTED_FORMAT, "empty"),
        (
            b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
            ErrorCode.UNSUPPORTED_FORMAT,
            "PNG or JPEG",
        ),
        (noise_bytes(4096, seed=7), ErrorCode.UNSUPPORTED_FORMAT, "accepted format"),
        # Pillow can read ICO, but it is not on the allow-list.
        (encoded(Image.new("RGB", (16, 16)), "ICO"), ErrorCode.UNSUPPORTED_FORMAT, "WebP"),
    ],
    ids=[
        "truncated-png",
        "truncated-jpeg",
        "png-header-cut",
        "gif-header-cut",
        "html",
        "pdf",
        "svg-script",
        "text",
        "empty",
        "mp4-video",
        "random",
        "ico",
    ],
)
def test_broken_and_foreign_inputs_fail_with_a_stable_code(
    raw: bytes, code: ErrorCode, hint: str, settings: Settings
) -> None:
    failure = _failure(raw, settings)
    assert failure.code is code
    assert hint in failure.message


def test_decoding_never_tolerates_truncation_globally(settings: Settings) -> None:
    _failure(_truncated_png(), settings)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def _seed_images() -> list[bytes]:
    picture = halves((24, 16), RED, BLUE)
    animation = [picture, Image.new("RGB", (24, 16), GREEN)]
    return [
        encoded(picture, "PNG"),
        encoded(picture, "JPEG"),
        encoded(picture, "WEBP"),
        encoded(picture, "GIF", save_all=True, append_images=animation[1:]),
        encoded(picture, "BMP"),
        encoded(picture, "TIFF", compression="tiff_lzw"),
        encoded(picture.convert("CMYK"), "JPEG"),
        encoded(picture, "HEIF"),
    ]


SEEDS = _seed_images()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on corrupt TIFF tags
@hypothesis_settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.integers(0, 10_000),
)
def test_mangled_images_never_escape_as_anything_but_a_tool_failure(
    seed: bytes, edits: list[tuple[int, int]], cut: int | None, settings: Settings
) -> None:
    mangled = bytearray(seed)
    for position, value in edits:
        mangled[position % len(mangled)] = value
    raw = bytes(mangled[:cut] if cut is not None else mangled)
    try:
        prepared = prepare_image(raw, TARGET, settings)
    except ToolFailure as failure:
        failed_with: ErrorCode | None = failure.code
    else:
        failed_with = None
        assert prepared.sent.format in {"PNG", "JPEG", "WEBP", "GIF"}
    assert failed_with is None or failed_with in SAFE_CODES
