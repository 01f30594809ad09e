"""Images generated for the tests: built with Pillow, never stored as files."""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib

from PIL import Image, ImageDraw, ImageFont

from openrouter_image_mcp.imaging import PreparedImage

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)
WORDS = ("open", "save", "export", "window", "help", "settings", "quick", "brown", "fox", "lazy")


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def encoded(image: Image.Image, format_name: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def noise_bytes(count: int, seed: int = 0) -> bytes:
    """Reproducible random-looking bytes."""
    return random.Random(seed).randbytes(count)  # noqa: S311 - test data, not security


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth colour gradients under sensor-like noise: what a camera picture looks like."""
    gradients = [
        Image.linear_gradient("L").resize((width, height)),
        Image.radial_gradient("L").resize((width, height)),
        Image.linear_gradient("L").rotate(90).resize((width, height)),
    ]
    noise = Image.frombytes("RGB", (width, height), noise_bytes(width * height * 3, seed))
    return Image.blend(Image.merge("RGB", gradients), noise, 0.1)


def screenshot(width: int, height: int, text_px: int = 11) -> Image.Image:
    """A UI: title bar, sidebar, panels and lines of `text_px` text on a flat background."""
    image = Image.new("RGB", (width, height), (250, 250, 252))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=text_px)
    draw.rectangle((0, 0, width, 40), fill=(32, 40, 56))
    draw.rectangle((0, 40, width // 8, height), fill=(240, 242, 245))
    words = random.Random(1)  # noqa: S311 - reproducible test data, not security
    for top in range(50, height - text_px, text_px + 6):
        line = " ".join(words.choice(WORDS) for _ in range(words.randint(4, 24)))
        draw.text((width // 8 + 10, top), line, fill=(20, 20, 20), font=font)
        draw.text((8, top), words.choice(WORDS), fill=(60, 60, 90), font=font)
    return image


def halves(size: tuple[int, int], left: object, right: object, mode: str = "RGB") -> Image.Image:
    """An image whose left half is `left` and right half `right`."""
    image = Image.new(mode, size, left)  # type: ignore[arg-type]
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))  # type: ignore[arg-type]
    return image


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid PNG whose header claims `width` x `height` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def sent_bytes(prepared: PreparedImage) -> bytes:
    """The payload inside the data URL, checked against the declared MIME type."""
    prefix = f"data:{prepared.mime};base64,"
    assert prepared.data_url.startswith(prefix)
    return base64.b64decode(prepared.data_url[len(prefix) :], validate=True)


def sent_image(prepared: PreparedImage) -> Image.Image:
    image = Image.open(io.BytesIO(sent_bytes(prepared)))
    image.load()
    return image
