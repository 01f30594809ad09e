"""Hostile containers, generated compactly: few distinct bytes, repeated.

Each is a well-formed file (valid CRCs, consistent lengths) whose container holds far more
than any camera or editor writes: pages, frames, chunks, markers or metadata. The sizes stay
under the server's 20 MiB default so only the structural checks can refuse them.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

from tests.imaging.images import encoded


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _tiny(format_name: str, **options: object) -> bytes:
    return encoded(Image.new("RGB", (8, 8), "teal"), format_name, **options)


def many_page_tiff(pages: int) -> bytes:
    """A little-endian TIFF of `pages` 1x1 gray pages sharing one pixel byte."""
    entries = ((256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1))
    entries += ((262, 3, 1, 1), (273, 4, 1, 8), (278, 3, 1, 1), (279, 4, 1, 1))
    body = b"".join(struct.pack("<HHII", *entry) for entry in entries)
    size = 2 + len(body) + 4
    first = 10  # after the header and the pixel byte (padded to an even offset)
    directories = [
        struct.pack("<H", len(entries))
        + body
        + struct.pack("<I", first + (page + 1) * size if page + 1 < pages else 0)
        for page in range(pages)
    ]
    return b"II*\x00" + struct.pack("<I", first) + b"\x00\x00" + b"".join(directories)


def many_frame_gif(frames: int) -> bytes:
    """A GIF whose one 8x8 frame is repeated `frames` times."""
    raw = _tiny("GIF")
    start, end = raw.index(b","), raw.rindex(b";")
    return raw[:start] + raw[start:end] * frames + b";"


def jpeg_marker_flood(markers: int, marker: bytes = b"\xff\xfe\x00\x02") -> bytes:
    """An 8x8 JPEG with `markers` empty segments (default: comments) before its frame."""
    raw = _tiny("JPEG")
    return raw[:2] + marker * markers + raw[2:]


def jpeg_fill_flood(fill_bytes: int) -> bytes:
    """An 8x8 JPEG whose first marker is preceded by `fill_bytes` 0xFF fill bytes."""
    raw = _tiny("JPEG")
    return raw[:2] + b"\xff" * fill_bytes + raw[2:]


def jpeg_with_tail(tail_bytes: int) -> bytes:
    """A small whole JPEG followed by `tail_bytes` of data that is not part of the image."""
    return _tiny("JPEG") + bytes(range(256)) * (tail_bytes // 256)


def apng_frames(frames: int) -> bytes:
    """An APNG with `frames` 8x8 frames: fcTL and fdAT chunks repeated with fresh numbers."""
    raw = _tiny("PNG")
    header_end = raw.index(b"IDAT") - 4
    idat_length = struct.unpack(">I", raw[header_end : header_end + 4])[0]
    pixels = raw[header_end + 8 : header_end + 8 + idat_length]
    chunks = [raw[:header_end], png_chunk(b"acTL", struct.pack(">II", frames, 0))]
    sequence = 0
    for frame in range(frames):
        control = struct.pack(">IIIIIHHBB", sequence, 8, 8, 0, 0, 1, 10, 0, 0)
        chunks.append(png_chunk(b"fcTL", control))
        sequence += 1
        if frame == 0:
            chunks.append(png_chunk(b"IDAT", pixels))
        else:
            chunks.append(png_chunk(b"fdAT", struct.pack(">I", sequence) + pixels))
            sequence += 1
    chunks.append(png_chunk(b"IEND", b""))
    return b"".join(chunks)


def png_with_chunks(count: int, kind: bytes = b"tEXt", data: bytes = b"k\x00v") -> bytes:
    """An 8x8 PNG carrying `count` copies of one ancillary chunk before its pixels."""
    raw = _tiny("PNG")
    header_end = raw.index(b"IDAT") - 4
    return raw[:header_end] + png_chunk(kind, data) * count + raw[header_end:]


def png_text_bomb(chunks: int) -> bytes:
    """An 8x8 PNG with `chunks` zTXt chunks, each inflating to a megabyte of text."""
    text = b"k\x00\x00" + zlib.compress(b"a" * (1024 * 1024 - 1), 9)
    return png_with_chunks(chunks, b"zTXt", text)


def png_with_exif(exif_bytes: int) -> bytes:
    """An 8x8 PNG with an eXIf chunk of `exif_bytes` (a valid header, then padding)."""
    exif = b"MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"
    return png_with_chunks(1, b"eXIf", exif + bytes(exif_bytes - len(exif)))


def many_frame_webp(frames: int) -> bytes:
    """An animated WebP whose one 8x8 frame (an ANMF chunk) is repeated `frames` times."""
    first_frame, second_frame = Image.new("RGB", (8, 8), "teal"), Image.new("RGB", (8, 8), "red")
    raw = encoded(first_frame, "WEBP", save_all=True, append_images=[second_frame], lossless=True)
    first = raw.index(b"ANMF")
    (size,) = struct.unpack("<I", raw[first + 4 : first + 8])
    frame = raw[first : first + 8 + size + (size & 1)]
    body = raw[12:first] + frame * frames
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def slow_png(side: int = 7000) -> bytes:
    """An interlaced RGBA PNG of side x side transparent pixels: about 200 KB on disk, seconds
    of work to decode (inflating 200 MB, then Adam7 reassembly), within the pixel limit."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4))
    passes += ((0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    filtered = 0  # bytes of the interlaced, filtered image data: all zeros
    for x0, y0, dx, dy in passes:
        columns, rows = -(-(side - x0) // dx), -(-(side - y0) // dy)
        filtered += rows * (1 + columns * 4) if columns else 0
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", deflated_zeros(filtered))
        + png_chunk(b"IEND", b"")
    )


def deflated_zeros(count: int) -> bytes:
    """zlib data of `count` zero bytes in a fraction of the time zlib takes: one compressed
    mebibyte, flushed so that it can be repeated, then the rest in a final block."""
    block = 1 << 20
    repeated = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = repeated.compress(bytes(block)) + repeated.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = final.compress(bytes(count % block)) + final.flush()
    adler32_of_zeros = (count % 65521) << 16 | 1
    return b"\x78\x01" + piece * (count // block) + tail + struct.pack(">I", adler32_of_zeros)
