"""From received bytes to the bytes worth sending, doing only the work needed.

The container is surveyed first (structure.py): hostile layouts are refused before a
decoder reads them, and the frame count and the share of pixel data come from the survey.
An image the upstream accepts as it is (format, single frame, upright, small enough, whole,
mostly pixels) is forwarded unchanged. Anything else is decoded at the smallest useful scale
(JPEG DCT scaling), classified once (classify.py), shrunk as its content calls for, turned
upright, converted to 8-bit and encoded by content. Where an integer reduction (DCT scaling,
Image.reduce) lands at most 5% under the target, it is used as is: that skips most of the
decoding or all of the resampling.
Superseded pictures are closed at once, so peak memory stays near one full decode.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from PIL import Image, ImageFile

from .classify import Content, classify
from .decode import (
    check_integrity,
    container_format,
    decoding,
    exif_orientation,
    frame_count,
    open_image,
)
from .encode import encode_image
from .facts import UPSTREAM_MIME_TYPES, ImageFacts, Preparation, PreparedImage
from .limits import PreparationLimits, PreparationSettings
from .modes import needs_conversion_before_resampling, to_sendable_mode, without_opaque_alpha
from .structure import Structure, check_frame_count, survey
from .targets import SizeTarget
from .tiles import TilePlan, TilePolicy

logger = logging.getLogger(__name__)

_T = Image.Transpose
# The transpose that undoes each EXIF orientation; 5-8 also swap width and height.
_UPRIGHTING = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})
# How each kind of picture is shrunk at a non-integer factor. Photographs: area averaging
# (box), the cheapest filter and a faithful one for them. Graphics: bilinear. Box at a factor
# like 2560 -> 2048 px spreads each 1 px stroke of small text unevenly over one or two pixels,
# and tesseract then read 71% of a screenshot's 11 px words, against 97% after bilinear, which
# also costs less than bicubic or Lanczos (`python -m bench` measures it). The integer part of
# a large reduction runs first as Image.reduce, the cheapest path Pillow has.
_RESAMPLING = {
    Content.PHOTO: Image.Resampling.BOX,
    Content.GRAPHICS: Image.Resampling.BILINEAR,
    Content.SMOOTH_GRAPHICS: Image.Resampling.BILINEAR,
}
_REDUCING_GAP = 1.0
_SLACK = 0.95


def prepare_image(raw: bytes, target: SizeTarget, settings: PreparationSettings) -> PreparedImage:
    """Validate, orient, shrink and encode `raw` for `target`, whole (never tiled);
    synchronous and CPU-bound.

    Raises ToolFailure: UNSUPPORTED_FORMAT, INVALID_INPUT or RESOURCE_TOO_LARGE.
    """
    (image,) = prepare(raw, target, settings).prepared(raw).parts
    return image


def prepare(
    raw: bytes,
    target: SizeTarget,
    settings: PreparationSettings,
    before_decoding: Callable[[ImageFacts], None] | None = None,
    tiling: TilePolicy | None = None,
) -> Preparation:
    """The work of `prepare_image` without wrapping the result; `before_decoding` sees what
    was received once the header is read, and may raise to stop before the costly part.
    With a `tiling` policy, a tall or wide screenshot comes back as tiles (tiles.py)."""
    structure = survey(raw, settings.max_pixels)
    with open_image(raw, settings.max_pixels) as image:
        container = container_format(image)
        orientation = exif_orientation(image)
        received = ImageFacts(
            container, image.width, image.height, len(raw), _frames(image, structure)
        )
        if before_decoding is not None:
            before_decoding(received)
        upright = _upright(image.size, orientation)
        fits = target.fits(*upright)
        if _can_pass_through(image, received, orientation, fits, settings, structure):
            check_integrity(raw, container)
            return Preparation(received, (received,), payloads=None)
        del raw  # a caller that handed over its only reference gets the memory back sooner
        plan = None if tiling is None else tiling.plan(*upright, target)
        if plan is not None:
            return _tiled(image, orientation, received, plan, target, settings)
        picture, content = _decoded(image, target, orientation)
        with picture:
            sent, payload = _encoded(picture, content, settings)
    logger.debug("image %s -> %s", received, sent)
    return Preparation(received, (sent,), (payload,))


def _tiled(
    image: ImageFile.ImageFile,
    orientation: int,
    received: ImageFacts,
    plan: TilePlan,
    target: SizeTarget,
    settings: PreparationSettings,
) -> Preparation:
    """The image shrunk once for cutting, then cut into `plan`'s tiles, each encoded within
    an equal share of the byte limit; a photograph is sent whole instead."""
    whole_size = target.fitted_size(*_upright(image.size, orientation))
    picture, content = _decoded(image, plan.whole_target(target.family), orientation)
    with picture:
        if content is Content.PHOTO:
            with _shrunk(picture, whole_size, content) as whole:
                sent, payload = _encoded(whole, content, settings)
            return Preparation(received, (sent,), (payload,))
        share = PreparationLimits.of(settings).within(settings.max_image_bytes // plan.count)
        parts = []
        for box in plan.boxes(*picture.size):
            with picture.crop(box) as tile:
                parts.append(_encoded(tile, content, share))
        tiling = plan.facts(*picture.size, max(received.width, received.height))
    logger.debug("image %s -> %d tiles %s", received, tiling.count, [sent for sent, _ in parts])
    sent_parts, payloads = zip(*parts, strict=True)
    return Preparation(received, sent_parts, payloads, tiling)


def _encoded(
    picture: Image.Image, content: Content, settings: PreparationSettings
) -> tuple[ImageFacts, bytes]:
    encoded = encode_image(picture, content, settings)
    facts = ImageFacts(encoded.format, picture.width, picture.height, len(encoded.data))
    return facts, encoded.data


def _frames(image: ImageFile.ImageFile, structure: Structure) -> int:
    """From the survey where it counted them: a decoder may walk every frame to count."""
    frames = frame_count(image) if structure.frames is None else structure.frames
    check_frame_count(frames)
    return frames


def _can_pass_through(
    image: ImageFile.ImageFile,
    received: ImageFacts,
    orientation: int,
    fits: bool,
    settings: PreparationSettings,
    structure: Structure,
) -> bool:
    return (
        fits
        and received.format in UPSTREAM_MIME_TYPES
        and received.frames == 1
        and orientation == 1
        and received.bytes <= settings.max_image_bytes
        # Several upstream decoders show CMYK JPEGs with inverted or shifted colours.
        and image.mode != "CMYK"
        # Metadata or appended data could ride along to the upstream unchecked.
        and structure.mostly_pixels(received.bytes)
    )


def _decoded(
    image: ImageFile.ImageFile, target: SizeTarget, orientation: int
) -> tuple[Image.Image, Content]:
    """The first frame, upright, within `target`, in a sendable mode, and what it shows:
    classified once, before shrinking, since graphics and photographs shrink differently."""
    _load_near_target(image, target, orientation)
    picture: Image.Image = image
    if needs_conversion_before_resampling(picture):
        picture = _continue_with(picture, to_sendable_mode(picture))
    content = classify(picture)
    stored = _upright(target.fitted_size(*_upright(picture.size, orientation)), orientation)
    if picture.size != stored:
        picture = _continue_with(picture, _shrunk(picture, stored, content))
    picture = _continue_with(picture, to_sendable_mode(picture))
    if orientation in _UPRIGHTING:
        picture = _continue_with(picture, picture.transpose(_UPRIGHTING[orientation]))
    return _continue_with(picture, without_opaque_alpha(picture)), content


def _load_near_target(image: ImageFile.ImageFile, target: SizeTarget, orientation: int) -> None:
    """Decode the first frame, letting JPEG DCT scaling (HEIF: an embedded thumbnail) land up
    to 5% under the target: decoding at 1/2 or 1/4 scale costs a fraction of a full decode
    and often leaves nothing to resize."""
    width, height = _upright(target.fitted_size(*_upright(image.size, orientation)), orientation)
    smallest = (max(1, int(width * _SLACK)), max(1, int(height * _SLACK)))
    source = image.fp
    with decoding(container_format(image)):
        image.draft(None, smallest)
        image.load()
    if source is not None:
        source.close()  # only the first frame is used: its encoded bytes can go before resizing


def _shrunk(picture: Image.Image, size: tuple[int, int], content: Content) -> Image.Image:
    """`picture` at `size`, or at an integer reduction landing at most 5% under it: plain
    block averaging, several times cheaper than resampling."""
    factor = math.ceil(max(picture.width / size[0], picture.height / size[1]))
    reduced = (math.ceil(picture.width / factor), math.ceil(picture.height / factor))
    if reduced[0] >= size[0] * _SLACK and reduced[1] >= size[1] * _SLACK:
        return picture.reduce(factor)
    return picture.resize(size, _RESAMPLING[content], reducing_gap=_REDUCING_GAP)


def _continue_with(old: Image.Image, new: Image.Image) -> Image.Image:
    """Switch to `new`, freeing `old`'s pixels now rather than at the end of the call."""
    if new is not old:
        old.close()
    return new


def _upright(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Width and height as seen upright (or back: swapping is its own inverse)."""
    return (size[1], size[0]) if orientation in _SWAPS_AXES else size
