"""Fixtures for the cost-control tests: settings on the fake OpenRouter, images, a real Redis."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from openrouter_image_mcp.settings import Settings
from tests.cost.helpers import MakeImage, MakeSettings, png_bytes
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import free_port

REDIS_SERVER = "/usr/bin/redis-server"
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


@pytest.fixture
def make_settings(fake: FakeOpenRouter, tmp_path: Path) -> MakeSettings:
    """In-memory (stdio) server settings on the fake; no upstream retries unless asked."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "transport": "stdio",
            "file_roots": [tmp_path],
            "upstream_max_retries": 0,
        }
        return fake.settings(**{**values, **overrides})

    return make


@pytest.fixture
def make_image(tmp_path: Path) -> MakeImage:
    """Write `png_bytes(seed)` to a file the server may read; its path."""

    def make(seed: int = 0, name: str | None = None) -> str:
        path = tmp_path / (name or f"image-{seed}.png")
        path.write_bytes(png_bytes(seed))
        return str(path)

    return make


# --- A real Redis ------------------------------------------------------------------------------


@contextmanager
def running_redis(*arguments: str) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, with `arguments`; its URL."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip(f"{REDIS_SERVER} is missing; install Debian's redis-server to run these")
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_redis(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A throwaway redis-server for the session; its URL."""
    with running_redis(*NO_PERSISTENCE) as url:
        yield url


def _wait_for_redis(url: str, process: subprocess.Popen[bytes]) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    try:
        for _ in range(500):
            if process.poll() is not None:
                raise RuntimeError("redis-server exited at start-up")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not answer within 5 s")
    finally:
        client.close()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    return redis_server


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL where nothing listens: every connection is refused."""
    return f"redis://127.0.0.1:{free_port()}/0"
