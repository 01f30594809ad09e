"""Surveying containers before decoding: hostile layouts are refused before any decoder
reads them, ordinary ones are counted as the decoder would count them, and files that are
mostly not pixels are never forwarded as they are."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.imaging import SizeTarget, prepare_image
from openrouter_image_mcp.imaging.structure import (
    MAX_FRAMES,
    MAX_JPEG_SCANS,
    MAX_METADATA_BYTES,
    SMALL_FILE_BYTES,
    survey,
)
from openrouter_image_mcp.settings import Settings
from tests.imaging.hostile import (
    apng_frames,
    jpeg_fill_flood,
    jpeg_marker_flood,
    jpeg_with_tail,
    many_frame_gif,
    many_frame_webp,
    many_page_tiff,
    png_chunk,
    png_text_bomb,
    png_with_chunks,
    png_with_exif,
)
from tests.imaging.images import encoded, noise_bytes, photo

TARGET = SizeTarget("default", 2048, 4_000_000)
MIB = 1024 * 1024


@pytest.fixture
def decoder_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts Image.open calls: zero means no decoder read a byte of the file."""
    calls: list[int] = []
    real_open = Image.open

    def counting_open(*args: object, **kwargs: object) -> Image.Image:
        calls.append(1)
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", counting_open)
    return calls


def _refusal(raw: bytes, settings: Settings) -> ToolFailure:
    with pytest.raises(ToolFailure) as caught:
        prepare_image(raw, TARGET, settings)
    return caught.value


HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("TIFF of 100,000 pages", lambda: many_page_tiff(100_000), "10,000 frames or pages"),
    ("GIF of 700,000 frames", lambda: many_frame_gif(700_000), "10,000 frames or pages"),
    ("APNG of 200,000 frames", lambda: apng_frames(200_000), "10,000 frames or pages"),
    ("WebP of 400,000 frames", lambda: many_frame_webp(400_000), "10,000 frames or pages"),
    ("JPEG with 5M empty comments", lambda: jpeg_marker_flood(5_000_000), "marker segments"),
    ("JPEG with 4M empty APP1", lambda: jpeg_marker_flood(4_000_000, b"\xff\xe1\x00\x02"), "1,000"),
    ("JPEG with 19 MB of fill", lambda: jpeg_fill_flood(19_000_000), "stray bytes"),
    ("PNG with 1M text chunks", lambda: png_with_chunks(1_000_000), "metadata chunks"),
    ("PNG with 40k empty IDAT", lambda: png_with_chunks(40_000, b"IDAT", b""), "32,768 chunks"),
    ("PNG with 2 MB of EXIF", lambda: png_with_exif(2 * MIB), "EXIF block has more than"),
]


@pytest.mark.parametrize(("make", "says"), [pytest.param(m, s, id=n) for n, m, s in HOSTILE])
def test_hostile_containers_are_refused_before_any_decoder_reads_them(
    make: Callable[[], bytes], says: str, settings: Settings, decoder_calls: list[int]
) -> None:
    raw = make()
    assert len(raw) <= settings.max_image_bytes  # only the structure can refuse it

    failure = _refusal(raw, settings)

    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    assert says in failure.message
    assert "send" in failure.message  # says what to send instead
    assert decoder_calls == []


def test_frames_up_to_the_cap_are_counted_without_the_decoder_walking_them(
    settings: Settings,
) -> None:
    at_cap = many_frame_gif(MAX_FRAMES)

    prepared = prepare_image(at_cap, TARGET, settings)

    assert prepared.received.frames == MAX_FRAMES
    assert prepared.passthrough is False  # the first frame is what is sent
    assert _refusal(many_frame_gif(MAX_FRAMES + 1), settings).code == "RESOURCE_TOO_LARGE"


def _pages(count: int, format_name: str, **options: object) -> bytes:
    frames = [Image.new("RGB", (16, 12), (40 * index, 90, 160)) for index in range(count)]
    return encoded(frames[0], format_name, save_all=True, append_images=frames[1:], **options)


ORDINARY = [
    ("baseline JPEG", lambda: encoded(photo(64, 48), "JPEG")),
    ("progressive JPEG", lambda: encoded(photo(64, 48), "JPEG", progressive=True)),
    ("optimized JPEG with EXIF", lambda: encoded(photo(64, 48), "JPEG", optimize=True, exif=b"")),
    ("CMYK JPEG", lambda: encoded(photo(64, 48).convert("CMYK"), "JPEG")),
    ("interlaced PNG", lambda: encoded(photo(64, 48), "PNG", interlace=1)),
    ("palette PNG", lambda: encoded(photo(64, 48).convert("P"), "PNG")),
    ("APNG", lambda: _pages(4, "PNG")),
    ("still GIF", lambda: encoded(photo(64, 48).convert("P"), "GIF")),
    ("animated GIF", lambda: _pages(5, "GIF")),
    ("lossy WebP", lambda: encoded(photo(64, 48), "WEBP")),
    ("lossless WebP with alpha", lambda: encoded(photo(64, 48).convert("RGBA"), "WEBP")),
    ("animated WebP", lambda: _pages(3, "WEBP")),
    ("TIFF", lambda: encoded(photo(64, 48), "TIFF", compression="tiff_lzw")),
    ("multi-page TIFF", lambda: _pages(6, "TIFF")),
    ("big-endian BigTIFF", lambda: encoded(photo(64, 48), "TIFF", big_tiff=True)),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=n) for n, m in ORDINARY])
