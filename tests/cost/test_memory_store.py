"""The in-process answer store: bounded in entries and in bytes, expiring with its TTL."""

from __future__ import annotations

import pytest

from openrouter_image_mcp.cost import memory_store
from openrouter_image_mcp.cost.memory_store import BoundedMemoryStore

COLLECTION = "answers"


def value(size: int) -> dict[str, str]:
    return {"text": "x" * size}


async def stored_keys(store: BoundedMemoryStore, keys: list[str]) -> list[str]:
    return [key for key in keys if await store.get(key, collection=COLLECTION) is not None]


async def test_least_recently_used_entry_goes_first_when_the_entry_bound_is_reached() -> None:
    store = BoundedMemoryStore(max_entries=3, max_bytes=1_000_000)
    for key in ("a", "b", "c"):
        await store.put(key, value(10), collection=COLLECTION, ttl=60)
    await store.get("a", collection=COLLECTION)  # "b" is now the least recently used

    await store.put("d", value(10), collection=COLLECTION, ttl=60)

    assert await stored_keys(store, ["a", "b", "c", "d"]) == ["a", "c", "d"]
    assert len(store) == 3


async def test_total_size_stays_within_the_byte_bound() -> None:
    store = BoundedMemoryStore(max_entries=1000, max_bytes=2000)
    for index in range(50):
        await store.put(f"k{index}", value(300), collection=COLLECTION, ttl=60)
        assert store.size_bytes <= 2000

    kept = await stored_keys(store, [f"k{index}" for index in range(50)])
    assert kept == [f"k{index}" for index in range(50 - len(kept), 50)]  # the newest survive
    assert 0 < len(kept) < 50


async def test_an_entry_larger_than_the_whole_budget_is_not_kept_and_evicts_nothing_else() -> None:
    store = BoundedMemoryStore(max_entries=10, max_bytes=1500)
    await store.put("small", value(10), collection=COLLECTION, ttl=60)

    await store.put("huge", value(5000), collection=COLLECTION, ttl=60)

    assert await stored_keys(store, ["small", "huge"]) == ["small"]


async def test_replacing_an_entry_counts_its_size_once() -> None:
    store = BoundedMemoryStore(max_entries=10, max_bytes=100_000)
    await store.put("k", value(1000), collection=COLLECTION, ttl=60)
    size = store.size_bytes

    await store.put("k", value(1000), collection=COLLECTION, ttl=60)

    assert store.size_bytes == size
    assert await store.delete("k", collection=COLLECTION)
    assert store.size_bytes == 0


async def test_an_expired_entry_is_not_returned_and_frees_its_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = BoundedMemoryStore(max_entries=10, max_bytes=100_000)
    await store.put("k", value(10), collection=COLLECTION, ttl=60)
    later = memory_store.now() + 61
    monkeypatch.setattr(memory_store, "now", lambda: later)

    assert await store.get("k", collection=COLLECTION) is None
    assert len(store) == 0
    assert store.size_bytes == 0
