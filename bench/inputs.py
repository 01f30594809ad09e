"""The benchmark's images, drawn with Pillow from fixed seeds so every run sends the same pixels.

Each one stands for a kind of image agents really send: a camera photo, a screenshot full of
small text, a chart (line art), a large lossless photo, a near-incompressible PNG at the size
limit, a thumbnail and an animation. The screenshot and the chart come with their ground
truth: every line of text drawn and where, so legibility can be measured by OCR.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import PIL
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
class TextLine:
    """One line of text drawn into an input: its words and its box in input pixels."""

    text: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class BenchImage:
    key: str
    label: str
    kind: str  # photo, screenshot, line art, animation or noise
    path: Path
    width: int
    height: int
    size_bytes: int
    large: bool  # gets fewer sequential calls
    text: tuple[TextLine, ...] = ()  # ground truth for legibility; empty: none


Drawn = list[TextLine] | None


@dataclass(frozen=True, slots=True)
class _Spec:
    key: str
    label: str
    kind: str
    filename: str
    draw: Callable[[Path], Drawn]
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


def draw_camera_jpeg(path: Path) -> Drawn:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CW
    photo_like((4000, 3000), seed=1, grain=0.06).save(path, "JPEG", quality=90, exif=exif)
    return None


def draw_photo_png(path: Path) -> Drawn:
    photo_like((4000, 3000), seed=2, grain=0.02).save(path, "PNG")
    return None


def draw_noise_png(path: Path) -> Drawn:
    rng = random.Random(3)
    size = (2600, 2300)
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    noise.save(path, "PNG", compress_level=1)
    if path.stat().st_size < NOISE_PNG_MIN_BYTES:
        raise RuntimeError(f"noise PNG came out at {path.stat().st_size} bytes, want >= 17 MB")
    return None


def draw_small_png(path: Path) -> Drawn:
    photo_like((300, 200), seed=4, grain=0.04).save(path, "PNG")
    return None


def draw_animated_gif(path: Path) -> Drawn:
    frames = [photo_like((400, 300), seed=10 + index, grain=0.0) for index in range(10)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return None


def draw_screenshot_png(path: Path) -> Drawn:
    """A 2560x1600 admin page: header, sidebar, a grid of cards, every label in 11 px text."""
    rng = random.Random(5)
    font = ImageFont.load_default(size=SCREENSHOT_FONT_PX)
    image = Image.new("RGB", (2560, 1600), (244, 245, 247))
    draw = ImageDraw.Draw(image)
    lines: list[TextLine] = []

    def write(at: tuple[int, int], text: str, fill: tuple[int, int, int]) -> None:
        draw.text(at, text, font=font, fill=fill)
        lines.append(TextLine(text, _box(draw.textbbox(at, text, font=font))))

    draw.rectangle((0, 0, 2559, 47), fill=(32, 41, 56))
    draw.rectangle((0, 48, 259, 1599), fill=(255, 255, 255), outline=(220, 223, 228))
    for row in range(90):
        write((16, 64 + row * 17), _phrase(rng, 3), (60, 64, 72))
    for column in range(6):
        for row in range(4):
            left, top = 284 + column * 378, 72 + row * 380
            draw.rectangle(
                (left, top, left + 360, top + 360), fill="white", outline=(220, 223, 228)
            )
            draw.rectangle((left, top, left + 360, top + 28), fill=(236, 240, 255))
            for line in range(19):
                write((left + 10, top + 36 + line * 17), _phrase(rng, 6), (33, 37, 41))
    image.save(path, "PNG")
    return lines


def draw_chart_png(path: Path) -> Drawn:
    """A 1600x1200 line chart: axes, grid, four thin series, tick labels and a legend in 12 px."""
    rng = random.Random(6)
    font = ImageFont.load_default(size=12)
    image = Image.new("RGB", (1600, 1200), "white")
    draw = ImageDraw.Draw(image)
    lines: list[TextLine] = []
    left, top, right, bottom = 120, 80, 1540, 1080
    for step in range(11):
        y = bottom - step * (bottom - top) // 10
        draw.line((left, y, right, y), fill=(230, 230, 230))
        label = f"{step * 500}"
        draw.text((left - 60, y - 7), label, font=font, fill=(40, 40, 40))
        lines.append(TextLine(label, _box(draw.textbbox((left - 60, y - 7), label, font=font))))
    draw.line((left, top, left, bottom), fill="black", width=2)
    draw.line((left, bottom, right, bottom), fill="black", width=2)
    colours = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))
    for index, colour in enumerate(colours):
        points, value = [], rng.uniform(top + 200, bottom - 200)
        for x in range(left, right + 1, 20):
            value = min(bottom - 5, max(top + 5, value + rng.uniform(-25, 25)))
            points.append((x, round(value)))
        draw.line(points, fill=colour, width=2)
        legend = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.randrange(100)}"
        at = (left + 20 + index * 300, top - 40)
        draw.rectangle((at[0] - 16, at[1] + 3, at[0] - 4, at[1] + 11), fill=colour)
        draw.text(at, legend, font=font, fill=(40, 40, 40))
        lines.append(TextLine(legend, _box(draw.textbbox(at, legend, font=font))))
    image.save(path, "PNG")
    return lines


def _box(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    return int(left), int(top), int(right), int(bottom)


def _phrase(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + f" {rng.randrange(10_000)}"


SPECS = (
    _Spec("small_png", "300x200 PNG", "photo", "small.png", draw_small_png, large=False),
    _Spec("animated_gif", "10-frame GIF", "animation", "animated.gif", draw_animated_gif, False),
    _Spec(
        "screenshot_png",
        "2560x1600 screenshot",
        "screenshot",
        "screenshot.png",
        draw_screenshot_png,
        large=True,
    ),
    _Spec("chart_png", "1600x1200 chart", "line art", "chart.png", draw_chart_png, large=False),
    _Spec("camera_jpeg", "12 MP camera JPEG", "photo", "camera.jpg", draw_camera_jpeg, True),
    _Spec("photo_png", "4000x3000 PNG", "photo", "photo.png", draw_photo_png, large=True),
    _Spec("noise_png", "18 MB noise PNG", "noise", "noise.png", draw_noise_png, large=True),
)


def generate_inputs(directory: Path) -> dict[str, BenchImage]:
    """Draw every input into `directory` and describe what is there.

    Drawing takes ~20 s (the 4000x3000 PNG alone ~10 s), so inputs drawn by this same version
    of this module under the same Pillow (same seeds, same code) are reused.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / "fingerprint"
    fingerprint = hashlib.sha256(Path(__file__).read_bytes() + PIL.__version__.encode())
    reuse = stamp.exists() and stamp.read_text() == fingerprint.hexdigest()
    stamp.unlink(missing_ok=True)
    images = {spec.key: _drawn(spec, directory, reuse) for spec in SPECS}
    stamp.write_text(fingerprint.hexdigest())
    return images


def _drawn(spec: _Spec, directory: Path, reuse: bool) -> BenchImage:
    path, truth_path = directory / spec.filename, directory / f"{spec.filename}.text.json"
    if reuse and path.exists():
        saved = json.loads(truth_path.read_text()) if truth_path.exists() else []
        text = [TextLine(line["text"], tuple(line["box"])) for line in saved]
    else:
        text = spec.draw(path) or []
        truth_path.write_text(json.dumps([{"text": t.text, "box": t.box} for t in text]))
    with Image.open(path) as written:
        width, height = written.size
    return BenchImage(
        spec.key,
        spec.label,
        spec.kind,
        path,
        width,
        height,
        path.stat().st_size,
        spec.large,
        tuple(text),
    )
