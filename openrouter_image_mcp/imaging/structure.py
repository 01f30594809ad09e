"""Cheap structural checks on untrusted image bytes, before any decoder reads them.

What a container costs a decoder can grow with the container instead of the picture: Pillow
reads JPEG markers and GIF blocks one at a time in Python and keeps every APP segment, counts
TIFF pages by walking every directory (more than linearly), and libwebp indexes every
animation frame when the file is opened. An 8x8 JPEG padded with millions of empty markers
took 6 s and 658 MB to open; a 10 MB TIFF of 100,000 pages took minutes to count. Here the
same structures are walked in bounded work (every walk stops at a cap; JPEG entropy-coded
data is skipped by a regular expression, GIF data by its sub-block lengths), and containers
holding more than any camera or editor writes are refused.

The walk also answers what would otherwise need a decoder to walk the file: the frame count
(only the first frame is ever sent), and how many bytes are compressed pixels, so a file
that is mostly something else (metadata, appended data) is re-encoded, never forwarded.
Damage short of the caps is left to the decoders, which report it in their own words.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from .refusals import damaged, over_structural_cap, too_many_pixels

MAX_FRAMES = 10_000
MAX_CHUNKS = 32_768  # PNG chunks, WebP chunks, GIF extension blocks
# PNG chunks other than pixel data and GIF extensions before the first frame: Pillow reads
# each in Python (60,000 text chunks took 1.2 s); files carry a handful.
MAX_ANCILLARY_CHUNKS = 1_024
MAX_GIF_SUB_BLOCKS = 262_144  # 3x what 20 MB of ordinary 255-byte sub-blocks needs
MAX_JPEG_SEGMENTS = 1_000  # cameras write a few dozen; ICC profiles split in 64 KB pieces
MAX_JPEG_SCANS = 100  # progressive encoders write about ten
MAX_STRAY_BYTES = 4_096  # fill and junk bytes between JPEG segments or GIF blocks
MAX_TIFF_ENTRIES = 4_096  # tags in one TIFF directory; files carry a few dozen
MAX_METADATA_BYTES = 1024 * 1024  # one EXIF block or ICC profile
# Up to this size a file may pass through whatever share of it is pixel data.
SMALL_FILE_BYTES = 64 * 1024

_RESAVE = "re-save it with an image editor or converter (e.g. as PNG) and send that"
_ONE_FRAME = "send the frame or page you want as a single PNG or JPEG"
_STRIP_METADATA = "re-save the image without its metadata (or converted to sRGB) and send that"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_FRAME_CHUNKS = frozenset({b"IDAT", b"fcTL", b"fdAT"})
# A marker in JPEG entropy-coded data: 0xFF followed by anything but a stuffed zero, a
# restart marker (D0-D7) or more fill.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RST0-7: no length
_JPEG_SOS, _JPEG_EOI, _JPEG_APP2 = 0xDA, 0xD9, 0xE2
_ICC_SIGNATURE = b"ICC_PROFILE\x00"
_TIFF_ICC_TAG = 34675
# TIFF field types -> bytes per value (TIFF 6.0 and BigTIFF).
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TIFF_TYPE_SIZES.update({13: 4, 16: 8, 17: 8, 18: 8})


@dataclass(frozen=True, slots=True)
class Structure:
    """What the container says, as far as this module reads it."""

    frames: int | None = None  # None: not counted here; ask the decoder
    pixel_bytes: int | None = None  # compressed pixel data of the first frame; None: unknown

    def mostly_pixels(self, size: int) -> bool:
        """Whether a file of `size` bytes is worth forwarding as it is."""
        if size <= SMALL_FILE_BYTES:
            return True
        return self.pixel_bytes is not None and self.pixel_bytes * 2 >= size


def survey(raw: bytes, max_pixels: int) -> Structure:
    """Walk the container of `raw`; raises ToolFailure for containers over a cap."""
    if raw.startswith(_PNG_SIGNATURE):
        return _png(raw)
    if raw.startswith(b"\xff\xd8\xff"):
        return _jpeg(raw)
    if raw.startswith((b"GIF87a", b"GIF89a")):
        return _gif(raw)
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return _webp(raw, max_pixels)
    if raw[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff(raw)
    return Structure()


def check_frame_count(frames: int) -> None:
    """Refuse more frames than MAX_FRAMES, however they were counted."""
    _frames_tally().add(frames)


class _Tally:
    """A count that refuses the file once it passes its cap."""

    def __init__(self, cap: int, subject: str, things: str, advice: str = _RESAVE) -> None:
        self.count = 0
        self._cap, self._subject, self._things, self._advice = cap, subject, things, advice

    def add(self, amount: int = 1) -> None:
        self.count += amount
        if self.count > self._cap:
            raise over_structural_cap(self._subject, self._cap, self._things, self._advice)


def _frames_tally() -> _Tally:
    return _Tally(MAX_FRAMES, "the image has", "frames or pages", _ONE_FRAME)


def _metadata_tally(what: str) -> _Tally:
    return _Tally(MAX_METADATA_BYTES, f"the image's {what} has", "bytes", _STRIP_METADATA)


# --- PNG: length, type, data, CRC; animation frames announced by fcTL after acTL ----------


def _png(raw: bytes) -> Structure:
    chunks = _Tally(MAX_CHUNKS, "the PNG image has", "chunks")
    ancillary = _Tally(MAX_ANCILLARY_CHUNKS, "the PNG image has", "metadata chunks")
    frames = _frames_tally()
    exif = _metadata_tally("EXIF block")
    pixel_bytes, animated, position = 0, False, len(_PNG_SIGNATURE)
    while position + 8 <= len(raw):
        length, kind = struct.unpack_from(">I4s", raw, position)
        chunks.add()
        if kind == b"IDAT":
            pixel_bytes += length
        elif kind == b"acTL":
            animated = True
        elif kind == b"fcTL" and animated:
            frames.add()
        elif kind == b"eXIf":
            exif.add(length)
        elif kind == b"IEND":
            break
        if kind not in _PNG_FRAME_CHUNKS:
            ancillary.add()
        position += 12 + length
    return Structure(frames=max(frames.count, 1), pixel_bytes=pixel_bytes)


# --- JPEG: segments up to the first scan, then entropy-coded data between markers ----------


def _jpeg(raw: bytes) -> Structure:
    segments = _Tally(MAX_JPEG_SEGMENTS, "the JPEG image has", "marker segments")
    stray = _Tally(MAX_STRAY_BYTES, "the JPEG image has", "stray bytes between its segments")
    icc = _metadata_tally("colour profile (ICC)")
    position = _jpeg_header_segments(raw, segments, stray, icc)
    if position is None:
        return Structure(frames=1, pixel_bytes=0)
    return Structure(frames=1, pixel_bytes=_jpeg_scans(raw, position, segments))


def _jpeg_header_segments(raw: bytes, segments: _Tally, stray: _Tally, icc: _Tally) -> int | None:
    """Walk the segments before the first scan, as Pillow will; the offset after the first
    scan header, or None when there is none (the decoder then reports the damage)."""
    position = 2
    while position + 1 < len(raw):
        if raw[position] != 0xFF or raw[position + 1] in (0x00, 0xFF):
            stray.add()  # junk, fill or a stuffed zero: skipped byte by byte
            position += 1
            continue
        marker = raw[position + 1]
        segments.add()
        position += 2
        if marker in _JPEG_STANDALONE:
            continue
        if marker == _JPEG_EOI or position + 2 > len(raw):
            return None
        (length,) = struct.unpack_from(">H", raw, position)
        if length < 2:
            raise damaged("JPEG")
        if marker == _JPEG_APP2 and raw.startswith(_ICC_SIGNATURE, position + 2):
            icc.add(length - 2 - len(_ICC_SIGNATURE) - 2)
        position += length
        if marker == _JPEG_SOS:
            return position
    return None


def _jpeg_scans(raw: bytes, position: int, segments: _Tally) -> int:
    """The bytes of entropy-coded data from `position` to the end of the image, counting the
    scans and the segments between them."""
    scans = _Tally(MAX_JPEG_SCANS, "the JPEG image has", "scans")
    scans.add()
    pixel_bytes = 0
    while (found := _JPEG_MARKER.search(raw, position)) is not None:
        pixel_bytes += found.start() - position
        marker = raw[found.start() + 1]
        segments.add()
        position = found.end()
        if marker == _JPEG_EOI:
            return pixel_bytes
        if marker in _JPEG_STANDALONE or position + 2 > len(raw):
            continue
        if marker == _JPEG_SOS:
            scans.add()
        position += struct.unpack_from(">H", raw, position)[0]
    return pixel_bytes + max(0, len(raw) - position)


# --- GIF: extension and image blocks, each followed by length-prefixed sub-blocks ----------


def _gif(raw: bytes) -> Structure:
    if len(raw) < 13:
        return Structure()
    frames = _frames_tally()
    extensions = _Tally(MAX_CHUNKS, "the GIF image has", "extension blocks")
    leading = _Tally(MAX_ANCILLARY_CHUNKS, "the GIF image has", "blocks before its first frame")
    stray = _Tally(MAX_STRAY_BYTES, "the GIF image has", "stray bytes between its blocks")
    sub_blocks = _Tally(MAX_GIF_SUB_BLOCKS, "the GIF image has", "data sub-blocks")
    position = 13 + _gif_colour_table_bytes(raw[10])
    first_frame_bytes = 0
    while position < len(raw):
        introducer = raw[position]
        if introducer == 0x3B:  # trailer
            break
        if introducer == 0x21:  # extension: label, then sub-blocks
            extensions.add()
            if not frames.count:
                leading.add()
            position, _ = _gif_sub_blocks(raw, position + 2, sub_blocks)
        elif introducer == 0x2C:  # image: descriptor, colour table, LZW size, sub-blocks
            frames.add()
            if position + 10 > len(raw):
                break
            position += 10 + _gif_colour_table_bytes(raw[position + 9]) + 1
            position, data_bytes = _gif_sub_blocks(raw, position, sub_blocks)
            if frames.count == 1:
                first_frame_bytes = data_bytes
        else:
            stray.add()
            position += 1
    return Structure(frames=max(frames.count, 1), pixel_bytes=first_frame_bytes)


def _gif_colour_table_bytes(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _gif_sub_blocks(raw: bytes, position: int, sub_blocks: _Tally) -> tuple[int, int]:
    """Skip the sub-blocks starting at `position`: where they end, and their data bytes."""
    data_bytes = 0
    while position < len(raw):
        size = raw[position]
        position += 1
        if size == 0:
            break
        sub_blocks.add()
        position += size
        data_bytes += size
    return position, data_bytes


# --- WebP: RIFF chunks; ANMF frames; the canvas size from VP8X or the bitstream -------------


def _webp(raw: bytes, max_pixels: int) -> Structure:
    chunks = _Tally(MAX_CHUNKS, "the WebP image has", "chunks")
    frames = _frames_tally()
    icc, exif = _metadata_tally("colour profile (ICC)"), _metadata_tally("EXIF block")
    end = min(len(raw), 8 + struct.unpack_from("<I", raw, 4)[0])
    pixel_bytes, canvas, position = 0, None, 12
    while position + 8 <= end:
        kind, size = struct.unpack_from("<4sI", raw, position)
        body = position + 8
        chunks.add()
        if kind == b"VP8X" and body + 10 <= end:
            canvas = (1 + _u24le(raw, body + 4), 1 + _u24le(raw, body + 7))
        elif kind in (b"VP8 ", b"VP8L", b"ALPH"):
            pixel_bytes += size
            canvas = canvas or _webp_bitstream_size(kind, raw[body : body + 10])
        elif kind == b"ANMF":
            frames.add()
        elif kind == b"ICCP":
            icc.add(size)
        elif kind == b"EXIF":
            exif.add(size)
        position = body + size + (size & 1)
    # libwebp allocates the whole canvas when the file is opened, before any pixel check.
    if canvas is not None and canvas[0] * canvas[1] > max_pixels:
        raise too_many_pixels("the image header claims more pixels than", max_pixels)
    return Structure(frames=max(frames.count, 1), pixel_bytes=pixel_bytes)


def _webp_bitstream_size(kind: bytes, head: bytes) -> tuple[int, int] | None:
    if kind == b"VP8 " and len(head) >= 10 and head[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", head, 6)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(head) >= 5 and head[0] == 0x2F:
        (bits,) = struct.unpack_from("<I", head, 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _u24le(raw: bytes, position: int) -> int:
    return int.from_bytes(raw[position : position + 3], "little")


# --- TIFF: a chain of directories (one per page), classic or BigTIFF ----------------------


@dataclass(frozen=True, slots=True)
class _TiffLayout:
    order: str  # struct byte order
    count: str  # struct code of a directory's entry count
    offset: str  # struct code of an offset
    entry_bytes: int

    @classmethod
    def of(cls, raw: bytes) -> _TiffLayout:
        order = "<" if raw[:2] == b"II" else ">"
        if raw[2:4] in (b"+\x00", b"\x00+"):
            return cls(order, "Q", "Q", 20)
        return cls(order, "H", "I", 12)


def _tiff(raw: bytes) -> Structure:
    layout = _TiffLayout.of(raw)
    first_at = 8 if layout.offset == "Q" else 4
    if first_at + struct.calcsize(layout.offset) > len(raw):
        return Structure()
    pages = _frames_tally()
    (offset,) = struct.unpack_from(layout.order + layout.offset, raw, first_at)
    seen: set[int] = set()
    while offset and offset not in seen:
        entries_at = offset + struct.calcsize(layout.count)
        if entries_at > len(raw):
            break  # a dangling pointer: the pages before it are what the decoder sees
        seen.add(offset)
        pages.add()
        (entries,) = struct.unpack_from(layout.order + layout.count, raw, offset)
        if entries > MAX_TIFF_ENTRIES:
            raise over_structural_cap(
                "a directory of the TIFF image has", MAX_TIFF_ENTRIES, "tags", _RESAVE
            )
        if pages.count == 1:
            _check_tiff_profile(raw, layout, entries_at, entries)
        next_at = entries_at + entries * layout.entry_bytes
        if next_at + struct.calcsize(layout.offset) > len(raw):
            break
        (offset,) = struct.unpack_from(layout.order + layout.offset, raw, next_at)
    return Structure(frames=max(pages.count, 1))


def _check_tiff_profile(raw: bytes, layout: _TiffLayout, entries_at: int, entries: int) -> None:
    entry = struct.Struct(layout.order + "HH" + layout.offset)
    for index in range(entries):
        at = entries_at + index * layout.entry_bytes
        if at + entry.size > len(raw):
            return
        tag, kind, count = entry.unpack_from(raw, at)
        if tag == _TIFF_ICC_TAG:
            _metadata_tally("colour profile (ICC)").add(count * _TIFF_TYPE_SIZES.get(kind, 1))
