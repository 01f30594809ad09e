"""Soak and faults against the real command over HTTP (issue 11, item 6).

The soak sends a few hundred calls, 32 at a time, mixing good images with every kind of bad
input an agent in a loop or an attacker sends: each bad input must get its own code, the good
ones their answers, and nothing may come back INTERNAL or break the protocol, while the process
tree's memory stays within the bound the README documents. The outage test stops Redis in
the middle of a run: calls must fail closed with a retryable code within seconds (never hang),
and succeed again once Redis is back, without restarting the server.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult

from openrouter_image_mcp.settings import MIB
from tests.app.helpers import mcp_client
from tests.app.processes import ServerProcess, TreeRss, running_server
from tests.cost.conftest import NO_PERSISTENCE, REDIS_SERVER, _wait_for_redis
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import data_url, error_code, free_port, png_bytes
from tests.imaging.hostile import many_frame_gif
from tests.imaging.images import encoded, photo, png_claiming

CALLS = 320
CONCURRENCY = 32
# The README's bound for the server and its image workers under a load of ordinary images
# (Security: "Memory").
TREE_RSS_BOUND = 768 * MIB
OUTAGE_ANSWER_S = 10.0  # "within seconds": Redis's 2 s timeout, plus a loaded CI machine
RECOVERY_S = 30.0


@dataclass(frozen=True)
class Case:
    name: str
    arguments: dict[str, Any]
    code: str | None  # None: an answer


def _good(seed: int) -> Case:
    rng = random.Random(seed)  # noqa: S311 - test data
    size = (rng.randrange(32, 400), rng.randrange(32, 300))
    if seed % 3 == 0:
        image = data_url(encoded(photo(*size, seed=seed), "JPEG"), "image/jpeg")
    else:
        image = data_url(png_bytes(*size, color=(rng.randrange(256), 90, 160)))  # type: ignore[arg-type]
    return Case("good", {"image_path": image, "question": f"What is in image {seed}?"}, None)


PNG = data_url(png_bytes(16, 16))
BAD = [
    Case("not an image reference", {"image_path": "not base64 at all !!"}, "INVALID_INPUT"),
    Case(
        "text as a data URL",
        {"image_path": "data:text/plain;base64," + base64.b64encode(b"hello").decode()},
        "UNSUPPORTED_FORMAT",
    ),
    Case("loopback URL", {"image_path": "http://127.0.0.1:9/x.png"}, "BLOCKED_HOST"),
    Case("ftp URL", {"image_path": "ftp://example.com/x.png"}, "BLOCKED_HOST"),
    Case("a file over HTTP", {"image_path": "/etc/hostname"}, "UNSAFE_PATH"),
    Case("unknown detail", {"image_path": PNG, "detail": "medium"}, "INVALID_INPUT"),
    Case("unknown argument", {"image_path": PNG, "colour": "red"}, "INVALID_INPUT"),
    Case("missing image", {"question": "what?"}, "INVALID_INPUT"),
    Case("question too long", {"image_path": PNG, "question": "?" * 20_000}, "INVALID_INPUT"),
    Case("unknown model", {"image_path": PNG, "model": "acme/ghost-1"}, "MODEL_NOT_FOUND"),
    Case(
        "text-only model",
        {"image_path": PNG, "model": "meta-llama/llama-3.3-70b-instruct"},
        "MODEL_NO_VISION",
    ),
    Case("truncated PNG", {"image_path": data_url(png_bytes(64, 64)[:80])}, "INVALID_INPUT"),
    Case(
        "decompression bomb header",
        {"image_path": data_url(png_claiming(100_000, 100_000))},
        "RESOURCE_TOO_LARGE",
    ),
    Case(
        "GIF of 50,000 frames",
        {"image_path": data_url(many_frame_gif(50_000), "image/gif")},
        "RESOURCE_TOO_LARGE",
    ),
]


def soak_cases() -> list[Case]:
    """`CALLS` cases, about one bad input in three, every bad kind several times, shuffled."""
    bad = list(itertools.islice(itertools.cycle(BAD), CALLS // 3))
    good = [_good(seed) for seed in range(CALLS - len(bad))]
    cases = bad + good
    random.Random(11).shuffle(cases)  # noqa: S311 - a reproducible order
    return cases


@dataclass(frozen=True)
class Outcome:
    case: Case
    code: str | None  # the error code, None for an answer
    protocol_error: str | None  # an exception instead of a tool result


async def run_case(client: Client, case: Case) -> Outcome:
    try:
        result: CallToolResult = await client.call_tool(
            "analyze_image", case.arguments, raise_on_error=False
        )
    except Exception as error:  # a protocol-level failure: what the soak must never see
        return Outcome(case, None, f"{type(error).__name__}: {error}")
    return Outcome(case, error_code(result), None)


async def soak(base_url: str, cases: list[Case]) -> list[Outcome]:
    queue: asyncio.Queue[Case] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)
    outcomes: list[Outcome] = []

    async def worker() -> None:
        async with mcp_client(base_url) as client:
            while not queue.empty():
                outcomes.append(await run_case(client, queue.get_nowait()))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return outcomes


async def test_a_soak_of_good_and_bad_calls_gets_every_code_right_and_nothing_internal(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    fake.latency_s = 0.05
    cases = soak_cases()
    with running_server(
        fake,
        tmp_path,
        IMAGE_MCP_RATE_LIMIT="100000/minute",
        IMAGE_MCP_LOG_LEVEL="INFO",
        IMAGE_MCP_MAX_CONCURRENCY="32",
    ) as server:
        rss = TreeRss(server)
        try:
            outcomes = await soak(server.url, cases)
        finally:
            rss.close()
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert server.process.poll() is None

    assert len(outcomes) == CALLS
    assert [o.protocol_error for o in outcomes if o.protocol_error] == []
    wrong = Counter((o.case.name, o.code) for o in outcomes if o.code != o.case.code)
    assert not wrong, f"calls with the wrong outcome (case, code): {dict(wrong)}"
    assert sum(o.code is None for o in outcomes) == CALLS - CALLS // 3
    assert len(fake.completions) == CALLS - CALLS // 3  # bad inputs never reached the upstream
    assert rss.peak < TREE_RSS_BOUND, f"the process tree peaked at {rss.peak / MIB:.0f} MiB"
    assert '"code": "INTERNAL"' not in "".join(server.stderr_lines)
    assert "Traceback" not in "".join(server.stderr_lines)


# --- Redis stopping in the middle of a run ---------------------------------------------------


class RedisProcess:
    """A redis-server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", *NO_PERSISTENCE],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_redis(self.url, self._process)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def restartable_redis() -> Iterator[RedisProcess]:
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} is missing; install Debian's redis-server to run this")
    redis = RedisProcess(free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def timed(client: Client, seed: int) -> tuple[CallToolResult, float]:
    started = time.monotonic()
    result = await client.call_tool("analyze_image", _good(seed).arguments, raise_on_error=False)
    return result, time.monotonic() - started


async def test_calls_fail_closed_while_redis_is_down_and_recover_without_a_restart(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    with (
        restartable_redis() as redis,
        running_server(
            fake,
            tmp_path,
            IMAGE_MCP_REDIS_URL=redis.url,
            IMAGE_MCP_BUDGET_USD_PER_DAY="5",
            IMAGE_MCP_RATE_LIMIT="1000/minute",
        ) as server,
    ):
        async with mcp_client(server.url) as client:
            before = [await timed(client, seed) for seed in range(3)]
            assert [error_code(result) for result, _ in before] == [None] * 3

            redis.stop()
            during = await asyncio.gather(*(timed(client, seed) for seed in range(10, 16)))
            healthz = httpx.get(f"{server.url}/healthz", timeout=5)

            redis.start()  # the same port, empty: the server must find it again by itself
            recovered = await recover(client, server)

    for result, seconds in during:
        error = result.structured_content["error"]
        assert error["code"] == "RATE_LIMITED", error
        assert error["retryable"] is True
        assert error["retry_after_s"] > 0
        assert "Redis" in error["message"]
        assert seconds < OUTAGE_ANSWER_S
    assert healthz.status_code == 200
    assert not recovered.is_error
    assert len(fake.completions) == 4  # nothing was sent upstream during the outage


async def recover(client: Client, server: ServerProcess) -> CallToolResult:
    """The first answer after Redis is back; fails the test if none comes within RECOVERY_S."""
    deadline = time.monotonic() + RECOVERY_S
    seed = 100
    while True:
        result, _ = await timed(client, seed)
        if not result.is_error or time.monotonic() > deadline:
            return result
        assert error_code(result) == "RATE_LIMITED", server.stderr_lines[-5:]
        seed += 1
        await asyncio.sleep(0.5)
