"""The real command as a subprocess on a free loopback port, with its stderr captured."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.app.helpers import TOKENS
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import IMAGE_WORKER_MODULE

COMMAND = [sys.executable, "-m", "openrouter_image_mcp"]
LISTENING = re.compile(r"serving MCP at http://127\.0\.0\.1:(\d+)/mcp")


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any server or tracing setting, plus `values`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IMAGE_MCP_", "OPENROUTER_", "FASTMCP_", "OTEL_"))
    }
    return {**env, **values}


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)
    port: int | None = None
    reader: threading.Thread | None = None

    def read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            if self.port is None and (match := LISTENING.search(line)):
                self.port = int(match.group(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr_lines]

    def log_bytes(self) -> int:
        return sum(len(line.encode()) for line in self.stderr_lines)

    def rss_bytes(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def tree(self) -> list[psutil.Process]:
        """The server and every process under it (its image workers)."""
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def workers(self) -> list[psutil.Process]:
        found = []
        for process in self.tree()[1:]:
            with suppress(psutil.Error):
                if IMAGE_WORKER_MODULE in process.cmdline():
                    found.append(process)
        return found

    def open_fds(self) -> int:
        return psutil.Process(self.process.pid).num_fds()

    def process_open_file_limit(self) -> int:
        soft, _ = psutil.Process(self.process.pid).rlimit(psutil.RLIMIT_NOFILE)
        return soft


class TreeRss:
    """Samples a server's process tree every 10 ms until closed: the peak of the summed RSS,
    and the peak RSS of any one image worker."""

    def __init__(self, server: ServerProcess) -> None:
        self._server = server
        self.peak = self.worker_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            total = 0
            with suppress(psutil.Error):
                for process in self._server.tree():
                    with suppress(psutil.Error):
                        rss = process.memory_info().rss
                        total += rss
                        if process.pid != self._server.process.pid:
                            self.worker_peak = max(self.worker_peak, rss)
            self.peak = max(self.peak, total)


def limit_open_files(soft: int, hard: int) -> Callable[[], None]:
    """A preexec_fn setting the child's limits on open files."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


@contextmanager
def running_server(
    fake: FakeOpenRouter,
    cwd: Path,
    *,
    open_files: tuple[int, int] | None = None,
    **settings: str,
) -> Iterator[ServerProcess]:
    """`python -m openrouter_image_mcp` on a free loopback port, with tokens, at DEBUG level.

    `settings` are environment variables added or overriding those; `open_files` the (soft,
    hard) limits on the process's open files.
    """
    defaults = {
        "IMAGE_MCP_PORT": "0",
        "IMAGE_MCP_AUTH_TOKENS": TOKENS,
        "IMAGE_MCP_LOG_LEVEL": "DEBUG",
        "IMAGE_MCP_SHUTDOWN_GRACE_S": "10",
        "OPENROUTER_API_KEY": fake.api_key,
        "OPENROUTER_BASE_URL": fake.base_url,
    }
    environment = clean_env(**{**defaults, **settings})
    process = subprocess.Popen(
        COMMAND,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit_open_files(*open_files) if open_files else None,
    )
    server = ServerProcess(process)
    server.reader = threading.Thread(target=server.read_stderr, daemon=True)
    server.reader.start()
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine imports slowly
        while server.port is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.port is not None, "".join(server.stderr_lines)[-2000:]
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
            server.reader.join(timeout=5)
