"""The real command as a subprocess: start-up refusal, what reaches the logs, graceful stop."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.app.helpers import (
    ALICE_TOKEN,
    BOB_TOKEN,
    INITIALIZE,
    MCP_HEADERS,
    analyze_call,
    auth,
    mcp_client,
    reply_to,
    small_png_data_url,
)
from tests.app.processes import COMMAND, ServerProcess, clean_env, running_server
from tests.fake_openrouter import FakeOpenRouter


def stopped_cleanly(server: ServerProcess) -> bool:
    """Waits for the exit after SIGTERM: uvicorn drains, shuts the app down, then re-raises
    the signal (exit status 143 in a shell, as orchestrators expect)."""
    status = server.process.wait(timeout=20)
    assert server.reader is not None
    server.reader.join(timeout=5)  # every line the process wrote
    shut_down = any("Application shutdown complete" in line for line in server.stderr_lines)
    return status in (0, -signal.SIGTERM) and shut_down


def stop(server: ServerProcess) -> str:
    """SIGTERM, wait for a clean exit, and return what went to stdout."""
    server.process.send_signal(signal.SIGTERM)
    assert stopped_cleanly(server)
    assert server.process.stdout is not None
    return server.process.stdout.read()


def test_a_public_bind_without_tokens_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COMMAND, "--host", "0.0.0.0"],
        cwd=tmp_path,  # no .env here
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "IMAGE_MCP_AUTH_TOKENS" in result.stderr
    assert "IMAGE_MCP_HOST=0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_served_session_logs_json_without_any_secret(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    with running_server(fake, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            wrong = await http.post(
                "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **auth(BOB_TOKEN + "x")}
            )
            missing = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        async with mcp_client(server.url, ALICE_TOKEN) as client:
            await client.list_tools()
            result = await client.call_tool(
                "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
            )
        stdout = stop(server)

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert not result.is_error, result.content
    assert stdout == ""
    log = "".join(server.stderr_lines)
    for secret in (ALICE_TOKEN, BOB_TOKEN, fake.api_key):
        assert secret not in log
    entries = server.log_entries()  # every line is JSON
    loggers = {entry["logger"] for entry in entries}
    # uvicorn's and FastMCP's own loggers come through the same JSON handler.
    assert "uvicorn.error" in loggers
    assert any(name.startswith("fastmcp.") for name in loggers), loggers
    calls = [entry for entry in entries if entry["logger"] == "openrouter_image_mcp.calls"]
    assert [(call["client"], call["code"]) for call in calls] == [("alice", "OK")]


async def call_analyze_image(url: str) -> dict[str, Any]:
    """One tools/call over plain HTTP (no session to close afterwards); returns its result."""
    request = analyze_call(7)
    headers = {**MCP_HEADERS, **auth(ALICE_TOKEN), "MCP-Protocol-Version": "2025-11-25"}
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        response = await http.post("/mcp", json=request, headers=headers)
    return reply_to(response, 7)["result"]


async def test_sigterm_lets_an_in_flight_call_finish(fake: FakeOpenRouter, tmp_path: Path) -> None:
    fake.latency_s = 0.5  # long enough that SIGTERM lands mid-call
    with running_server(fake, tmp_path) as server:
        call = asyncio.create_task(call_analyze_image(server.url))
        for _ in range(500):
            if fake.completions or call.done():
                break
            await asyncio.sleep(0.01)
        assert fake.completions, "the call never reached the upstream"
        server.process.send_signal(signal.SIGTERM)
        result = await call
        assert stopped_cleanly(server)

    assert result["isError"] is False
    assert result["content"][0]["text"] == "I see a PNG image, 64x48 pixels."
