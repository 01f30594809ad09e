"""Reading the words in an image with tesseract: a stand-in for what a vision model can read.

Used by the tests (through the fake OpenRouter's `ocr_words()`) and by the benchmark to
measure how much of an image's text survives preparation. Tesseract is tuned for text about
20-30 px high, larger than a model needs, so every image is first enlarged `UPSCALE` times
(Lanczos, in grey): measured on the 14 px text of tests/pages.py shrunk by area averaging,
that lifts the words read in order at scale 9/14 from 41% to 92% and at 0.8 from 81% to
all, and still reads under 1% at scale 0.4 and none at 0.23, so it separates legible from
illegible the way the scale does (imaging/tiles.py has the whole table).

Needs the `tesseract` program (Debian: tesseract-ocr); `MISSING` says why when it is not
installed, for a test's skip reason.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from difflib import SequenceMatcher

from PIL import Image

TESSERACT = shutil.which("tesseract")
MISSING = (
    None
    if TESSERACT
    else "tesseract is not installed (Debian: apt-get install tesseract-ocr); OCR checks skip"
)
UPSCALE = 2
# One page of text at a time is plenty: more threads only fight the test workers for CPUs.
_ENVIRONMENT = {**os.environ, "OMP_THREAD_LIMIT": "1"}
_WORD = re.compile(r"[a-z0-9]+")
_TIMEOUT_S = 300


def read_words(image: bytes | Image.Image) -> list[str]:
    """The words tesseract reads in `image` (encoded bytes, or a picture), lower case, in
    reading order, punctuation dropped."""
    if TESSERACT is None:
        raise RuntimeError(MISSING)
    picture = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image
    with picture.convert("L") as grey:
        size = (grey.width * UPSCALE, grey.height * UPSCALE)
        with grey.resize(size, Image.Resampling.LANCZOS) as large:
            buffer = io.BytesIO()
            large.save(buffer, "PNG", compress_level=1)
    result = subprocess.run(
        [TESSERACT, "stdin", "stdout", "--psm", "6"],
        input=buffer.getvalue(),
        capture_output=True,
        check=True,
        env=_ENVIRONMENT,
        timeout=_TIMEOUT_S,
    )
    return _WORD.findall(result.stdout.decode("utf-8", "replace").lower())


def share_read(expected: Sequence[str], read: Sequence[str]) -> float:
    """The share of the `expected` words found in the words `read`, in the same order: words
    read twice (where tiles overlap) or out of place count once at most."""
    if not expected:
        return 1.0
    matcher = SequenceMatcher(None, list(expected), [word.lower() for word in read], autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(expected)
