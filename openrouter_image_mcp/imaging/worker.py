"""The image worker: a process that prepares one image at a time for the server that started it.

The server (workers.py) starts it as `python -P -m openrouter_image_mcp.imaging.worker` and
talks to it over stdin and stdout (wire.py): first the preparation limits and a memory cap,
then one job at a time (a size target, a tiling policy, a byte budget and the image bytes),
each answered with what was received and what to send: one payload per part (the image, or
its tiles), none when the received bytes go out unchanged. Its data segment is capped
(RLIMIT_DATA), so an image that slips past every check and needs too much memory ends in
MemoryError here, never in the server;
a job that overruns its deadline gets the process killed, and the server starts another.
It imports only the imaging code and Pillow: no settings machinery, no secrets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, BinaryIO

from ..allocator import return_large_buffers_to_the_system
from ..errors import ToolFailure
from . import wire
from .facts import ImageFacts
from .limits import PreparationLimits
from .normalize import prepare
from .targets import SizeTarget
from .tiles import TilePolicy

Reply = tuple[dict[str, Any], list[bytes]]
# Linux's default ceiling for a pipe an unprivileged process sizes (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1024 * 1024


class _Reroute(Exception):
    """The image has more pixels than the express lane takes."""


def main() -> None:
    reader, writer = _claim_stdio()
    # Ctrl-C in a terminal reaches the whole process group; the server decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return_large_buffers_to_the_system()
    try:
        config = _read(reader)
        if config is None:
            return
        limits = PreparationLimits(**config[0]["limits"])
        _cap_memory(config[0]["memory_bytes"])
        _write(writer, ({"ready": True}, []))
        while (job := _read(reader)) is not None:
            reply = _answer(job, limits)
            _write(writer, reply)
            if reply[0]["outcome"] == "out_of_memory":
                return  # a fresh process starts with an unfragmented heap
    except (wire.WireError, BrokenPipeError):
        return  # the server is gone or talking nonsense: nothing to answer


def _answer(job: tuple[dict[str, Any], list[bytes]], limits: PreparationLimits) -> Reply:
    header, payloads = job
    try:
        target, lane_check = SizeTarget(**header["target"]), _lane_check(header["express_pixels"])
        tiling = None if header["tiling"] is None else TilePolicy(**header["tiling"])
        job_limits = limits.within(header["max_bytes"])
        # Handing over the only reference lets the bytes go as soon as they are decoded.
        preparation = prepare(payloads.pop(), target, job_limits, lane_check, tiling)
    except _Reroute:
        return {"outcome": "reroute"}, []
    except ToolFailure as failure:
        return {"outcome": "failed", "code": str(failure.code), "message": failure.message}, []
    except MemoryError:
        return {"outcome": "out_of_memory"}, []
    except Exception:
        return {"outcome": "bug", "message": traceback.format_exc()}, []
    reply = {
        "outcome": "prepared",
        "received": asdict(preparation.received),
        "sent": [asdict(facts) for facts in preparation.sent],
        "tiling": None if preparation.tiling is None else asdict(preparation.tiling),
    }
    return reply, list(preparation.payloads or ())  # one per part; none for a pass-through


def _lane_check(max_pixels: int | None) -> Callable[[ImageFacts], None] | None:
    if max_pixels is None:
        return None

    def check(received: ImageFacts) -> None:
        if received.width * received.height > max_pixels:
            raise _Reroute

    return check


def _claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """Private copies of stdin and stdout for the messages; fd 0 then reads nothing and fd 1
    writes to stderr, so nothing a library prints can corrupt a message."""
    for pipe in (0, 1):
        _widen(pipe)
    reader = os.fdopen(os.dup(0), "rb")
    writer = os.fdopen(os.dup(1), "wb")
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    os.dup2(2, 1)
    return reader, writer


def _widen(pipe: int) -> None:
    """Let the pipe hold PIPE_BYTES (Linux): an 18 MB image crosses in 18 writes and wakeups
    of each side instead of 280 of the default 64 KiB."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return
    with contextlib.suppress(AttributeError, OSError):  # not Linux, not a pipe, over the limit
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _cap_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # not a POSIX system: the deadline still bounds the work
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    with contextlib.suppress(ValueError, OSError):  # a platform that refuses: the deadline holds
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _read(reader: BinaryIO) -> tuple[dict[str, Any], list[bytes]] | None:
    """The next message, or None at the end of input."""
    prefix = reader.read(wire.LENGTH.size)
    if not prefix:
        return None
    length = wire.header_length(_complete(prefix, wire.LENGTH.size))
    header, sizes = wire.parse_header(_exactly(reader, length))
    return header, [_exactly(reader, size) for size in sizes]


def _exactly(reader: BinaryIO, size: int) -> bytes:
    return _complete(reader.read(size), size)


def _complete(data: bytes, size: int) -> bytes:
    if len(data) != size:
        raise wire.WireError("input ended inside a message")
    return data


def _write(writer: BinaryIO, reply: Reply) -> None:
    header, payloads = reply
    writer.write(wire.header_bytes(header, payloads))
    for payload in payloads:
        writer.write(payload)
    writer.flush()


if __name__ == "__main__":
    sys.exit(main())
