"""Two real server processes behind one Redis enforce one cache, one rate limit, one budget.

The in-process tests in test_redis.py pin the details; this file shows the same guarantees
hold between separate operating-system processes, as they do between replicas.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.helpers import mcp_client
from tests.cost.conftest import _free_port
from tests.cost.helpers import (
    CALL_COST,
    THREE_CALLS_BUDGET,
    cache_status,
    error_of,
    png_data_url,
)
from tests.fake_openrouter import FakeOpenRouter, Reply
from tests.helpers import call

REPO = Path(__file__).resolve().parents[2]
TOKENS = {name: f"{name}-token-{name * 8}" for name in ("alice", "bob", "carol")}
RATE_LIMIT = 5


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


@pytest.fixture(scope="module")
def replicas(fake_openrouter: FakeOpenRouter, redis_server: str) -> Iterator[tuple[str, str]]:
    """Two server processes sharing the session's Redis; their base URLs."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "FASTMCP_CHECK_FOR_UPDATES": "off",
        "OPENROUTER_API_KEY": fake_openrouter.api_key,
        "OPENROUTER_BASE_URL": fake_openrouter.base_url,
        "IMAGE_MCP_REDIS_URL": redis_server,
        "IMAGE_MCP_AUTH_TOKENS": ",".join(f"{n}:{t}" for n, t in TOKENS.items()),
        "IMAGE_MCP_RATE_LIMIT": f"{RATE_LIMIT}/minute",
        "IMAGE_MCP_BUDGET_USD_PER_DAY": str(THREE_CALLS_BUDGET),
        "IMAGE_MCP_UPSTREAM_MAX_RETRIES": "0",
    }
    ports = (_free_port(), _free_port())
    processes = [start_server(port, env) for port in ports]
    urls = tuple(f"http://127.0.0.1:{port}" for port in ports)
    try:
        for url, process in zip(urls, processes, strict=True):
            wait_until_healthy(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


async def test_one_cache_and_one_rate_limit_across_processes(
    replicas: tuple[str, str], fake: FakeOpenRouter
) -> None:
    image = png_data_url(seed=101)
    async with (
        mcp_client(replicas[0], TOKENS["alice"]) as alice_a,
        mcp_client(replicas[1], TOKENS["alice"]) as alice_b,
        mcp_client(replicas[1], TOKENS["bob"]) as bob_b,
    ):
        statuses = []
        for index in range(RATE_LIMIT):
            result = await call(alice_a if index % 2 == 0 else alice_b, image_path=image)
            statuses.append(cache_status(result))
        over = await call(alice_b, image_path=image)
        other_client = await call(bob_b, image_path=image)

    assert statuses == ["miss"] + ["hit"] * (RATE_LIMIT - 1)
    assert len(fake.completions) == 1  # one upstream request for both processes
    assert error_of(over)["code"] == "RATE_LIMITED"
    assert error_of(over)["retry_after_s"] > 0
    assert cache_status(other_client) == "hit"  # bob is unaffected by alice's limit


async def test_one_budget_across_processes(replicas: tuple[str, str], fake: FakeOpenRouter) -> None:
    fake.script(*[Reply(cost=CALL_COST)] * 3)
    async with (
        mcp_client(replicas[0], TOKENS["carol"]) as carol_a,
        mcp_client(replicas[1], TOKENS["carol"]) as carol_b,
    ):
        spent = [
            await call(carol_a if seed % 2 else carol_b, image_path=png_data_url(seed=200 + seed))
            for seed in range(3)
        ]
        refused = await call(carol_b, image_path=png_data_url(seed=299))

    assert not any(result.is_error for result in spent)
    assert error_of(refused)["code"] == "BUDGET_EXCEEDED"
    assert len(fake.completions) == 3  # the refused call never reached the upstream
