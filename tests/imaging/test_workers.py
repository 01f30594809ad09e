"""Image preparation in worker processes: deadlines kill, crashes are coded, memory is capped,
small images have their own lane, and the pool serves the next call after every failure."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psutil
import pytest

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.imaging import PreparedImage, SizeTarget, prepare_image
from openrouter_image_mcp.imaging import workers as workers_module
from openrouter_image_mcp.imaging.workers import EXPRESS_MAX_BYTES, ImageWorkers
from openrouter_image_mcp.settings import Settings
from tests.helpers import IMAGE_WORKER_MODULE, ImageWorkerWatch, noise_png, png_bytes
from tests.imaging.conftest import MakeSettings
from tests.imaging.hostile import slow_png
from tests.imaging.images import sent_bytes

TARGET = SizeTarget("default", 2048, 4_000_000)
SMALL = png_bytes(32, 32)
LARGE = noise_png(700, 600)  # over the express lane's byte limit
WAIT_S = 30  # a safety bound on every wait, not a performance figure


@asynccontextmanager
async def pool(settings: Settings) -> AsyncIterator[ImageWorkers]:
    workers = ImageWorkers(settings)
    try:
        yield workers
    finally:
        await workers.aclose()


async def prepared(workers: ImageWorkers, raw: bytes) -> PreparedImage:
    (image,) = (await asyncio.wait_for(workers.prepare(raw, TARGET), WAIT_S)).parts
    return image


async def refused(workers: ImageWorkers, raw: bytes) -> ToolFailure:
    with pytest.raises(ToolFailure) as caught:
        await prepared(workers, raw)
    return caught.value


async def test_workers_prepare_exactly_what_the_in_process_core_does(settings: Settings) -> None:
    async with pool(settings) as workers:
        for raw in (SMALL, LARGE, slow_png(1200)):
            expected = prepare_image(raw, TARGET, settings)
            actual = await prepared(workers, raw)
            assert (actual.received, actual.sent) == (expected.received, expected.sent)
            assert actual.passthrough is expected.passthrough
            assert sent_bytes(actual) == sent_bytes(expected)


async def test_a_pass_through_is_the_received_bytes(settings: Settings) -> None:
    async with pool(settings) as workers:
        result = await prepared(workers, LARGE)
    assert result.passthrough is True
    assert sent_bytes(result) == LARGE


async def test_failures_in_the_worker_keep_their_code_and_message(settings: Settings) -> None:
    async with pool(settings) as workers:
        failure = await refused(workers, b"<html>not an image</html>")
        assert failure.code == ErrorCode.UNSUPPORTED_FORMAT
        assert "it is an HTML page" in failure.message
        assert (await prepared(workers, SMALL)).passthrough


async def test_a_job_over_the_deadline_is_killed_and_the_pool_serves_the_next(
    make_settings: MakeSettings,
) -> None:
    watch = ImageWorkerWatch()
    async with pool(make_settings(prepare_timeout_s=0.5)) as workers:
        failure = await refused(workers, slow_png())  # seconds of genuine decoding work
        survivors = watch.started()  # the express worker that handed the job on
        follow_up = await prepared(workers, LARGE)
        replacement = [process for process in watch.started() if process not in survivors]
    assert len(survivors) == 1  # the general worker was killed and reaped
    assert len(replacement) == 1
    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    assert failure.message == (
        "preparing this image took longer than 0.5 s (IMAGE_MCP_PREPARE_TIMEOUT_S); "
        "send a smaller or simpler image"
    )
    assert follow_up.passthrough is True


@asynccontextmanager
async def job_in_a_stopped_worker(
    workers: ImageWorkers, watch: ImageWorkerWatch, raw: bytes
) -> AsyncIterator[tuple[asyncio.Task[PreparedImage], psutil.Process]]:
    """A job sent to a worker process that is stopped (SIGSTOP) and so holds it."""
    await prepared(workers, raw)  # starts the worker the job will go to
    with watch.parked() as (worker,):
        job = asyncio.create_task(prepared(workers, raw))
        await asyncio.sleep(0.3)  # the job reaches the stopped worker
        assert not job.done()
        yield job, worker


@pytest.mark.parametrize(
    ("signal_number", "code", "says"),
    [
        (signal.SIGKILL, ErrorCode.RESOURCE_TOO_LARGE, "the process preparing this image was"),
        (signal.SIGSEGV, ErrorCode.INVALID_INPUT, "the image decoder crashed on this image"),
        (signal.SIGABRT, ErrorCode.INVALID_INPUT, "the image decoder crashed on this image"),
    ],
)
async def test_a_worker_dying_mid_job_costs_that_call_a_coded_error_and_nothing_else(
    signal_number: int, code: ErrorCode, says: str, settings: Settings
) -> None:
    watch = ImageWorkerWatch()
    async with pool(settings) as workers:
        async with job_in_a_stopped_worker(workers, watch, LARGE) as (job, worker):
            os.kill(worker.pid, signal_number)  # delivered when the worker resumes
        with pytest.raises(ToolFailure) as caught:
            await asyncio.wait_for(job, WAIT_S)
        follow_up = await prepared(workers, LARGE)
    assert caught.value.code == code
    assert says in caught.value.message
    assert follow_up.passthrough is True


async def test_a_caller_leaving_mid_job_frees_the_worker_at_once(settings: Settings) -> None:
    watch = ImageWorkerWatch()
    async with pool(settings) as workers:
        async with job_in_a_stopped_worker(workers, watch, LARGE) as (job, worker):
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job
            assert not worker.is_running()  # killed, not left holding its job
        follow_up = await prepared(workers, LARGE)
    assert follow_up.passthrough is True


async def test_a_worker_over_its_memory_cap_fails_the_call_not_the_server(
    make_settings: MakeSettings,
) -> None:
    """A 49 MP image needs about 200 MB decoded; this worker may have 128 MiB."""
    async with pool(make_settings(prepare_memory_mb=128, prepare_timeout_s=60)) as workers:
        failure = await refused(workers, slow_png())
        follow_up = await prepared(workers, SMALL)
    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    assert failure.message == (
        "preparing this image needed more than the 128 MiB an image worker may use "
        "(IMAGE_MCP_PREPARE_MEMORY_MB); send a smaller image"
    )
    assert follow_up.passthrough is True


async def test_small_images_are_prepared_while_every_general_worker_is_stuck(
    make_settings: MakeSettings,
) -> None:
    """The express lane takes small files with few pixels; a small file with many pixels
    (seconds of decoding) is handed to the general lane instead, where it waits too."""
    watch = ImageWorkerWatch()
    async with pool(make_settings(image_workers=1, prepare_timeout_s=60)) as workers:
        async with job_in_a_stopped_worker(workers, watch, LARGE) as (stuck, _):
            small = await prepared(workers, SMALL)
            many_pixels = asyncio.create_task(prepared(workers, slow_png(4000)))
            await asyncio.sleep(0.5)
            queued = not many_pixels.done()
            another_small = await prepared(workers, png_bytes(48, 48))
        for job in (stuck, many_pixels):
            assert (await asyncio.wait_for(job, WAIT_S)).received.width > 0
    assert len(slow_png(4000)) <= EXPRESS_MAX_BYTES
    assert queued  # behind the stuck general worker, not in the express lane
    assert small.passthrough
    assert another_small.passthrough


async def test_workers_hold_no_secrets_and_stop_with_the_pool(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-secret")
    monkeypatch.setenv("IMAGE_MCP_AUTH_TOKENS", "alice:secret-token")
    watch = ImageWorkerWatch()
    async with pool(settings) as workers:
        await prepared(workers, SMALL)
        await prepared(workers, LARGE)
        started = watch.started()
        environments = [process.environ() for process in started]
    assert len(started) == 2  # the express and one general worker
    for environment in environments:
        assert not [name for name in environment if name.startswith(("OPENROUTER", "IMAGE_MCP"))]
    assert not any(process.is_running() for process in started)


# A worker parses hostile images, so the server must not believe whatever it says. This one
# speaks the protocol and answers every job with the reply given on its command line.
LYING_WORKER = """
import json, struct, sys
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
def read():
    prefix = stdin.read(4)
    if not prefix:
        sys.exit(0)
    header = json.loads(stdin.read(struct.unpack(">I", prefix)[0]))
    for size in header["sizes"]:
        stdin.read(size)
