"""What a stdio server has imported by the time it answers `initialize`.

Cold start is dominated by imports: FastMCP and the MCP SDK alone take most of it, and
everything this server adds on top delays the first answer of every stdio session. What only
some calls need (Redis, the rate-limit library, the HTTP transport, image decoders beyond
the common ones) should load when first used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_openrouter import FAKE_API_KEY

REPO = Path(__file__).resolve().parents[1]
DUMP_AT_EXIT = (
    "import atexit, json, os, sys\n"
    "atexit.register(lambda: open(os.environ['MODULES_DUMP'], 'w')"
    ".write(json.dumps(sorted(sys.modules))))\n"
    "from openrouter_image_mcp.cli import main\n"
    "sys.exit(main(['--transport', 'stdio']))\n"
)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
# Image decoding happens in worker processes, started on first use.
IN_WORKERS = {
    "HEIF decoding": "pillow_heif",
    "rare image formats": "PIL.TiffImagePlugin",
}
# Loaded on first use (or only by the HTTP transport, or only with Redis), not at start.
ON_FIRST_USE = {
    "redis": "redis",
    "py-key-value (and beartype)": "key_value",
    "the rate-limit library": "limits",
    "httpx besides FastMCP's httpx2": "httpx",
    "the HTTP transport": "openrouter_image_mcp.http_app",
}


@pytest.fixture(scope="module")
def started_modules(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Modules of a stdio server that answered `initialize` and was then told to stop."""
    workdir = tmp_path_factory.mktemp("stdio")
    dump = workdir / "modules.json"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "OPENROUTER_API_KEY": FAKE_API_KEY,
        "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1",  # never called
        "MODULES_DUMP": str(dump),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", DUMP_AT_EXIT],
        cwd=workdir,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(json.dumps(INITIALIZE) + "\n")
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    process.stdin.close()
    process.wait(timeout=60)
    assert answer["id"] == 1
    assert "result" in answer
    return set(json.loads(dump.read_text()))


def test_the_server_itself_is_loaded(started_modules: set[str]) -> None:
    assert {"fastmcp", "openrouter_image_mcp.server", "openrouter_image_mcp.tools"} <= (
        started_modules
    )


@pytest.mark.parametrize("package", list(IN_WORKERS.values()), ids=list(IN_WORKERS))
def test_image_decoders_are_left_to_the_workers(package: str, started_modules: set[str]) -> None:
    assert package not in started_modules


@pytest.mark.parametrize("package", list(ON_FIRST_USE.values()), ids=list(ON_FIRST_USE))
def test_what_only_some_calls_need_loads_on_first_use(
    package: str, started_modules: set[str]
) -> None:
    assert package not in started_modules
