"""Fuzzing preparation: mutated bytes of every accepted format, in the process and through the
worker processes, end as a prepared image or a coded refusal; never INTERNAL, never a dead
worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.imaging import PreparedImage, SizeTarget, prepare_image
from openrouter_image_mcp.imaging.decode import ACCEPTED_FORMATS
from openrouter_image_mcp.imaging.workers import ImageWorkers
from openrouter_image_mcp.settings import Settings
from tests.helpers import ImageWorkerWatch
from tests.imaging.hostile import apng_frames, many_page_tiff
from tests.imaging.images import encoded, halves, photo

TARGET = SizeTarget("default", 2048, 4_000_000)
SAFE_CODES = {ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.INVALID_INPUT, ErrorCode.RESOURCE_TOO_LARGE}
# Small enough that a mutated header claiming a large picture costs a second at most.
SETTINGS = Settings(_env_file=None, transport="stdio", max_pixels=4_000_000)  # type: ignore[call-arg]


def _animation(format_name: str) -> bytes:
    frames = [halves((24, 16), (200, 30, 30), (30, 30, 200)), Image.new("RGB", (24, 16), "green")]
    return encoded(frames[0], format_name, save_all=True, append_images=frames[1:])


def _seeds() -> list[bytes]:
    picture = photo(24, 16)
    seeds = [
        encoded(picture, "PNG"),
        encoded(picture.convert("RGBA"), "PNG", interlace=1),
        encoded(picture.convert("I;16"), "PNG"),
        _animation("PNG"),
        apng_frames(3),
        encoded(picture, "JPEG"),
        encoded(picture, "JPEG", progressive=True, exif=Image.Exif().tobytes()),
        encoded(picture.convert("CMYK"), "JPEG"),
        encoded(picture, "WEBP"),
        encoded(picture.convert("RGBA"), "WEBP", lossless=True),
        _animation("WEBP"),
        encoded(picture.convert("P"), "GIF"),
        _animation("GIF"),
        encoded(picture, "BMP"),
        encoded(picture.convert("P"), "BMP", compression=1),  # RLE8
        encoded(picture, "TIFF", compression="tiff_lzw"),
        encoded(picture, "TIFF", big_tiff=True),
        many_page_tiff(3),
        encoded(picture, "HEIF"),
    ]
    if "AVIF" in ACCEPTED_FORMATS:
        seeds.append(encoded(picture, "AVIF"))
    return seeds


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few edits of the kinds damage and malice make: overwritten, inserted,
    repeated and removed stretches, and a cut end."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["overwrite", "insert", "repeat", "remove"])):
            case "overwrite":
                data[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=16))
            case "repeat":
                length = draw(st.integers(1, 64))
                data[at:at] = data[at : at + length] * draw(st.integers(1, 200))
            case "remove":
                del data[at : at + draw(st.integers(1, 64))]
        if not data:
            data = bytearray(b"\x00")
    if draw(st.booleans()):
        data = data[: draw(st.integers(1, len(data)))]
    return bytes(data)


def _outcome(prepare: Callable[[], PreparedImage]) -> ErrorCode | None:
    """None for a prepared image, else the refusal's code; anything else propagates."""
    try:
        prepared = prepare()
    except ToolFailure as failure:
        return failure.code
    assert prepared.sent.format in {"PNG", "JPEG", "WEBP", "GIF"}
    return None


FUZZ = hypothesis_settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on corrupt TIFF tags
@FUZZ
@given(raw=mutated())
def test_mutated_images_are_prepared_or_refused_with_a_code(raw: bytes) -> None:
    code = _outcome(lambda: prepare_image(raw, TARGET, SETTINGS))
    assert code is None or code in SAFE_CODES


@dataclass
class FuzzedPool:
    portal: BlockingPortal
    workers: ImageWorkers
    watch: ImageWorkerWatch
    seen: set[int] = field(default_factory=set)  # every worker process that ever served


@pytest.fixture(scope="module")
def worker_pool() -> Iterator[FuzzedPool]:
    settings = SETTINGS.model_copy(update={"image_workers": 1})
    with start_blocking_portal() as portal:
        workers = portal.call(ImageWorkers, settings)
        try:
            yield FuzzedPool(portal, workers, ImageWorkerWatch())
        finally:
            portal.call(workers.aclose)


@FUZZ
@given(raw=mutated())
def test_mutated_images_never_crash_a_worker_nor_surface_as_internal(
    raw: bytes, worker_pool: FuzzedPool
) -> None:
    pool = worker_pool
    code = _outcome(lambda: pool.portal.call(pool.workers.prepare, raw, TARGET).parts[0])
    assert code is None or code in SAFE_CODES
    worker_pool.seen.update(process.pid for process in worker_pool.watch.started())
    # One express and one general worker, started once, serving every example.
    assert len(worker_pool.seen) <= 2
