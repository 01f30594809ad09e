"""What a process tree uses: CPU time (user + system) and peak resident memory.

The server may hand image work to worker processes, so both figures cover the whole tree:
the process, its live descendants, and the descendants that already exited (their time moves
into their parent's `children_*` counters once reaped). CPU time is what the benchmark's
per-call figures rest on: unlike wall time it barely changes when other programs load the
machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from .ticker import Ticker

SAMPLE_INTERVAL_S = 0.005
MB = 1_000_000


def tree_cpu_s(root: psutil.Process) -> float:
    """CPU seconds the tree rooted at `root` has used so far, reaped children included."""
    total = 0.0
    for process in (root, *_descendants(root)):
        try:
            times = process.cpu_times()
        except psutil.Error:  # exited meanwhile: its parent's children_* will hold it
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def tree_rss(root: psutil.Process) -> int:
    """Resident bytes of the tree right now."""
    total = 0
    for process in (root, *_descendants(root)):
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def _descendants(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.Error:
        return []


@dataclass(frozen=True, slots=True)
class Usage:
    peak_rss_mb: float
    cpu_s: float  # user + system over the watched span, whole tree


class TreeWatch(Ticker):
    """`with TreeWatch(pid) as watch:` ...; then `watch.usage()`.

    RSS is summed over the tree every 5 ms (unless `sample_rss` is off: then only CPU time is
    read, at the start and the end, and no thread runs). Image buffers live for tens of
    milliseconds, which that sampling catches.
    """

    def __init__(self, pid: int, *, sample_rss: bool = True) -> None:
        super().__init__(SAMPLE_INTERVAL_S, enabled=sample_rss)
        self._root = psutil.Process(pid)
        self._peak_rss = 0
        self._cpu_start = 0.0
        self._cpu_s = 0.0

    def started(self) -> None:
        self._cpu_start = tree_cpu_s(self._root)
        self._peak_rss = tree_rss(self._root)

    def finished(self) -> None:
        self._cpu_s = tree_cpu_s(self._root) - self._cpu_start

    def usage(self) -> Usage:
        return Usage(peak_rss_mb=round(self._peak_rss / MB, 1), cpu_s=self._cpu_s)

    def tick(self) -> None:
        if not self._root.is_running():
            self.stop()
            return
        self._peak_rss = max(self._peak_rss, tree_rss(self._root))
