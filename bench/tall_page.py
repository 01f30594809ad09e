"""The tall page (issue 13): a 1280x9000 full-page capture with 14 px text, sent as tiles
against sent whole.

The tiles are what the server sends the default model at detail "auto" (the image the
upstream kept). The whole-image baseline is the same page prepared by the imaging API with
tiling off (`prepare_image`, which never tiles), for the same model: the page shrunk to fit
it, as a server without tiles sends it. Words recovered: tesseract reads every part in order
(tests/ocr.py), and the share of the page's words read in order is counted once each, so the
overlap between tiles earns nothing.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from openrouter_image_mcp.imaging import prepare_image, target_for_model
from openrouter_image_mcp.settings import Settings
from tests.ocr import TESSERACT, read_words, share_read
from tests.pages import Page, tall_page

FILENAME = "tall_page.png"


@dataclass(frozen=True, slots=True)
class Sent:
    """What one way of sending the page put on the wire, and how much of it reads back."""

    parts: int
    bytes: int
    size: tuple[int, int]  # of the first part
    words_read: float | None  # share of the page's words; None: tesseract missing


@dataclass(frozen=True, slots=True)
class TallPage:
    model: str
    whole: Sent
    tiles: Sent


def drawn(directory: Path) -> tuple[Page, Path]:
    """The page, and its PNG in `directory` (where the server may read it)."""
    page = tall_page()
    path = directory / FILENAME
    if not path.exists():
        path.write_bytes(page.png())
    return page, path


def whole_image(path: Path, model: str) -> bytes:
    """The page as a server without tiles would send `model` it."""
    settings = Settings(_env_file=None, transport="stdio")
    prepared = prepare_image(path.read_bytes(), target_for_model(model, "auto", settings), settings)
    return base64.b64decode(prepared.data_url.partition(",")[2])


def judged(page: Page, parts: list[bytes]) -> Sent:
    with Image.open(io.BytesIO(parts[0])) as first:
        size = first.size
    read = None
    if TESSERACT is not None:
        read = round(share_read(page.words, [w for part in parts for w in read_words(part)]), 3)
    return Sent(len(parts), sum(map(len, parts)), size, read)
