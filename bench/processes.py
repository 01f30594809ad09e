"""The processes a benchmark run drives: the fake OpenRouter and the server, plus an RSS probe."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def fake_openrouter(latency_s: float) -> Iterator[str]:
    """The fake upstream as its own process (so its CPU is not the server's); its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openrouter", "--port", "0", "--latency", str(latency_s)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def server_env(base_url: str, inputs: Path, **extra: str) -> dict[str, str]:
    """Settings that measure the server's own work: no cache, no rate limit, quiet logs."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "FASTMCP_CHECK_FOR_UPDATES": "off",
        "OPENROUTER_API_KEY": "sk-or-v1-" + "f4ke" * 16,
        "OPENROUTER_BASE_URL": base_url,
        "IMAGE_MCP_FILE_ROOTS": str(inputs),
        "IMAGE_MCP_CACHE_TTL_S": "0",
        "IMAGE_MCP_RATE_LIMIT": "1000000/minute",
        "IMAGE_MCP_MAX_CONCURRENCY": "64",
        "IMAGE_MCP_LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def http_server(env: dict[str, str], port: int) -> Iterator[tuple[str, int]]:
    """The server over streamable HTTP; its base URL and pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "openrouter_image_mcp", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the server did not start")
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=40)


class PeakRss:
    """Samples the resident memory of a process and its children (the image workers), summed,
    every 10 ms in a thread; `peak_mb` since `reset`."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self._peak = 0

    @property
    def peak_mb(self) -> float:
        return self._peak / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            try:
                tree = [self._process, *self._process.children(recursive=True)]
            except psutil.Error:
                return
            self._peak = max(self._peak, sum(_rss(process) for process in tree))


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:  # exited between listing and reading
        return 0
