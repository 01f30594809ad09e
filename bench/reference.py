"""The reference pipeline: what a typical peer does to every image, measured in this process.

Decode (at reduced scale where the format allows, as libvips' shrink-on-load does), convert
to RGB, fit within 800x800 with a Lanczos filter, JPEG quality 80, base64 data URL: the
pipeline of the most used peer (sharp: `resize(800, 800, {fit: "inside"}).jpeg({quality:
80})`), here on Pillow so both sides run on the same image library. It ignores EXIF
orientation, alpha and frames beyond the first, as that peer does.
"""

from __future__ import annotations

import base64
import io
import statistics
import time
from dataclasses import dataclass

from PIL import Image

EDGE = 800
QUALITY = 80


@dataclass(frozen=True, slots=True)
class ReferenceRun:
    cpu_ms: float  # median CPU time of one run
    sent: bytes  # the JPEG it would send


def reference_pipeline(raw: bytes) -> bytes:
    with Image.open(io.BytesIO(raw)) as image:
        image.draft("RGB", (EDGE, EDGE))
        picture = image.convert("RGB")
    picture.thumbnail((EDGE, EDGE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=QUALITY)
    sent = buffer.getvalue()
    base64.b64encode(sent)  # the data URL it puts in the request
    return sent


def measure_reference(raw: bytes, repeats: int) -> ReferenceRun:
    """Median CPU time of `repeats` runs (after one warm-up), and what it sends."""
    sent = reference_pipeline(raw)
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        reference_pipeline(raw)
        samples.append((time.process_time() - started) * 1000)
    return ReferenceRun(cpu_ms=statistics.median(samples), sent=sent)