def test_ordinary_files_are_counted_as_the_decoder_counts_them(
    make: Callable[[], bytes], settings: Settings
) -> None:
    raw = make()
    with Image.open(io.BytesIO(raw)) as image:
        decoder_frames = getattr(image, "n_frames", 1) if image.format != "MPO" else 1

    structure = survey(raw, settings.max_pixels)
    prepared = prepare_image(raw, TARGET, settings)

    assert structure.frames == decoder_frames
    assert prepared.received.frames == decoder_frames


def test_a_small_image_with_appended_data_is_re_encoded_not_forwarded(
    settings: Settings,
) -> None:
    """An 8x8 JPEG followed by megabytes of something else: only the picture goes upstream."""
    raw = jpeg_with_tail(2 * MIB)

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.passthrough is False
    assert prepared.sent.bytes < 1024
    assert prepared.received.bytes == len(raw)


def test_a_png_carrying_mostly_metadata_is_re_encoded_not_forwarded(settings: Settings) -> None:
    text = png_chunk(b"tEXt", b"Comment\x00" + noise_bytes(200_000).hex().encode())
    raw = encoded(Image.new("RGB", (32, 32), "teal"), "PNG")
    raw = raw[:33] + text + raw[33:]  # after IHDR

    prepared = prepare_image(raw, TARGET, settings)

    assert prepared.passthrough is False
    assert prepared.sent.bytes < 1024


@pytest.mark.parametrize("format_name", ["JPEG", "PNG", "WEBP", "GIF"])
def test_pixel_rich_files_still_pass_through(format_name: str, settings: Settings) -> None:
    noise = Image.frombytes("RGB", (400, 400), noise_bytes(400 * 400 * 3))
    raw = encoded(noise if format_name != "GIF" else noise.convert("P"), format_name)
    assert len(raw) > SMALL_FILE_BYTES

    assert prepare_image(raw, TARGET, settings).passthrough is True


def test_small_files_pass_through_whatever_they_carry(settings: Settings) -> None:
    assert prepare_image(jpeg_with_tail(SMALL_FILE_BYTES // 2), TARGET, settings).passthrough


def test_text_bombs_within_the_caps_cost_their_bounded_decompression(
    settings: Settings,
) -> None:
    """64 zTXt chunks of a megabyte each: Pillow's own text limits hold, the image is sent."""
    prepared = prepare_image(png_text_bomb(64), TARGET, settings)

    assert prepared.passthrough is False
    assert (prepared.sent.width, prepared.sent.height) == (8, 8)


def test_a_webp_canvas_over_the_pixel_limit_is_refused_before_it_is_allocated(
    make_settings: Callable[..., Settings], decoder_calls: list[int]
) -> None:
    """libwebp allocates the whole canvas when the file is opened; the header says its size."""
    raw = bytearray(_pages(2, "WEBP"))
    canvas = raw.index(b"VP8X") + 8 + 4
    raw[canvas : canvas + 6] = (9999).to_bytes(3, "little") + (9999).to_bytes(3, "little")

    failure = _refusal(bytes(raw), make_settings(max_pixels=50_000_000))

    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    assert "the image header claims more pixels than" in failure.message
    assert decoder_calls == []


def test_an_oversized_colour_profile_is_refused(settings: Settings) -> None:
    profile = b"\x00" * (MAX_METADATA_BYTES + 1)
    raw = encoded(Image.new("RGB", (16, 16), "teal"), "JPEG", icc_profile=profile)

    failure = _refusal(raw, settings)

    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    assert "colour profile (ICC)" in failure.message


def test_a_jpeg_with_too_many_scans_is_refused(settings: Settings) -> None:
    raw = encoded(photo(32, 32), "JPEG", progressive=True)
    first_scan = raw.index(b"\xff\xda")
    end = raw.rindex(b"\xff\xd9")
    scans = raw[first_scan:end]
    flooded = raw[:first_scan] + scans * (MAX_JPEG_SCANS // scans.count(b"\xff\xda") + 1)

    failure = _refusal(flooded + b"\xff\xd9", settings)

    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    assert f"more than {MAX_JPEG_SCANS} scans" in failure.message
