"""The benchmark's images, drawn with Pillow from fixed seeds so every run sends the same pixels.

Each one stands for a kind of image agents really send: a camera photo, a screenshot full of
small text, a large lossless photo, a near-incompressible PNG at the size limit, a thumbnail
and an animation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SCREENSHOT_FONT_PX = 11
"""Height of the smallest text in the screenshot; what the sent image must keep legible."""

EXIF_ORIENTATION = 0x0112
ROTATE_90_CW = 6  # how phones tag a portrait shot stored sideways
NOISE_PNG_MIN_BYTES = 17_000_000

WORDS = [
    "account",
    "billing",
    "cancel",
    "delete",
    "dashboard",
    "export",
    "filter",
    "invoice",
    "logout",
    "metrics",
    "orders",
    "profile",
    "refund",
    "revenue",
    "save",
    "search",
    "settings",
    "status",
    "subscription",
    "total",
    "update",
    "users",
]


@dataclass(frozen=True, slots=True)
class BenchImage:
    key: str
    label: str
    path: Path
    width: int
    height: int
    size_bytes: int
    large: bool  # gets fewer sequential calls in --quick runs


@dataclass(frozen=True, slots=True)
class _Spec:
    key: str
    label: str
    filename: str
    draw: Callable[[Path], None]
    large: bool


def photo_like(size: tuple[int, int], seed: int, grain: float) -> Image.Image:
    """Soft colour regions, mid-scale texture, a lighting gradient and sensor-like grain."""
    rng = random.Random(seed)
    width, height = size

    def random_rgb(w: int, h: int) -> Image.Image:
        return Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))

    regions = random_rgb(16, 12).resize(size, Image.Resampling.BICUBIC)
    texture = random_rgb(width // 40, height // 40).resize(size, Image.Resampling.BILINEAR)
    light = Image.linear_gradient("L").resize(size).point(lambda v: 255 - v // 3)
    scene = Image.blend(regions, texture, 0.3)
    lit = Image.composite(scene, Image.new("RGB", size), light)
    return Image.blend(lit, random_rgb(width, height), grain)


def draw_camera_jpeg(path: Path) -> None:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CW
    photo_like((4000, 3000), seed=1, grain=0.06).save(path, "JPEG", quality=90, exif=exif)


def draw_photo_png(path: Path) -> None:
    photo_like((4000, 3000), seed=2, grain=0.02).save(path, "PNG")


def draw_noise_png(path: Path) -> None:
    rng = random.Random(3)
    size = (2600, 2300)
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    noise.save(path, "PNG", compress_level=1)
    if path.stat().st_size < NOISE_PNG_MIN_BYTES:
        raise RuntimeError(f"noise PNG came out at {path.stat().st_size} bytes, want >= 17 MB")


def draw_small_png(path: Path) -> None:
    photo_like((300, 200), seed=4, grain=0.04).save(path, "PNG")


def draw_animated_gif(path: Path) -> None:
    frames = [photo_like((400, 300), seed=10 + index, grain=0.0) for index in range(10)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def draw_screenshot_png(path: Path) -> None:
    """A 2560x1600 admin page: header, sidebar, a grid of cards, every label in 11 px text."""
    rng = random.Random(5)
    font = ImageFont.load_default(size=SCREENSHOT_FONT_PX)
    image = Image.new("RGB", (2560, 1600), (244, 245, 247))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 2559, 47), fill=(32, 41, 56))
    draw.rectangle((0, 48, 259, 1599), fill=(255, 255, 255), outline=(220, 223, 228))
    for row in range(90):
        draw.text((16, 64 + row * 17), _phrase(rng, 3), font=font, fill=(60, 64, 72))
    for column in range(6):
        for row in range(4):
            left, top = 284 + column * 378, 72 + row * 380
            draw.rectangle(
                (left, top, left + 360, top + 360), fill="white", outline=(220, 223, 228)
            )
            draw.rectangle((left, top, left + 360, top + 28), fill=(236, 240, 255))
            for line in range(19):
                text = _phrase(rng, 6)
                draw.text((left + 10, top + 36 + line * 17), text, font=font, fill=(33, 37, 41))
    image.save(path, "PNG")


def _phrase(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + f" {rng.randrange(10_000)}"


SPECS = (
    _Spec("small_png", "300x200 PNG", "small.png", draw_small_png, large=False),
    _Spec("animated_gif", "10-frame GIF", "animated.gif", draw_animated_gif, large=False),
    _Spec("screenshot_png", "2560x1600 screenshot", "screenshot.png", draw_screenshot_png, False),
    _Spec("camera_jpeg", "12 MP camera JPEG", "camera.jpg", draw_camera_jpeg, large=True),
    _Spec("photo_png", "4000x3000 PNG", "photo.png", draw_photo_png, large=True),
    _Spec("noise_png", "18 MB noise PNG", "noise.png", draw_noise_png, large=True),
)


def generate_inputs(directory: Path) -> dict[str, BenchImage]:
    """Draw every input into `directory` (overwriting) and describe what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    images = {}
    for spec in SPECS:
        path = directory / spec.filename
        spec.draw(path)
        with Image.open(path) as written:
            width, height = written.size
        images[spec.key] = BenchImage(
            spec.key, spec.label, path, width, height, path.stat().st_size, spec.large
        )
    return images
