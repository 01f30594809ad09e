"""Image work never blocks the server: while a large image is being prepared, another
client's small call and a health check are answered.

The large image's worker process is stopped (SIGSTOP) while it holds the job, so it neither
finishes nor fails until the test lets it go. Were preparation done on the event loop, or
were small images queued behind large ones, these tests would fail at their bounded waits.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from openrouter_image_mcp.sources import ImageLoader, SourceImage
from tests.app.helpers import mcp_client, serving
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import (
    ImageWorkerWatch,
    call,
    data_url,
    in_memory_client,
    noise_png,
    png_bytes,
    text_of,
)
from tests.sources.servers import TinyServer, drip

LARGE = noise_png(700, 600)  # over the 1 MiB the express lane takes
WAIT_LIMIT_S = 10


async def test_a_small_call_completes_while_a_large_image_is_prepared(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(transport="stdio", cache_ttl_s=0, image_workers=1)
    watch = ImageWorkerWatch()
    async with in_memory_client(settings) as client:
        assert not (await call(client, image_path=data_url(LARGE))).is_error
        with watch.parked():
            large = asyncio.create_task(call(client, image_path=data_url(LARGE)))
            small = await asyncio.wait_for(
                call(client, image_path=data_url(png_bytes(40, 30))), WAIT_LIMIT_S
            )
            assert not large.done()  # the small call finished first
        large_result = await asyncio.wait_for(large, WAIT_LIMIT_S)
    assert text_of(small) == "I see a PNG image, 40x30 pixels."
    assert not large_result.is_error


async def test_health_is_answered_while_a_large_image_is_prepared(fake: FakeOpenRouter) -> None:
    watch = ImageWorkerWatch()
    settings = fake.settings(cache_ttl_s=0, image_workers=1)
    async with serving(settings) as base, mcp_client(base, token=None) as client:
        assert not (await call(client, image_path=data_url(LARGE))).is_error
        with watch.parked():
            large = asyncio.create_task(call(client, image_path=data_url(LARGE)))
            await asyncio.sleep(0.2)  # the job reaches the stopped worker
            async with httpx.AsyncClient(base_url=base, timeout=5) as http:
                health = await http.get("/healthz")
            assert not large.done()
        await asyncio.wait_for(large, WAIT_LIMIT_S)
    assert health.status_code == 200


async def test_only_a_few_large_originals_are_held_at_once(
    fake: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of large images queues before loading, instead of piling up in memory; small
    images do not queue with them."""
    loads: list[str] = []
    load = ImageLoader.load

    async def counting_load(self: ImageLoader, image_path: str) -> SourceImage:
        loads.append(image_path)
        return await load(self, image_path)

    monkeypatch.setattr(ImageLoader, "load", counting_load)
    settings = fake.settings(transport="stdio", cache_ttl_s=0, image_workers=1)
    watch = ImageWorkerWatch()
    async with in_memory_client(settings) as client:
        assert not (await call(client, image_path=data_url(LARGE))).is_error
        with watch.parked():
            first = asyncio.create_task(call(client, image_path=data_url(LARGE)))
            others = [
                asyncio.create_task(call(client, image_path=data_url(noise_png(700, 600, seed))))
                for seed in range(1, 6)
            ]
            await asyncio.sleep(0.3)  # time for every other call to load, were it allowed to
            held = len(loads) - 1  # the warm-up call's load
            small = await asyncio.wait_for(
                call(client, image_path=data_url(png_bytes(40, 30))), WAIT_LIMIT_S
            )
        results = await asyncio.wait_for(asyncio.gather(first, *others), 4 * WAIT_LIMIT_S)
    assert held == 1  # one image worker: only the parked image was loaded
    assert not small.is_error
    assert not any(result.is_error for result in results)


async def test_a_slow_download_does_not_hold_up_other_calls(fake: FakeOpenRouter) -> None:
    """URLs take their memory slot after the download, so a dripping server blocks no one."""
    server = await TinyServer({"/slow.png": drip(length=10_000, interval_s=0.2)}).start()
    settings = fake.settings(
        transport="stdio",
        image_workers=1,  # a single slot: were it held during the download, all would wait
        allowed_hosts=["127.0.0.1"],
        fetch_timeout_s=WAIT_LIMIT_S,
    )
    try:
        async with in_memory_client(settings) as client:
            slow = asyncio.create_task(
                call(client, image_path=f"http://127.0.0.1:{server.port}/slow.png")
            )
            while not server.requests:  # the download has started
                await asyncio.sleep(0.01)
            quick = await call(client, image_path=data_url(png_bytes(40, 30)))
            assert not slow.done()
            slow.cancel()
    finally:
        await server.stop()
    assert text_of(quick) == "I see a PNG image, 40x30 pixels."