def send(header):
    payload = header.pop("_payload", "").encode()
    header.setdefault("sizes", [len(payload)] if payload else [])
    encoded = json.dumps(header).encode()
    stdout.write(struct.pack(">I", len(encoded)) + encoded + payload)
    stdout.flush()
read()
send({"ready": True})
while True:
    read()
    send(json.loads(sys.argv[1]))
"""
FACTS = {"format": "PNG", "width": 32, "height": 32, "bytes": 100, "frames": 1}
TILING = {
    "count": 2,
    "width": 32,
    "height": 60,
    "scale": 1.0,
    "overlap_px": 4,
    "order": "top to bottom",
}


@pytest.mark.parametrize(
    "lie",
    [
        pytest.param({"outcome": "failed", "code": "UPSTREAM_AUTH", "message": "x"}, id="code"),
        pytest.param({"outcome": "failed", "code": "INVALID_INPUT", "message": "x" * 5000}),
        pytest.param(
            {
                "outcome": "prepared",
                "received": FACTS,
                "sent": [{**FACTS, "format": "EXE"}],
                "tiling": None,
            },
            id="format",
        ),
        pytest.param(
            {"outcome": "prepared", "received": FACTS, "sent": [{"bytes": "many"}], "tiling": None}
        ),
        pytest.param(
            {
                "outcome": "prepared",
                "received": FACTS,
                "sent": [FACTS],
                "tiling": None,
                "_payload": "7 bytes",
            },
            id="payload",
        ),
        pytest.param(
            {
                "outcome": "prepared",
                "received": FACTS,
                "sent": [FACTS, FACTS],
                "tiling": TILING,
                "_payload": "x" * 200,
                "sizes": [100, 100],
            },
            id="tiles nobody asked for",
        ),
        pytest.param(
            {
                "outcome": "prepared",
                "received": FACTS,
                "sent": [FACTS, FACTS],
                "tiling": None,
                "_payload": "x" * 200,
                "sizes": [100, 100],
            },
            id="parts without tiling",
        ),
        pytest.param({"outcome": "surrender"}, id="outcome"),
        pytest.param({"outcome": "reroute"}, id="reroute from the general lane"),
        pytest.param({"sizes": [2**31]}, id="a 2 GB reply"),
    ],
)
async def test_a_worker_breaking_the_protocol_is_not_believed_and_not_reused(
    lie: dict[str, object], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module's name as an unused last argument, so ImageWorkerWatch counts the liars.
    lying = (sys.executable, "-c", LYING_WORKER, json.dumps(lie), IMAGE_WORKER_MODULE)
    monkeypatch.setattr(workers_module, "WORKER_COMMAND", lying)
    watch = ImageWorkerWatch()
    async with pool(settings) as workers:
        for _ in range(2):
            with pytest.raises(RuntimeError):  # INTERNAL, never a forged refusal or image
                await prepared(workers, SMALL)
        started = watch.started()
    assert len(started) <= 1  # each liar was stopped; at most the last is still exiting
