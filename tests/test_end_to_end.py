"""analyze_image end to end: every input kind reaches the fake upstream as a valid image, and
the answer comes back, in memory, over streamable HTTP and over stdio."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import serving
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import call, data_url, in_memory_client, png_bytes, text_of
from tests.sources.servers import TinyServer, image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def image_server() -> AsyncIterator[TinyServer]:
    server = await TinyServer({"/photo.png": image(png_bytes(80, 60, "orange"))}).start()
    yield server
    await server.stop()


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "picture.png"
    path.write_bytes(png_bytes(64, 48))
    return path


def stdio_settings(fake: FakeOpenRouter, tmp_path: Path, **overrides: object) -> Settings:
    return fake.settings(transport="stdio", file_roots=[tmp_path], **overrides)


async def test_each_input_kind_reaches_the_upstream_as_a_valid_image(
    fake: FakeOpenRouter,
    tmp_path: Path,
    picture: Path,
    image_server: TinyServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = picture.read_bytes()
    inputs = {
        "path": str(picture),
        "relative path": "picture.png",
        "file URI": picture.as_uri(),
        "data URL": data_url(raw),
        "bare base64": base64.b64encode(raw).decode(),
        "http URL": f"http://127.0.0.1:{image_server.port}/photo.png",
    }
    # The cache would answer the repeats of the same picture: turn it off to see each upload.
    settings = stdio_settings(fake, tmp_path, allowed_hosts=["127.0.0.1"], cache_ttl_s=0)
    monkeypatch.chdir(tmp_path)
    async with in_memory_client(settings) as client:
        for kind, image_path in inputs.items():
            result = await call(client, image_path=image_path, question="What is this?")
            assert not result.is_error, (kind, text_of(result))
            received = fake.completions[-1].image
            expected_size = (80, 60) if kind == "http URL" else (64, 48)
            assert (received.format, received.width, received.height) == ("PNG", *expected_size)
            width, height = expected_size
            assert text_of(result) == f"I see a PNG image, {width}x{height} pixels."
    assert len(fake.completions) == len(inputs)


async def test_the_request_upstream_carries_the_question_first_then_the_image(
    fake: FakeOpenRouter, tmp_path: Path, picture: Path
) -> None:
    async with in_memory_client(stdio_settings(fake, tmp_path)) as client:
        await call(
            client,
            image_path=str(picture),
            question="Count the squares.",
            model="openai/gpt-5-mini",
            temperature=0,
            max_tokens=300,
        )
    body = fake.completions[-1].body
    assert body["model"] == "openai/gpt-5-mini"
    assert body["temperature"] == 0
    assert body["max_tokens"] == 300
    text_part, image_part = body["messages"][0]["content"]
    assert text_part == {"type": "text", "text": "Count the squares."}
    # An acceptable image is passed through: the very bytes of the file reach the upstream.
    assert image_part["image_url"]["url"] == data_url(picture.read_bytes())
    assert image_part["image_url"]["detail"] == "auto"


async def test_meta_reports_model_usage_image_and_timings(
    fake: FakeOpenRouter, tmp_path: Path, picture: Path
) -> None:
    async with in_memory_client(stdio_settings(fake, tmp_path)) as client:
        result = await call(client, image_path=str(picture))
    meta = result.meta
    assert meta["model"] == "google/gemini-2.5-flash"
    assert meta["generation_id"].startswith("gen-")
    assert meta["finish_reason"] == "stop"
    assert meta["usage"]["cost"] > 0
    assert meta["usage"]["total_tokens"] > 0
    size = len(picture.read_bytes())
    assert meta["image"]["received"] == {"format": "PNG", "width": 64, "height": 48, "bytes": size}
    assert meta["image"]["sent"]["format"] == "PNG"
    assert set(meta["timings_ms"]) >= {"load", "prepare", "upstream", "total"}


async def test_streamable_http_serves_the_tool(fake: FakeOpenRouter, picture: Path) -> None:
    settings = fake.settings(file_roots=[picture.parent])
    async with serving(settings) as base, Client(StreamableHttpTransport(f"{base}/mcp")) as client:
        tools = {tool.name for tool in await client.list_tools()}
        assert "analyze_image" in tools
        by_path = await call(client, image_path=str(picture))
        inline = await call(client, image_path=data_url(png_bytes(30, 20)))
    assert text_of(by_path) == "I see a PNG image, 64x48 pixels."
    assert text_of(inline) == "I see a PNG image, 30x20 pixels."


async def test_http_refuses_local_files_unless_roots_are_configured(
    fake: FakeOpenRouter, picture: Path
) -> None:
    async with (
        serving(fake.settings()) as base,
        Client(StreamableHttpTransport(f"{base}/mcp")) as client,
    ):
        result = await call(client, image_path=str(picture))
    assert result.structured_content["error"]["code"] == "UNSAFE_PATH"
    assert "IMAGE_MCP_FILE_ROOTS" in result.structured_content["error"]["message"]
    assert fake.completions == []


def server_env(fake: FakeOpenRouter, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OPENROUTER_API_KEY": fake.api_key,
        "OPENROUTER_BASE_URL": fake.base_url,
        "FASTMCP_CHECK_FOR_UPDATES": "off",
        **extra,
    }


async def test_stdio_with_the_official_client(
    fake: FakeOpenRouter, tmp_path: Path, picture: Path
) -> None:
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "openrouter_image_mcp", "--transport", "stdio"],
        env=server_env(fake, PYTHONPATH=str(REPO)),
        cwd=str(tmp_path),
        log_file=tmp_path / "stderr.log",
    )
    async with Client(transport) as client:
        result = await call(client, image_path="picture.png")
    assert text_of(result) == "I see a PNG image, 64x48 pixels."
    log = (tmp_path / "stderr.log").read_text()
    assert '"tool":"analyze_image"' in log
    assert '"code":"OK"' in log
    assert fake.api_key not in log


def test_stdio_stdout_carries_protocol_messages_only(
    fake: FakeOpenRouter, tmp_path: Path, picture: Path
) -> None:
    """A raw JSON-RPC exchange: every stdout line must be a JSON-RPC message."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "analyze_image", "arguments": {"image_path": "picture.png"}},
        },
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "openrouter_image_mcp", "--transport", "stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(fake, PYTHONPATH=str(REPO)),
        cwd=tmp_path,
        text=True,
    )
    killer = threading.Timer(60, proc.kill)  # bounds the test if the server never answers
    killer.start()
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        lines = []
        while not any(line.get("id") == 2 for line in lines):
            lines.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()
        stderr = proc.stderr.read()
        proc.wait()
    finally:
        killer.cancel()
        proc.kill()
    assert all(line.get("jsonrpc") == "2.0" for line in lines)
    answer = next(line for line in lines if line.get("id") == 2)
    assert answer["result"]["content"][0]["text"] == "I see a PNG image, 64x48 pixels."
    assert proc.stdout.read() == ""
    assert "serving MCP over stdio" in stderr
