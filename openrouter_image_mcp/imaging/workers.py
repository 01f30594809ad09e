"""Image preparation in worker processes, each job under a deadline.

Decoders run native code on hostile bytes, and a thread stuck in one can be neither stopped
nor bounded in memory. So every image is prepared in a worker process (worker.py), started on
first use and then reused. A job that overruns IMAGE_MCP_PREPARE_TIMEOUT_S has its process
killed and the call gets RESOURCE_TOO_LARGE; a worker that dies (a decoder crash, the kernel's
OOM killer) costs its call a coded error; either way the next call gets a fresh process.
Each worker's memory is capped (IMAGE_MCP_PREPARE_MEMORY_MB), and it runs without the
server's secrets in its environment. It is never trusted: its answers are JSON, validated
here, with sizes bounded.

Lanes: IMAGE_MCP_IMAGE_WORKERS general workers take any image; one more, the express worker,
takes only small ones: at most EXPRESS_MAX_BYTES, and at most EXPRESS_MAX_PIXELS as its
header says (a larger one is handed back within milliseconds and queued for a general
worker). Express jobs therefore finish in well under a second, and a small image waits at
most for those, never for the full deadline of a hostile image in a general worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from pydantic import TypeAdapter, ValidationError

from ..errors import ErrorCode, ToolFailure
from ..settings import Settings
from . import wire
from .facts import UPSTREAM_MIME_TYPES, ImageFacts, ImageParts, Preparation
from .limits import PreparationLimits
from .targets import SizeTarget
from .tiles import TilePolicy, Tiling

logger = logging.getLogger(__name__)

EXPRESS_MAX_BYTES = 1024 * 1024
EXPRESS_MAX_PIXELS = 8_000_000
WORKER_COMMAND = (sys.executable, "-P", "-m", "openrouter_image_mcp.imaging.worker")

_START_TIMEOUT_S = 30.0  # importing Pillow on a busy machine
_STOP_GRACE_S = 2.0
_DEATH_GRACE_S = 1.0  # for a worker whose output ended to finish exiting
_SEND_CHUNK = 256 * 1024  # bounds the copy the event loop's pipe buffer makes
_WRAP_IN_THREAD_BYTES = 1024 * 1024  # base64 off the event loop above this
# The worker needs none of these, and it parses hostile images: it gets no secrets.
_PRIVATE_ENV_PREFIXES = ("OPENROUTER_", "IMAGE_MCP_")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

_FACTS = TypeAdapter(ImageFacts)
_SENT = TypeAdapter(tuple[ImageFacts, ...])
_TILING = TypeAdapter(Tiling | None)
_KEEPS_WORKING = frozenset({"prepared", "reroute", "failed"})
_REFUSAL_CODES = frozenset(
    {ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.INVALID_INPUT, ErrorCode.RESOURCE_TOO_LARGE}
)
# The pipes to a worker that has died.
_BROKEN = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class ImageWorkers:
    """The pool; `prepare` is the only way image bytes get parsed in the server."""

    def __init__(self, settings: Settings) -> None:
        self._limits = PreparationLimits.of(settings)
        self._memory_bytes = settings.prepare_memory_bytes
        self._timeout_s = settings.prepare_timeout_s
        self._general = tuple(_Slot() for _ in range(settings.image_workers))
        self._express = (_Slot(),)
        self._changed = anyio.Condition()
        self._waiting = 0

    async def prepare(
        self,
        raw: bytes,
        target: SizeTarget,
        *,
        tiling: TilePolicy | None = None,
        max_bytes: int | None = None,
    ) -> ImageParts:
        """Prepare `raw` for `target` in a worker, as tiles if `tiling` calls for them, in at
        most `max_bytes` (default IMAGE_MCP_MAX_IMAGE_BYTES); raises ToolFailure like
        `prepare_image`."""
        limit = self._limits.max_image_bytes
        job = _Job(target, tiling, limit if max_bytes is None else min(max_bytes, limit))
        express = len(raw) <= EXPRESS_MAX_BYTES
        preparation = await self._run(raw, job, express=express)
        if preparation is None:  # more pixels than the express lane takes
            preparation = await self._run(raw, job, express=False)
        wrapped = len(raw) if preparation.payloads is None else preparation.sent_bytes
        if wrapped < _WRAP_IN_THREAD_BYTES:
            return preparation.prepared(raw)
        return await anyio.to_thread.run_sync(preparation.prepared, raw)

    def waiting(self) -> int:
        """Jobs waiting for a free worker now."""
        return self._waiting

    async def aclose(self) -> None:
        """Stop every worker (each finishes or is killed within a couple of seconds)."""
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as group:
                for slot in (*self._general, *self._express):
                    if slot.worker is not None:
                        group.start_soon(slot.worker.stop)
                        slot.worker = None

    async def _run(self, raw: bytes, job: _Job, *, express: bool) -> Preparation | None:
        slot = await self._acquire(express)
        try:
            if slot.worker is not None and not slot.worker.alive:
                await _retire(slot)  # it died while idle (killed from outside)
            if slot.worker is None:
                slot.worker = await _Worker.start(self._limits, self._memory_bytes)
            header = {
                **job.header(),
                "express_pixels": EXPRESS_MAX_PIXELS if express else None,
            }
            try:
                reply, payloads = await slot.worker.exchange(header, raw, self._timeout_s)
            except BaseException as error:
                worker, slot.worker = slot.worker, None
                failure = await self._failure(worker, error)
                if failure is None:
                    raise
                raise failure from error
            if reply.get("outcome") not in _KEEPS_WORKING:
                await _retire(slot)  # out of memory (it exits by itself), or broken
            try:
                return self._outcome(reply, payloads, job, express=express)
            except RuntimeError:
                await _retire(slot)  # a malformed answer: not to be trusted with another job
                raise
        finally:
            await self._release(slot)

    async def _failure(self, worker: _Worker, error: BaseException) -> ToolFailure | None:
        """Kill the worker a job failed in, and say what the call gets instead of `error`
        (None: `error` itself)."""
        if isinstance(error, TimeoutError):
            await worker.kill()
            return ToolFailure(
                ErrorCode.RESOURCE_TOO_LARGE,
                f"preparing this image took longer than {self._timeout_s:g} s "
                "(IMAGE_MCP_PREPARE_TIMEOUT_S); send a smaller or simpler image",
            )
        if isinstance(error, _BROKEN):
            return _death(await worker.reap())
        # Cancelled (the caller left), or the worker broke the protocol: the job's state is
        # unknown, so the process goes.
        await worker.kill()
        return None

    def _outcome(
        self, reply: dict[str, Any], payloads: list[bytes], job: _Job, *, express: bool
    ) -> Preparation | None:
        match reply.get("outcome"):
            case "prepared":
                return _preparation(reply, payloads, job)
            case "reroute" if express:  # only the express lane hands a job on
                return None
            case "failed":
                raise _refusal(reply)
            case "out_of_memory":
                raise ToolFailure(
                    ErrorCode.RESOURCE_TOO_LARGE,
                    f"preparing this image needed more than the {self._memory_bytes // 2**20} "
                    "MiB an image worker may use (IMAGE_MCP_PREPARE_MEMORY_MB); send a smaller "
                    "image",
                )
        raise RuntimeError(f"the image worker failed: {reply.get('message', reply)}")

    async def _acquire(self, express: bool) -> _Slot:
        candidates = (*self._express, *self._general) if express else self._general
        async with self._changed:
            self._waiting += 1
            try:
                while (slot := next((s for s in candidates if not s.busy), None)) is None:
                    await self._changed.wait()
            finally:
                self._waiting -= 1
            slot.busy = True
            return slot

    async def _release(self, slot: _Slot) -> None:
        with anyio.CancelScope(shield=True):
            async with self._changed:
                slot.busy = False
                self._changed.notify_all()


@dataclass(frozen=True, slots=True)
class _Job:
    """What one preparation asks for, besides the bytes."""

    target: SizeTarget
    tiling: TilePolicy | None
    max_bytes: int

    @property
    def max_parts(self) -> int:
        return 1 if self.tiling is None else self.tiling.max_tiles

    def header(self) -> dict[str, Any]:
        return {
            "target": asdict(self.target),
            "tiling": None if self.tiling is None else asdict(self.tiling),
            "max_bytes": self.max_bytes,
        }


@dataclass(slots=True)
class _Slot:
    busy: bool = False
    worker: _Worker | None = None


async def _retire(slot: _Slot) -> None:
    worker, slot.worker = slot.worker, None
    if worker is not None:
        await worker.stop()


class _Worker:
    """One worker process and the pipes to it."""

    def __init__(self, process: anyio.abc.Process, max_reply_bytes: int) -> None:
        self._process = process
        self._max_reply_bytes = max_reply_bytes

    @classmethod
    async def start(cls, limits: PreparationLimits, memory_bytes: int) -> _Worker:
        try:
            process = await anyio.open_process(
                WORKER_COMMAND,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,  # the server's own stderr: Python's last words if it dies
                env=_worker_environment(),
            )
        except OSError as error:
            raise RuntimeError("the image worker process could not be started") from error
        worker = cls(process, limits.max_image_bytes)
        try:
            with anyio.fail_after(_START_TIMEOUT_S):
                await worker._send({"limits": asdict(limits), "memory_bytes": memory_bytes}, [])
                await worker._receive()
        except BaseException as error:
            await worker.kill()
            if isinstance(error, (TimeoutError, wire.WireError, *_BROKEN)):
                raise RuntimeError("the image worker process did not start") from error
            raise
        return worker

    @property
    def alive(self) -> bool:
        """False once the process has exited (killed while idle, say): it needs replacing."""
        return self._process.returncode is None

    async def exchange(
        self, header: dict[str, Any], raw: bytes, timeout_s: float
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Send one job and read its reply, all within `timeout_s` (TimeoutError after)."""
        with anyio.fail_after(timeout_s):
            await self._send(header, [raw])
            return await self._receive()

    async def stop(self) -> None:
        """Let the worker see the end of its input and exit; kill it if it does not."""
        with anyio.CancelScope(shield=True), contextlib.suppress(*_BROKEN):
            await self._process.stdin.aclose()  # type: ignore[union-attr]
        with anyio.move_on_after(_STOP_GRACE_S, shield=True):
            await self._process.wait()
        await self.kill()

    async def kill(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
            await self._process.aclose()

    async def reap(self) -> int | None:
        """The exit status of a worker whose pipes broke (killed if it lingers)."""
        with anyio.move_on_after(_DEATH_GRACE_S, shield=True):
            await self._process.wait()
        status = self._process.returncode
        await self.kill()
        return status

    async def _send(self, header: dict[str, Any], payloads: list[bytes]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        await stdin.send(wire.header_bytes(header, payloads))
        for payload in payloads:
            view = memoryview(payload)
            for start in range(0, len(view), _SEND_CHUNK):
                await stdin.send(view[start : start + _SEND_CHUNK])  # type: ignore[arg-type]

    async def _receive(self) -> tuple[dict[str, Any], list[bytes]]:
        length = wire.header_length(await self._exactly(wire.LENGTH.size))
        header, sizes = wire.parse_header(await self._exactly(length))
        if sum(sizes) > self._max_reply_bytes:
            raise wire.WireError(f"a reply of {sum(sizes)} bytes")
        return header, [await self._exactly(size) for size in sizes]

    async def _exactly(self, size: int) -> bytes:
        stdout = self._process.stdout
        assert stdout is not None
        # Joined once at the end: one copy of the payload on the event loop, not two.
        chunks: list[bytes] = []
        while size > 0:
            chunk = await stdout.receive(size)
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


def _preparation(reply: dict[str, Any], payloads: list[bytes], job: _Job) -> Preparation:
    """A worker's answer, checked as strictly as any other input: no more parts and bytes
    than the job allowed, each payload what its facts say."""
    try:
        received = _FACTS.validate_python(reply["received"])
        sent = _SENT.validate_python(reply["sent"])
        tiling = _TILING.validate_python(reply["tiling"])
    except (KeyError, ValidationError) as error:
        raise RuntimeError("the image worker answered with malformed facts") from error
    passthrough = not payloads
    if (
        not 0 < len(sent) <= job.max_parts
        or any(facts.format not in UPSTREAM_MIME_TYPES for facts in sent)
        or sum(facts.bytes for facts in sent) > job.max_bytes
        or (passthrough and sent != (received,))
        or (payloads and [len(payload) for payload in payloads] != [f.bytes for f in sent])
        or (tiling is None and len(sent) != 1)
        or (tiling is not None and not 2 <= tiling.count == len(sent))
    ):
        raise RuntimeError("the image worker answered with inconsistent facts")
    return Preparation(received, sent, None if passthrough else tuple(payloads), tiling)


def _refusal(reply: dict[str, Any]) -> ToolFailure:
    """The refusal a worker reports, if it is one preparation can make."""
    code, message = reply.get("code"), reply.get("message")
    if code not in _REFUSAL_CODES or not isinstance(message, str) or len(message) > 1000:
        raise RuntimeError("the image worker answered with a malformed refusal")
    return ToolFailure(ErrorCode(code), message)


def _death(status: int | None) -> ToolFailure:
    """What a call learns when its worker died under it."""
    logger.warning("an image worker died during a job (exit status %s)", status)
    if status == -getattr(signal, "SIGKILL", 9):
        return ToolFailure(
            ErrorCode.RESOURCE_TOO_LARGE,
            "the process preparing this image was killed (most likely for using too much "
            "memory); send a smaller image",
        )
    return ToolFailure(
        ErrorCode.INVALID_INPUT,
        "the image decoder crashed on this image; send it re-saved as PNG or JPEG",
    )


def _worker_environment() -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(_PRIVATE_ENV_PREFIXES)
    }
    # The worker imports this very copy of the package, wherever the server found it.
    paths = [_PACKAGE_ROOT, *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment
