"""An in-process answer store bounded in entries AND bytes, expiring entries with their TTL.

py-key-value's own `MemoryStore` bounds only the number of entries, and a cache of model
answers must also bound memory. It also needs nothing of py-key-value: the library (with
beartype, over half a second of imports) loads only when the cache lives in Redis. Entries are
kept as JSON text, which gives both their size and a private copy: a caller changing a
returned dict cannot change the cached answer. The calls are py-key-value's (`get`/`put`/
`delete` with a collection), so the answer cache takes either store.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, SupportsFloat


def now() -> float:
    """The clock entries expire by (a function, so tests can move it forward)."""
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class _Entry:
    text: str
    expires_at: float | None


class BoundedMemoryStore:
    """Least-recently-used eviction once `max_entries` or `max_bytes` would be exceeded.

    An entry larger than `max_bytes` on its own is not kept. Expired entries are dropped when
    read, and otherwise age out of the LRU order like any unused entry. Sizes are those of the
    JSON text, which is ASCII (non-ASCII characters are escaped), so characters are bytes.
    """

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str, *, collection: str) -> dict[str, Any] | None:
        slot = (collection, key)
        entry = self._entries.get(slot)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= now():
            self._discard(slot)
            return None
        self._entries.move_to_end(slot)
        return json.loads(entry.text)

    async def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        collection: str,
        ttl: SupportsFloat | None = None,
    ) -> None:
        slot = (collection, key)
        text = json.dumps(value)
        if len(text) > self._max_bytes:
            return  # it could only fit by evicting everything else, and then not even itself
        self._discard(slot)
        self._entries[slot] = _Entry(text, None if ttl is None else now() + float(ttl))
        self._bytes += len(text)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._discard(next(iter(self._entries)))  # the least recently used

    async def delete(self, key: str, *, collection: str) -> bool:
        return self._discard((collection, key))

    def _discard(self, slot: tuple[str, str]) -> bool:
        entry = self._entries.pop(slot, None)
        if entry is None:
            return False
        self._bytes -= len(entry.text)
        return True
