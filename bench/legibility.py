"""Judging what a model receives: how much small text is still readable, how faithful a photo is.

Legibility is measured, not inferred from pixel heights: the region of the input with known
text is cut out of the image as sent, brought to a fixed reading size and given to tesseract
(`apt-get install tesseract-ocr`); the score is the share of the words drawn there that it
reads back exactly. It stands in for a model's reading: a model reads at least what tesseract
can, and gives up long before it on text a few pixels high. Fidelity is the PSNR of the image
as sent against the original brought to the same size the ideal way (upright, Lanczos).
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageOps, ImageStat

from .inputs import BenchImage, TextLine

READING_SCALE = 1.5  # of the input's own pixels: 11 px text is read at 16.5 px
TESSERACT = "tesseract"
# The region of each input whose text is read: two cards of the screenshot (266 words), the
# whole chart. Reading the whole screenshot costs tesseract ~20 s of CPU for the same verdict.
REGIONS = {"screenshot_png": (284, 72, 1040, 452), "chart_png": None}
_WORD = re.compile(r"[a-z]+|\d+")


@dataclass(frozen=True, slots=True)
class Legibility:
    words: int  # drawn in the region
    read: int  # read back exactly

    @property
    def share(self) -> float:
        return self.read / self.words if self.words else 0.0


def ocr_available() -> bool:
    return shutil.which(TESSERACT) is not None


def legibility(sent: Image.Image, source: BenchImage) -> Legibility | None:
    """How much of `source`'s text tesseract reads in `sent` (`source` at any size), or None
    when `source` has no known text or tesseract is not installed."""
    if not source.text or source.key not in REGIONS or not ocr_available():
        return None
    region = REGIONS[source.key] or (0, 0, source.width, source.height)
    truth = Counter(words(line.text for line in source.text if _inside(line, region)))
    scale_x, scale_y = sent.width / source.width, sent.height / source.height
    crop = sent.crop(
        (
            round(region[0] * scale_x),
            round(region[1] * scale_y),
            round(region[2] * scale_x),
            round(region[3] * scale_y),
        )
    )
    reading_size = (
        round((region[2] - region[0]) * READING_SCALE),
        round((region[3] - region[1]) * READING_SCALE),
    )
    page = crop.convert("L").resize(reading_size, Image.Resampling.LANCZOS)
    found = Counter(words([read_text(page)]))
    return Legibility(words=sum(truth.values()), read=sum((truth & found).values()))


def read_text(page: Image.Image) -> str:
    buffer = io.BytesIO()
    page.save(buffer, "PNG")
    # One thread: tesseract's OpenMP threads only fight the processes being measured.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    done = subprocess.run(
        [TESSERACT, "stdin", "stdout", "--psm", "11"],
        input=buffer.getvalue(),
        capture_output=True,
        check=True,
        env=env,
    )
    return done.stdout.decode("utf-8", "replace")


def words(texts: Iterable[str]) -> list[str]:
    return [word for text in texts for word in _WORD.findall(text.lower())]


def _inside(line: TextLine, region: tuple[int, int, int, int]) -> bool:
    left, top, right, bottom = line.box
    return left >= region[0] and top >= region[1] and right <= region[2] and bottom <= region[3]


def upright_original(source: BenchImage) -> Image.Image:
    """The input as a viewer shows it: first frame, EXIF orientation applied, RGB."""
    with Image.open(source.path) as image:
        image.seek(0)
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGB")


def fidelity_db(sent: Image.Image, original: Image.Image) -> float | None:
    """PSNR of `sent` against `original` resized to its size; None when the two are not the
    same picture's shape (e.g. sent sideways, without its EXIF rotation applied)."""
    if _aspect(sent.size) != _aspect(original.size):
        return None
    ideal = original.resize(sent.size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    difference = ImageChops.difference(sent.convert("RGB"), ideal)
    squares = ImageStat.Stat(difference).sum2
    mse = sum(squares) / (len(squares) * sent.width * sent.height)
    return math.inf if mse == 0 else round(10 * math.log10(255**2 / mse), 1)


def _aspect(size: tuple[int, int]) -> float:
    return round(size[0] / size[1], 2)
