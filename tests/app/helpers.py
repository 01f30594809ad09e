"""Helpers for the deployment tests: the production app under uvicorn on 127.0.0.1, a raw
JSON-RPC vocabulary for plain-HTTP requests, and the MCP client with a bearer token."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from PIL import Image

from openrouter_image_mcp.http_app import build_http_app
from openrouter_image_mcp.serve_http import uvicorn_config
from openrouter_image_mcp.server import build_server
from openrouter_image_mcp.settings import Settings

ALICE_TOKEN = "alice-token-" + "a1" * 16
BOB_TOKEN = "bob-token-" + "b2" * 16
TOKENS = f"alice:{ALICE_TOKEN},bob:{BOB_TOKEN}"

MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def rpc(method: str, request_id: int | None = None, **params: Any) -> dict[str, Any]:
    """A JSON-RPC message; a notification when `request_id` is None."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        message["id"] = request_id
    if params:
        message["params"] = params
    return message


INITIALIZE = rpc(
    "initialize",
    1,
    protocolVersion="2025-11-25",  # the last protocol with sessions; the newer one has none
    capabilities={},
    clientInfo={"name": "raw-http-test", "version": "0"},
)


def analyze_call(request_id: int) -> dict[str, Any]:
    """A tools/call request for analyze_image on a small PNG."""
    arguments = {"image_path": small_png_data_url()}
    return rpc("tools/call", request_id, name="analyze_image", arguments=arguments)


def reply_to(response: httpx.Response, request_id: int) -> dict[str, Any]:
    """The JSON-RPC reply with this id in a streamable-HTTP response (an SSE stream)."""
    assert response.status_code == 200, response.text
    messages = [
        json.loads(line.removeprefix("data:"))
        for line in response.text.splitlines()
        if line.startswith("data:")
    ]
    (reply,) = [message for message in messages if message.get("id") == request_id]
    return reply


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def small_png_data_url(size: tuple[int, int] = (64, 48)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@asynccontextmanager
async def serving(settings: Settings, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """The production app and uvicorn config on a free loopback port; yields the base URL.

    `settings.host` still decides the app's behaviour (e.g. the Host policy for 0.0.0.0); the
    test only chooses the socket (`sock`, from `listening_socket()`, when the settings must
    know the port in advance).
    """
    app = build_http_app(build_server(settings), settings)
    server = uvicorn.Server(uvicorn_config(app, settings))
    sock = sock or listening_socket()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            if task.done():
                task.result()  # re-raises why it could not start
            raise RuntimeError("the server did not start within 5 s")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def listening_socket() -> socket.socket:
    sock = socket.create_server(("127.0.0.1", 0))
    # Accepted sockets inherit this; without it asyncio leaves Nagle on (the socket's
    # proto is 0) and every answer waits ~40 ms on a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def mcp_client(base_url: str, token: str | None = ALICE_TOKEN, **transport: Any) -> Client:
    """The official MCP client over streamable HTTP, optionally with a bearer token."""
    return Client(StreamableHttpTransport(f"{base_url}/mcp", auth=token, **transport), timeout=20)
