"""Starting and stopping the processes under test: the timed upstream, our server, the floor.

Each runs as its own subprocess, as in production, so the client's work and the upstream's
never share the server's interpreter. Their stderr goes to log files under the results
directory, never to the terminal the table is printed on. The servers see only the variables
set here (the caller's IMAGE_MCP_* and OPENROUTER_* are dropped) and run outside the checkout,
so no `.env` file changes what is measured.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.fake_openrouter import FAKE_API_KEY
from tests.helpers import free_port

from .clients import StdioSession
from .upstream import LATENCY_PATH, RECORDS_PATH

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# The default cap (16 upstream calls at once) would make 50 clients queue; the benchmark
# measures the server's own cost, not the operator's cost cap.
MAX_CONCURRENCY = 64
OURS = ("-m", "openrouter_image_mcp")
FLOOR = ("-m", "bench.floor")


@dataclass(frozen=True, slots=True)
class Upstream:
    base_url: str
    pid: int

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/api/v1")

    def drain(self) -> list[dict[str, Any]]:
        """Every completion the upstream answered since the last drain."""
        return httpx.get(self.root + RECORDS_PATH, timeout=30).json()

    def set_latency(self, latency_s: float) -> None:
        httpx.put(self.root + LATENCY_PATH, json={"latency_s": latency_s}, timeout=30)


@dataclass(frozen=True, slots=True)
class HttpServer:
    base_url: str
    pid: int

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"


@contextmanager
def running_upstream(latency_s: float, logs: Path) -> Iterator[Upstream]:
    command = [sys.executable, "-m", "bench.upstream", "--latency", str(latency_s)]
    log = logs / "upstream.log"
    with _started(command, REPO_ROOT, dict(os.environ), log, read_stdout=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the fake upstream did not start; see {log}")
        yield Upstream(base_url=line, pid=process.pid)


def server_environment(upstream: Upstream, file_root: Path) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("IMAGE_MCP_", "OPENROUTER_"))
    }
    return {
        **inherited,
        "PYTHONPATH": str(REPO_ROOT),
        "FASTMCP_CHECK_FOR_UPDATES": "off",
        "OPENROUTER_API_KEY": FAKE_API_KEY,
        "OPENROUTER_BASE_URL": upstream.base_url,
        "IMAGE_MCP_FILE_ROOTS": str(file_root),
        "IMAGE_MCP_CACHE_TTL_S": "0",  # every call does the full work
        "IMAGE_MCP_RATE_LIMIT": "1000000/minute",
        "IMAGE_MCP_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
        "IMAGE_MCP_LOG_LEVEL": "WARNING",
    }


@contextmanager
def running_http(
    module: tuple[str, ...], env: dict[str, str], workdir: Path, log: Path
) -> Iterator[HttpServer]:
    """`module` (OURS or FLOOR) serving streamable HTTP on a free port until the block ends."""
    port = free_port()
    command = [sys.executable, *module, "--transport", "http", "--port", str(port)]
    with _started(command, workdir, env, log) as process:
        _wait_listening(port, process, log)
        yield HttpServer(base_url=f"http://127.0.0.1:{port}", pid=process.pid)


def stdio_session(
    module: tuple[str, ...], env: dict[str, str], workdir: Path, log: Any
) -> StdioSession:
    """`module` (OURS or FLOOR) over stdio; `log` is an open file for its stderr."""
    command = [sys.executable, *module, "--transport", "stdio"]
    return StdioSession(command, env, str(workdir), log)


@contextmanager
def _started(
    command: list[str], workdir: Path, env: dict[str, str], log: Path, *, read_stdout: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """`command` running with its stderr (and stdout, unless read here) in `log`."""
    with log.open("ab") as output:
        stdout = subprocess.PIPE if read_stdout else output
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=stdout, stderr=output, text=True
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"the server did not listen within {START_TIMEOUT_S:g} s; see {log}")
