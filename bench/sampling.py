"""What a process tree uses: CPU time (user + system) and peak memory.

The server hands image work to worker processes, so every figure covers the whole tree: the
process, its live descendants, and the descendants that already exited (their time moves
into their parent's `children_*` counters once reaped). CPU time is what the benchmark's
per-call figures rest on: unlike wall time it barely changes when other programs load the
machine. Memory is summed two ways: RSS, which counts the pages the processes share (the
interpreter, libraries) once per process, and PSS, which splits shared pages between their
users and so adds up to what the tree really holds (what a container's limit sees).
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from .ticker import Ticker

SAMPLE_INTERVAL_S = 0.005
# Reading PSS walks the page tables (~5 ms for 200 MB), so it is read every tenth sample.
PSS_EVERY = 10
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


def tree_pss(root: psutil.Process) -> int:
    """Proportional set size of the tree right now, in bytes (Linux)."""
    kib = 0
    for process in (root, *_descendants(root)):
        try:
            with open(f"/proc/{process.pid}/smaps_rollup", "rb") as rollup:
                kib += next(int(line.split()[1]) for line in rollup if line.startswith(b"Pss:"))
        except (OSError, StopIteration, ValueError):  # exited, or not Linux
            continue
    return kib * 1024


def _descendants(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.Error:
        return []


@dataclass(frozen=True, slots=True)
class Usage:
    peak_rss_mb: float
    peak_pss_mb: float | None  # None: not sampled
    cpu_s: float  # user + system over the watched span, whole tree


class TreeWatch(Ticker):
    """`with TreeWatch(pid) as watch:` ...; then `watch.usage()`.

    RSS is summed over the tree every 5 ms and, with `sample_pss`, PSS every 50 ms (unless
    `sample_rss` is off: then only CPU time is read, at the start and the end, and no thread
    runs). Image buffers live for tens of milliseconds, which that sampling catches.
    """

    def __init__(self, pid: int, *, sample_rss: bool = True, sample_pss: bool = False) -> None:
        super().__init__(SAMPLE_INTERVAL_S, enabled=sample_rss)
        self._root = psutil.Process(pid)
        self._peak_rss = 0
        self._peak_pss: int | None = 0 if sample_pss else None
        self._ticks = 0
        self._cpu_start = 0.0
        self._cpu_s = 0.0

    def started(self) -> None:
        self._cpu_start = tree_cpu_s(self._root)
        self._peak_rss = tree_rss(self._root)

    def finished(self) -> None:
        self._cpu_s = tree_cpu_s(self._root) - self._cpu_start

    def usage(self) -> Usage:
        pss = None if self._peak_pss is None else round(self._peak_pss / MB, 1)
        return Usage(round(self._peak_rss / MB, 1), pss, self._cpu_s)

    def tick(self) -> None:
        if not self._root.is_running():
            self.stop()
            return
        self._peak_rss = max(self._peak_rss, tree_rss(self._root))
        self._ticks += 1
        if self._peak_pss is not None and self._ticks % PSS_EVERY == 0:
            self._peak_pss = max(self._peak_pss, tree_pss(self._root))
