"""A background thread that does one small thing at a fixed interval during a `with` block."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self


class Ticker:
    """Subclasses implement `tick`; it runs every `interval_s` from `__enter__` to `__exit__`.

    `started` runs before the first tick, `finished` after the last; `enabled=False` makes the
    block start no thread at all.
    """

    def __init__(self, interval_s: float, *, enabled: bool = True) -> None:
        self._interval_s = interval_s
        self._enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def tick(self) -> None:
        raise NotImplementedError

    def started(self) -> None:
        """Hook: called on entering the block, before the thread starts."""

    def finished(self) -> None:
        """Hook: called on leaving the block, after the thread has stopped."""

    def stop(self) -> None:
        """End the ticking early (from `tick` itself, e.g. when its subject is gone)."""
        self._stop.set()

    def __enter__(self) -> Self:
        self.started()
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.finished()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.tick()
