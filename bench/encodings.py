"""`python -m bench.encodings [--repeats 5]`: how each image class should be resized and encoded.

For every benchmark input that needs re-encoding, at the size each model family is sent
(imaging/targets.py), this measures in this process: the CPU time (not wall time) of the
resize under each resampling filter and of each candidate encoder, the bytes, and the quality
of the result (small-text words tesseract reads back for text, PSNR against the ideal resize
for photos). Score = resize + encode CPU ms + bytes at 100 Mbit/s (1 MB = 80 ms); a candidate
qualifies when text stays >= 95% as legible as the original reads (screenshots, line art) or
the photo stays >= 38 dB. Prints one table per input and family, best qualifying score first.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from openrouter_image_mcp.imaging import target_for_model
from openrouter_image_mcp.settings import Settings

from .inputs import BenchImage, generate_inputs
from .legibility import fidelity_db, legibility, upright_original
from .processes import REPO_ROOT

MS_PER_MB = 80.0  # 100 Mbit/s
MIN_LEGIBLE_SHARE_OF_ORIGINAL = 0.95
MIN_PHOTO_DB = 38.0
PHOTO_FAMILIES = ("gemini-2", "claude")  # photos qualify everywhere: two sizes suffice
FAMILIES = (
    ("gemini-2", "google/gemini-2.5-flash", "auto"),
    ("openai-patch", "openai/gpt-5-mini", "auto"),
    ("claude", "anthropic/claude-sonnet-4.5", "auto"),
    ("claude high", "anthropic/claude-opus-4.7", "high"),
)
FILTERS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
ENCODERS: dict[str, tuple[str, dict[str, Any]]] = {
    "WebP lossless m0": ("WEBP", {"lossless": True, "quality": 0, "method": 0}),
    "WebP lossless m1": ("WEBP", {"lossless": True, "quality": 0, "method": 1}),
    "PNG zlib-ng 1": ("PNG", {"compress_level": 1}),
    "PNG zlib-ng 3": ("PNG", {"compress_level": 3}),
    "JPEG 4:4:4 q95": ("JPEG", {"quality": 95, "subsampling": 0}),
    "JPEG 4:4:4 q95 optimized": ("JPEG", {"quality": 95, "subsampling": 0, "optimize": True}),
    "JPEG 4:4:4 q90": ("JPEG", {"quality": 90, "subsampling": 0}),
    "JPEG 4:4:4 q85": ("JPEG", {"quality": 85, "subsampling": 0}),
    "JPEG 4:2:0 q85": ("JPEG", {"quality": 85, "subsampling": 2}),
}
PALETTE_PNG = "PNG zlib-ng 1, own palette"
ENCODERS[PALETTE_PNG] = ("PNG", {"compress_level": 1})
STUDIED = ("screenshot_png", "chart_png", "camera_jpeg", "photo_png", "animated_gif")


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    cpu_ms: float
    bytes: int
    quality: str
    qualifies: bool

    @property
    def score(self) -> float:
        return self.cpu_ms + self.bytes / 1e6 * MS_PER_MB


def cpu_ms(work: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """The result of `work` and the median CPU milliseconds of `repeats` runs."""
    result, samples = None, []
    for _ in range(repeats):
        started = time.process_time()
        result = work()
        samples.append((time.process_time() - started) * 1000)
    return result, statistics.median(samples)


def encoded(picture: Image.Image, encoder: str) -> bytes:
    format_name, options = ENCODERS[encoder]
    buffer = io.BytesIO()
    picture.save(buffer, format_name, **options)
    return buffer.getvalue()


class Judge:
    """Whether a picture of `source` is good enough: text read, or photo PSNR."""

    def __init__(self, source: BenchImage) -> None:
        self.source = source
        self.original = upright_original(source)
        self.has_text = legibility(self.original, source) is not None
        self.ceiling = 0.0  # the best share of words read at the size studied

    def __call__(self, picture: Image.Image) -> tuple[str, float]:
        """How good `picture` is, and a number where higher is better."""
        if self.has_text:
            read = legibility(picture, self.source)
            share = read.share if read else 0.0
            return f"{share * 100:.0f}% read", share
        db = fidelity_db(picture, self.original) or 0.0
        return f"{db} dB", db

    def qualifies(self, value: float) -> bool:
        if self.has_text:
            return value >= self.ceiling * MIN_LEGIBLE_SHARE_OF_ORIGINAL
        return value >= MIN_PHOTO_DB


def study(source: BenchImage, model: str, detail: str, repeats: int) -> list[Candidate]:
    judge = Judge(source)
    size = target_for_model(model, detail, Settings(_env_file=None)).fitted_size(
        *judge.original.size
    )
    if size == judge.original.size and source.kind != "animation":
        return []  # passed through as received: nothing to choose
    resizes = []
    for name, resample in FILTERS.items():
        picture, spent = cpu_ms(lambda r=resample: judge.original.resize(size, r), repeats)
        resizes.append((name, picture, spent, *judge(picture)))
    judge.ceiling = max(value for *_, value in resizes)
    found = [
        Candidate(f"resize {name}", spent, 0, quality, judge.qualifies(value))
        for name, _, spent, quality, value in resizes
    ]
    # The cheapest filter that qualifies is the one worth encoding from.
    name, picture, *_ = min(
        (r for r in resizes if judge.qualifies(r[4])), key=lambda r: r[2], default=resizes[1]
    )
    for encoder, encodable in _encoder_inputs(picture, source_frame(source)):
        data, spent = cpu_ms(lambda e=encoder, p=encodable: encoded(p, e), repeats)
        with Image.open(io.BytesIO(data)) as decoded:
            quality, value = judge(decoded.convert("RGB"))
        found.append(
            Candidate(f"{name} + {encoder}", spent, len(data), quality, judge.qualifies(value))
        )
    return found


def source_frame(source: BenchImage) -> Image.Image | None:
    """The first frame in its own palette, for palette inputs (GIF): nothing to resize."""
    with Image.open(source.path) as image:
        if image.mode != "P":
            return None
        image.load()
        return image.copy()


def _encoder_inputs(
    picture: Image.Image, palette: Image.Image | None
) -> list[tuple[str, Image.Image]]:
    found = [(encoder, picture) for encoder in ENCODERS if encoder != PALETTE_PNG]
    if palette is not None and palette.size == picture.size:
        found.append((PALETTE_PNG, palette))
    return found


def table(source: BenchImage, family: str, found: list[Candidate]) -> list[str]:
    lines = [f"{source.label} -> {family}:"]
    resizes = [c for c in found if c.name.startswith("resize ")]
    encodes = sorted(
        (c for c in found if c not in resizes), key=lambda c: -c.qualifies * 1e9 + c.score
    )
    for c in (*resizes, *encodes):
        score = f"{c.score:7.1f}" if c.bytes else "       "
        mark = "ok " if c.qualifies else "NO "
        lines.append(
            f"  {mark}{c.name:34}{c.cpu_ms:7.1f} ms{c.bytes / 1000:8.0f} kB{score}  {c.quality}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.encodings", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement")
    args = parser.parse_args()
    images = generate_inputs(REPO_ROOT / "bench" / "results" / "inputs")
    for key in STUDIED:
        for family, model, detail in FAMILIES:
            if images[key].kind == "photo" and family not in PHOTO_FAMILIES:
                continue
            found = study(images[key], model, detail, args.repeats)
            if found:
                print("\n".join(table(images[key], family, found)))


if __name__ == "__main__":
    main()
