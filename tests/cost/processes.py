"""Real server processes sharing one Redis, as replicas do, for the cross-process tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
TOKENS = {name: f"{name}-token-{name * 8}" for name in ("alice", "bob", "carol")}


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "openrouter_image_mcp", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("a server process exited at start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("a server process did not answer /healthz within 15 s")


@contextmanager
def replica_processes(
    fake: FakeOpenRouter, redis_url: str, **settings: str
) -> Iterator[tuple[str, str]]:
    """Two server processes on `redis_url`, with the three TOKENS and `settings` (environment
    names); their base URLs."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "FASTMCP_CHECK_FOR_UPDATES": "off",
        "OPENROUTER_API_KEY": fake.api_key,
        "OPENROUTER_BASE_URL": fake.base_url,
        "IMAGE_MCP_REDIS_URL": redis_url,
        "IMAGE_MCP_AUTH_TOKENS": ",".join(f"{n}:{t}" for n, t in TOKENS.items()),
        "IMAGE_MCP_UPSTREAM_MAX_RETRIES": "0",
        **settings,
    }
    ports = (free_port(), free_port())
    processes = [start_server(port, env) for port in ports]
    urls = tuple(f"http://127.0.0.1:{port}" for port in ports)
    try:
        for url, process in zip(urls, processes, strict=True):
            wait_until_healthy(url, process)
        yield urls  # type: ignore[misc]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
