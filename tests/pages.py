"""Generated pages of text, drawn with Pillow from a fixed seed: the tall screenshots that
tiling exists for, with the words they show so a test can check what was read.

`tall_page()` is a full-page capture of a long article, 1280x9000 by default: a dark header
bar, then short paragraphs of `text_px` text (dark on white, the way web pages set body
text) under section headings, between figures. Its words are common English words, as on
real pages, which OCR's dictionary reads no better or worse than the page's own.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

WORDS = [
    "account",
    "address",
    "answer",
    "archive",
    "balance",
    "billing",
    "browser",
    "button",
    "cancel",
    "chapter",
    "checkout",
    "comment",
    "contact",
    "content",
    "council",
    "country",
    "customer",
    "dashboard",
    "delivery",
    "design",
    "details",
    "document",
    "download",
    "editor",
    "export",
    "feature",
    "filter",
    "folder",
    "footer",
    "garden",
    "history",
    "holiday",
    "invoice",
    "journal",
    "kitchen",
    "language",
    "library",
    "license",
    "manager",
    "message",
    "metrics",
    "monitor",
    "network",
    "number",
    "office",
    "orders",
    "package",
    "palette",
    "payment",
    "picture",
    "planner",
    "premium",
    "preview",
    "privacy",
    "product",
    "profile",
    "project",
    "publish",
    "quarter",
    "receipt",
    "record",
    "refund",
    "release",
    "report",
    "request",
    "revenue",
    "review",
    "river",
    "safety",
    "sample",
    "schedule",
    "search",
    "section",
    "service",
    "session",
    "settings",
    "shipping",
    "signal",
    "status",
    "storage",
    "student",
    "subject",
    "summary",
    "support",
    "system",
    "teacher",
    "ticket",
    "timeline",
    "total",
    "travel",
    "update",
    "upload",
    "users",
    "version",
    "village",
    "weather",
    "window",
    "winter",
]
LINE_SPACING = 1.6
FIGURE_LINES = 12
MARGIN = 40
HEADER_PX = 56


@dataclass(frozen=True, slots=True)
class Page:
    image: Image.Image
    words: list[str]  # the body text's words, in reading order

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, "PNG")
        return buffer.getvalue()


def tall_page(width: int = 1280, height: int = 9000, text_px: int = 14, seed: int = 7) -> Page:
    """A page of paragraphs in `text_px` text filling `width` x `height` (see the module doc)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=text_px)
    heading = ImageFont.load_default(size=round(text_px * 1.6))
    draw.rectangle((0, 0, width, HEADER_PX), fill=(30, 40, 60))
    line_height = round(text_px * LINE_SPACING)
    words: list[str] = []
    top = HEADER_PX + line_height
    while top < height - FIGURE_LINES * line_height:
        block = rng.random()
        if block < 0.2:  # a figure: a placeholder picture with no text
            bottom = top + (FIGURE_LINES - 1) * line_height
            draw.rectangle((MARGIN, top, width // 2, bottom), fill=(215, 225, 235))
            top = bottom + line_height
            continue
        if block < 0.4:
            title = " ".join(rng.choice(WORDS) for _ in range(3)).title()
            draw.text((MARGIN, top), title, fill=(20, 30, 80), font=heading)
            top += 2 * line_height
        for _ in range(rng.randint(2, 4)):  # a paragraph, then a blank line
            line = [rng.choice(WORDS) for _ in range(rng.randint(5, 10))]
            draw.text((MARGIN, top), " ".join(line), fill=(25, 25, 25), font=font)
            words.extend(line)
            top += line_height
        top += line_height
    return Page(image, words)
