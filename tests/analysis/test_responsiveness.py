"""Image work never blocks the event loop: while one large image is being prepared, another
client's small call and a health check are answered.

The large image's preparation is parked inside its worker thread until the test releases it.
If preparation ran on the event loop instead, nothing else could run until the release, and
these tests would fail at their bounded waits instead of passing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from openrouter_image_mcp.analysis import pipeline
from openrouter_image_mcp.sources import ImageLoader, SourceImage
from tests.app.helpers import mcp_client, serving
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import call, data_url, in_memory_client, png_bytes, text_of
from tests.sources.servers import TinyServer, drip

LARGE = png_bytes(1600, 1200, "navy")
PARK_LIMIT_S = 10


class ParkedPreparation:
    """Holds the worker thread that prepares LARGE until `release()`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    async def wait_until_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, PARK_LIMIT_S)


@pytest.fixture
def parked(monkeypatch: pytest.MonkeyPatch) -> Iterator[ParkedPreparation]:
    park = ParkedPreparation()
    prepare = pipeline.prepare_image

    def parking_prepare(raw: bytes, *args: object) -> object:
        if raw == LARGE:
            park.entered.set()
            park._release.wait(PARK_LIMIT_S)
        return prepare(raw, *args)

    monkeypatch.setattr(pipeline, "prepare_image", parking_prepare)
    yield park
    park.release()


async def test_a_small_call_completes_while_a_large_image_is_prepared(
    fake: FakeOpenRouter, parked: ParkedPreparation
) -> None:
    settings = fake.settings(transport="stdio", cache_ttl_s=0)
    async with in_memory_client(settings) as client:
        large = asyncio.create_task(call(client, image_path=data_url(LARGE)))
        await parked.wait_until_entered()
        small = await call(client, image_path=data_url(png_bytes(40, 30)))
        assert not large.done()  # the small call finished first
        parked.release()
        large_result = await large
    assert text_of(small) == "I see a PNG image, 40x30 pixels."
    assert not large_result.is_error


async def test_health_is_answered_while_a_large_image_is_prepared(
    fake: FakeOpenRouter, parked: ParkedPreparation
) -> None:
    async with serving(fake.settings()) as base, mcp_client(base, token=None) as client:
        large = asyncio.create_task(call(client, image_path=data_url(LARGE)))
        await parked.wait_until_entered()
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            health = await http.get("/healthz")
        assert not large.done()
        parked.release()
        await large
    assert health.status_code == 200


async def test_only_a_few_loaded_originals_are_held_at_once(
    fake: FakeOpenRouter, parked: ParkedPreparation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of large images queues before loading, instead of piling up in memory."""
    loads: list[str] = []
    load = ImageLoader.load

    async def counting_load(self: ImageLoader, image_path: str) -> SourceImage:
        loads.append(image_path)
        return await load(self, image_path)

    monkeypatch.setattr(ImageLoader, "load", counting_load)
    settings = fake.settings(transport="stdio", cache_ttl_s=0, image_workers=1)
    async with in_memory_client(settings) as client:
        first = asyncio.create_task(call(client, image_path=data_url(LARGE)))
        await parked.wait_until_entered()
        others = [
            asyncio.create_task(call(client, image_path=data_url(png_bytes(900 + i, 700))))
            for i in range(5)
        ]
        await asyncio.sleep(0.2)  # time for every other call to load, were it allowed to
        held = len(loads)
        parked.release()
        results = await asyncio.gather(first, *others)
    assert held == 1  # one image worker: only the parked image was loaded
    assert not any(result.is_error for result in results)


async def test_a_slow_download_does_not_hold_up_other_calls(fake: FakeOpenRouter) -> None:
    """URLs take their memory slot after the download, so a dripping server blocks no one."""
    server = await TinyServer({"/slow.png": drip(length=10_000, interval_s=0.2)}).start()
    settings = fake.settings(
        transport="stdio",
        image_workers=1,  # a single slot: were it held during the download, all would wait
        allowed_hosts=["127.0.0.1"],
        fetch_timeout_s=PARK_LIMIT_S,
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
