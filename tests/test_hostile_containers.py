"""Hostile containers against the real command over HTTP (issue 11): files whose pages,
frames, chunks or markers cost decoders far more than their pixels.

The server runs as `python -m openrouter_image_mcp`, so the process tree measured is exactly
what a deployment runs: the server and its image worker processes. Each hostile file is sent
twice at once (enough to occupy both general image workers) while a small PNG is sent
alongside: the hostile calls are refused or finish within the deadline, the small call
completes within seconds, the tree's memory stays bounded, and nothing of a hostile file
reaches the upstream as it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psutil
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from fastmcp.client.transports import StreamableHttpTransport

from openrouter_image_mcp.settings import MIB
from tests.app.helpers import ALICE_TOKEN, TOKENS, mcp_client, serving
from tests.app.processes import ServerProcess, TreeRss, running_server
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import call, data_url, error_code, noise_png, png_bytes
from tests.imaging.hostile import (
    apng_frames,
    jpeg_fill_flood,
    jpeg_marker_flood,
    jpeg_with_tail,
    many_frame_gif,
    many_frame_webp,
    many_page_tiff,
    png_text_bomb,
    png_with_chunks,
    slow_png,
)

SMALL = png_bytes(32, 32)
DEADLINE_S = 25.0  # the 10 s preparation deadline, plus the wait for a free worker
SMALL_CALL_S = 5.0  # "a few seconds", on a busy two-core machine
# Two 20 MB images in flight as JSON: the HTTP layer alone holds 300-500 MB of request
# bodies, their text and decoded bytes; each worker holds at most its own copy.
TREE_RSS_BOUND = 1024 * MIB
# A worker refusing a file from its structure decodes nothing: interpreter, Pillow, the bytes.
REFUSING_WORKER_RSS_BOUND = 128 * MIB
TOO_LARGE = "RESOURCE_TOO_LARGE"
FRAMES = "more than 10,000 frames or pages"


@dataclass(frozen=True)
class Hostile:
    id: str
    make: Callable[[], bytes]
    code: str | None  # None: the call may succeed, with the picture re-encoded
    says: str = ""


HOSTILE = [
    Hostile("TIFF of 100,000 pages", lambda: many_page_tiff(100_000), TOO_LARGE, FRAMES),
    Hostile("GIF of 700,000 frames", lambda: many_frame_gif(700_000), TOO_LARGE, FRAMES),
    Hostile("APNG of 250,000 frames", lambda: apng_frames(250_000), TOO_LARGE, FRAMES),
    Hostile("WebP of 400,000 frames", lambda: many_frame_webp(400_000), TOO_LARGE, FRAMES),
    Hostile("JPEG with 5M empty markers", lambda: jpeg_marker_flood(5_000_000), TOO_LARGE, "1,000"),
    Hostile("JPEG with 19 MB of fill", lambda: jpeg_fill_flood(19_000_000), TOO_LARGE, "stray"),
    Hostile("PNG with 1M text chunks", lambda: png_with_chunks(1_000_000), TOO_LARGE, "chunks"),
    Hostile("JPEG followed by 19 MB", lambda: jpeg_with_tail(19_000_000), None),
    Hostile("PNG of 64 MB of zTXt", lambda: png_text_bomb(64), None),
    Hostile("49 MP PNG of 200 KB", slow_png, None),
]


async def warm_up(server: ServerProcess) -> None:
    """Start the express worker and both general workers, as a running server has them."""
    async with client_for(server) as client:
        large = [data_url(noise_png(640, 600, seed)) for seed in range(2)]
        results = await asyncio.gather(
            call(client, image_path=data_url(SMALL)),
            *(call(client, image_path=image) for image in large),
        )
    assert not any(result.is_error for result in results)
    assert len(server.workers()) == 3


# --- The matrix -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(
    fake_openrouter: FakeOpenRouter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with running_server(
        fake_openrouter,
        tmp_path_factory.mktemp("server"),
        IMAGE_MCP_CACHE_TTL_S="0",
        IMAGE_MCP_RATE_LIMIT="1000/second",
        IMAGE_MCP_LOG_LEVEL="INFO",
        IMAGE_MCP_SHUTDOWN_GRACE_S="2",
    ) as running:
        asyncio.run(warm_up(running))
        yield running


def client_for(server: ServerProcess) -> Client:
    transport = StreamableHttpTransport(f"{server.url}/mcp", auth=ALICE_TOKEN)
    return Client(transport, timeout=2 * DEADLINE_S)


async def timed_call(server: ServerProcess, image_path: str) -> tuple[CallToolResult, float]:
    started = time.monotonic()
    async with client_for(server) as client:
        result = await call(client, image_path=image_path)
    return result, time.monotonic() - started


@pytest.mark.parametrize("hostile", [pytest.param(h, id=h.id) for h in HOSTILE])
async def test_hostile_containers_are_bounded_while_a_small_call_completes(
    hostile: Hostile, server: ServerProcess, fake: FakeOpenRouter
) -> None:
    raw = hostile.make()
    assert len(raw) <= 20 * MIB  # under the default byte limit: only the structure is hostile
    rss = TreeRss(server)
    try:
        attacks = [
            asyncio.create_task(timed_call(server, data_url(raw, "image/png"))) for _ in range(2)
        ]
        await asyncio.sleep(0.5)  # both hostile calls under way
        small, small_s = await timed_call(server, data_url(SMALL))
        outcomes = await asyncio.gather(*attacks)
    finally:
        rss.close()

    assert not small.is_error
    assert small_s < SMALL_CALL_S
    for result, seconds in outcomes:
        assert seconds < DEADLINE_S
        code = error_code(result)
        if hostile.code is not None:
            assert code == hostile.code
            assert hostile.says in result.content[0].text  # type: ignore[union-attr]
        else:
            assert code in (None, TOO_LARGE)  # finished, or stopped at the deadline
    for completion in fake.completions:  # nothing forwarded as it was received
        assert (completion.image.byte_length or 0) < 64 * 1024
    forwarded = [outcome.meta["image"]["sent"] for outcome, _ in outcomes if not outcome.is_error]
    assert not [sent for sent in forwarded if sent.get("passthrough")]
    assert rss.peak < TREE_RSS_BOUND, f"process tree peaked at {rss.peak / MIB:.0f} MiB"
    if hostile.code is not None:
        assert rss.worker_peak < REFUSING_WORKER_RSS_BOUND, f"{rss.worker_peak / MIB:.0f} MiB"


# --- Deadline and crash ----------------------------------------------------------------------


def busy_worker(server: ServerProcess) -> psutil.Process:
    """The worker whose CPU time grows: the one preparing an image."""
    workers = server.workers()
    before = [cpu_seconds(process) for process in workers]
    time.sleep(0.5)
    growth = [cpu_seconds(process) - cpu for process, cpu in zip(workers, before, strict=True)]
    return workers[growth.index(max(growth))]


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def test_a_worker_killed_mid_job_fails_that_call_and_the_next_ones_succeed(
    server: ServerProcess, fake: FakeOpenRouter
) -> None:
    job = asyncio.create_task(timed_call(server, data_url(slow_png())))
    await asyncio.sleep(0.5)  # the job has reached a general worker and is decoding
    victim = await asyncio.to_thread(busy_worker, server)
    victim.kill()  # what the kernel's OOM killer does

    (result, seconds), small = await job, await timed_call(server, data_url(SMALL))
    large = await timed_call(server, data_url(noise_png(640, 600, seed=7)))

    assert error_code(result) == TOO_LARGE
    assert "the process preparing this image was killed" in result.content[0].text  # type: ignore[union-attr]
    assert seconds < DEADLINE_S
    assert not small[0].is_error
    assert not large[0].is_error
    assert victim.pid not in {process.pid for process in server.workers()}
    assert len(fake.completions) == 2


async def test_a_job_over_the_deadline_is_stopped_and_the_next_call_succeeds(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, cache_ttl_s=0, prepare_timeout_s=0.5)
    async with serving(settings) as base, mcp_client(base) as client:
        started = time.monotonic()
        slow = await call(client, image_path=data_url(slow_png()))
        seconds = time.monotonic() - started
        small = await call(client, image_path=data_url(SMALL))
        large = await call(client, image_path=data_url(noise_png(640, 600)))
    assert error_code(slow) == TOO_LARGE
    assert "took longer than 0.5 s (IMAGE_MCP_PREPARE_TIMEOUT_S)" in slow.content[0].text  # type: ignore[union-attr]
    assert seconds < DEADLINE_S
    assert not small.is_error
    assert not large.is_error
    assert len(fake.completions) == 2
