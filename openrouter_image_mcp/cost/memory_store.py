"""An in-process py-key-value store bounded in entries AND bytes.

py-key-value's own `MemoryStore` bounds only the number of entries, and a cache of model
answers must also bound memory. Entries are kept as JSON text, which gives both their size
and a private copy: a caller changing a returned dict cannot change the cached answer.
"""

from __future__ import annotations

from collections import OrderedDict

# Custom stores subclass BaseStore and handle ManagedEntry, as the library's own stores do.
from key_value.aio._utils import ManagedEntry
from key_value.aio.stores.base import BaseStore


class BoundedMemoryStore(BaseStore):
    """Least-recently-used eviction once `max_entries` or `max_bytes` would be exceeded.

    An entry larger than `max_bytes` on its own is not kept. Expired entries are dropped when
    read, and otherwise age out of the LRU order like any unused entry. Sizes are those of the
    JSON text, which is ASCII (non-ASCII characters are escaped), so characters are bytes.
    """

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._bytes = 0
        super().__init__(stable_api=True)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def _get_managed_entry(self, *, collection: str, key: str) -> ManagedEntry | None:
        slot = (collection, key)
        text = self._entries.get(slot)
        if text is None:
            return None
        entry = self._serialization_adapter.load_json(json_str=text)
        if entry.is_expired:
            self._discard(slot)
            return None
        self._entries.move_to_end(slot)
        return entry

    async def _put_managed_entry(
        self, *, collection: str, key: str, managed_entry: ManagedEntry
    ) -> None:
        slot = (collection, key)
        text = self._serialization_adapter.dump_json(entry=managed_entry)
        if len(text) > self._max_bytes:
            return  # it could only fit by evicting everything else, and then not even itself
        self._discard(slot)
        self._entries[slot] = text
        self._bytes += len(text)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._discard(next(iter(self._entries)))  # the least recently used

    async def _delete_managed_entry(self, *, collection: str, key: str) -> bool:
        return self._discard((collection, key))

    def _discard(self, slot: tuple[str, str]) -> bool:
        text = self._entries.pop(slot, None)
        if text is None:
            return False
        self._bytes -= len(text)
        return True
