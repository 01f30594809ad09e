"""The answer cache and in-flight sharing, through the real tool on the fake OpenRouter."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from openrouter_image_mcp.cost import memory_store
from openrouter_image_mcp.cost.keys import AnswerSpec, answer_key, image_digest
from openrouter_image_mcp.imaging import SizeTarget
from openrouter_image_mcp.imaging.workers import ImageWorkers
from tests.cost.helpers import (
    MakeImage,
    MakeSettings,
    analyze,
    cache_status,
    connected,
    error_of,
)
from tests.fake_openrouter import FakeOpenRouter, Reply, provider_error

BATCH = 50


async def test_a_thousand_identical_calls_cost_one_upstream_request(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    image = make_image()
    async with connected(make_settings(rate_limit="2000/minute")) as client:
        first = await analyze(client, image, question="What colour?")
        results = []
        for _ in range(999 // BATCH + 1):  # batches also exercise in-flight sharing
            batch = [analyze(client, image, question="What colour?") for _ in range(BATCH)]
            results += await asyncio.gather(*batch)

    assert len(fake.completions) == 1
    assert cache_status(first) == "miss"
    assert {cache_status(result) for result in results} == {"hit"}
    assert {result.content[0].text for result in results} == {first.content[0].text}


async def test_a_hit_costs_nothing_and_reports_what_it_saved_without_a_request(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    image = make_image()
    async with connected(make_settings()) as client:
        miss = await analyze(client, image)
        started = time.perf_counter()
        hit = await analyze(client, image)
        hit_ms = (time.perf_counter() - started) * 1000

    assert len(fake.completions) == 1
    assert "cache_age_s" not in miss.meta
    assert "cache_saved_usd" not in miss.meta
    assert miss.meta["usage"]["cost"] == fake.billed_usd > 0
    assert 0 <= hit.meta["cache_age_s"] < 60
    assert hit.meta["usage"] == {**miss.meta["usage"], "cost": 0}
    assert hit.meta["cache_saved_usd"] == miss.meta["usage"]["cost"]
    assert hit.meta["generation_id"] == miss.meta["generation_id"]
    assert "prepare" not in hit.meta["timings_ms"]  # a hit never decodes the image
    assert hit_ms < 1000


async def test_an_overwritten_file_at_the_same_path_is_analysed_again(
    fake: FakeOpenRouter, make_settings: MakeSettings, tmp_path: Path
) -> None:
    path = tmp_path / "screenshot.png"
    async with connected(make_settings()) as client:
        Image.new("RGB", (32, 24), "red").save(path)
        before = await analyze(client, str(path))
        Image.new("RGB", (40, 30), "blue").save(path)
        after = await analyze(client, str(path))

    assert len(fake.completions) == 2
    assert (cache_status(before), cache_status(after)) == ("miss", "miss")
    assert fake.completions[1].image.width == 40


async def test_the_same_bytes_under_another_path_are_a_hit(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    async with connected(make_settings()) as client:
        await analyze(client, make_image(7, name="a.png"))
        copy = await analyze(client, make_image(7, name="b.png"))

    assert len(fake.completions) == 1
    assert cache_status(copy) == "hit"


async def test_any_other_argument_is_another_answer(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    image = make_image()
    variants = [
        {},
        {"question": "What is written?"},
        {"model": "openai/gpt-5-mini"},
        {"max_tokens": 100},
        {"temperature": 0},
        {"temperature": 0.5},
        {"detail": "low"},
    ]
    async with connected(make_settings()) as client:
        for arguments in variants:
            assert cache_status(await analyze(client, image, **arguments)) == "miss"

    assert len(fake.completions) == len(variants)


def test_the_key_covers_every_image_in_order_and_the_settings_that_shape_the_answer(
    make_settings: MakeSettings,
) -> None:
    spec = AnswerSpec("analyze_image", "Describe.", "m", 100, None, "auto", None)
    first, second = image_digest(b"image"), image_digest(b"other")
    plain = answer_key([first], spec, make_settings())

    assert answer_key([first], spec, make_settings()) == plain
    assert answer_key([first], spec, make_settings(jpeg_quality=60)) != plain
    assert answer_key([first], spec, make_settings(max_edge=512)) != plain
    assert answer_key([first], spec, make_settings(max_tiles=2)) != plain
    assert answer_key([first], spec, make_settings(fallback_models=["openai/gpt-5"])) != plain
    assert answer_key([first], spec, make_settings(provider_zdr=True)) != plain
    assert answer_key([second], spec, make_settings()) != plain
    compared = answer_key([first, second], spec, make_settings())
    assert compared not in (plain, answer_key([second, first], spec, make_settings()))


async def test_errors_are_not_cached(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    fake.script(provider_error(), Reply(content="a teal rectangle"))
    image = make_image()
    async with connected(make_settings()) as client:
        failed = await analyze(client, image)
        retried = await analyze(client, image)

    assert error_of(failed)["code"] == "UPSTREAM_UNAVAILABLE"
    assert cache_status(retried) == "miss"
    assert retried.content[0].text == "a teal rectangle"
    assert len(fake.completions) == 2


async def test_an_answer_older_than_the_ttl_is_asked_again(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = make_image()
    async with connected(make_settings(cache_ttl_s=120)) as client:
        await analyze(client, image)
        later = memory_store.now() + 121
        monkeypatch.setattr(memory_store, "now", lambda: later)
        expired = await analyze(client, image)

    assert cache_status(expired) == "miss"
    assert len(fake.completions) == 2


async def test_a_zero_ttl_turns_the_cache_off(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    image = make_image()
    async with connected(make_settings(cache_ttl_s=0)) as client:
        statuses = [cache_status(await analyze(client, image)) for _ in range(3)]

    assert statuses == ["miss"] * 3
    assert len(fake.completions) == 3


async def test_identical_calls_under_way_share_one_request(
    fake: FakeOpenRouter,
    make_settings: MakeSettings,
    make_image: MakeImage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    preparations = []
    prepare = ImageWorkers.prepare

    async def counting_prepare(
        self: ImageWorkers, raw: bytes, target: SizeTarget, **options: Any
    ) -> object:
        preparations.append(raw)
        return await prepare(self, raw, target, **options)

    monkeypatch.setattr(ImageWorkers, "prepare", counting_prepare)
    fake.latency_s = 0.3
    image = make_image()
    async with connected(make_settings()) as client:
        results = await asyncio.gather(*(analyze(client, image) for _ in range(8)))

    assert len(fake.completions) == 1
    assert len(preparations) == 1  # the image was decoded once, not once per caller
    statuses = sorted(cache_status(result) for result in results)
    assert statuses == ["miss"] + ["shared"] * 7
    assert len({result.content[0].text for result in results}) == 1
    # The call that asked paid; the calls that joined it cost nothing.
    costs = sorted(result.meta["usage"]["cost"] for result in results)
    assert costs == [0] * 7 + [fake.billed_usd]
    joiners = [result.meta for result in results if result.meta["cache"] == "shared"]
    assert {meta["cache_saved_usd"] for meta in joiners} == {fake.billed_usd}


async def test_a_failure_reaches_every_caller_that_shared_it_and_is_not_cached(
    fake: FakeOpenRouter, make_settings: MakeSettings, make_image: MakeImage
) -> None:
    fake.latency_s = 0.3
    fake.script(provider_error())
    image = make_image()
    async with connected(make_settings()) as client:
        results = await asyncio.gather(*(analyze(client, image) for _ in range(4)))
        fake.latency_s = 0
        after = await analyze(client, image)

    assert {error_of(result)["code"] for result in results} == {"UPSTREAM_UNAVAILABLE"}
    assert cache_status(after) == "miss"
    assert len(fake.completions) == 2
