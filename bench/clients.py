"""Minimal MCP callers, so the benchmark measures servers rather than clients.

On this 2-core machine `fastmcp.Client` spends about as much CPU per call as the server, so
50 of them compete with the server for the cores. These send what the fastmcp client sends
for a tool call (over HTTP the sessionless 2026-07-28 request; over stdio the `initialize`
handshake every deployed client performs, then plain requests) and read the JSON-RPC result
with nothing more than httpx, asyncio and json. No progress token is sent, as
`fastmcp.Client.call_tool` sends none by default.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
from mcp_types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION

TOOL = "analyze_image"
CALL_TIMEOUT_S = 120.0
_MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


@dataclass(frozen=True, slots=True)
class Call:
    """What the client saw of one tools/call."""

    latency_s: float
    result: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        return self.result.get("_meta") or {}

    @property
    def error_code(self) -> str | None:
        if not self.result.get("isError"):
            return None
        error = (self.result.get("structuredContent") or {}).get("error") or {}
        return str(error.get("code") or self.meta.get("error_code") or "UNKNOWN")


class HttpCaller:
    """`async with HttpCaller(url) as caller: await caller.call(arguments)`; one connection."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._http = httpx.AsyncClient(timeout=CALL_TIMEOUT_S)
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def call(self, arguments: dict[str, Any]) -> Call:
        request_id = next(self._ids)
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": TOOL, "arguments": arguments, "_meta": _MODERN_META},
        }
        headers = {
            "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": LATEST_MODERN_VERSION,
            "Mcp-Method": "tools/call",
            "Mcp-Name": TOOL,
        }
        started = time.perf_counter()
        response = await self._http.post(self._url, json=body, headers=headers)
        latency_s = time.perf_counter() - started
        response.raise_for_status()
        return Call(latency_s, result_of(response.text, request_id))


def result_of(answer: str, request_id: int) -> dict[str, Any]:
    """The JSON-RPC result for `request_id`, from an event stream or a plain JSON body."""
    lines = answer.splitlines()
    payloads = [line.removeprefix("data:") for line in lines if line.startswith("data:")]
    for payload in payloads or [answer]:
        message = json.loads(payload)
        if message.get("id") == request_id and "result" in message:
            return message["result"]
    raise RuntimeError(f"no result for request {request_id} in the answer: {answer[:200]!r}")


class StdioSession:
    """A server started as a subprocess and spoken to over its stdin/stdout, one call at a time.

    `started_s` and `ready_s` (after `open`) say when the process was spawned and when its
    `initialize` answer arrived, by `time.perf_counter()`: the cold start.
    """

    def __init__(self, command: list[str], env: dict[str, str], cwd: str, log: Any) -> None:
        self._command, self._env, self._cwd, self._log = command, env, cwd, log
        self._process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self.started_s = self.ready_s = 0.0

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def open(self) -> Self:
        self.started_s = time.perf_counter()
        self._process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            env=self._env,
            cwd=self._cwd,
            limit=64 * 2**20,
        )
        await self._request(
            "initialize",
            {
                "protocolVersion": LATEST_HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"},
            },
        )
        self.ready_s = time.perf_counter()
        await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def close(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def call(self, arguments: dict[str, Any]) -> Call:
        started = time.perf_counter()
        result = await self._request("tools/call", {"name": TOOL, "arguments": arguments})
        return Call(time.perf_counter() - started, result)

    async def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        await self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        assert self._process is not None
        assert self._process.stdout is not None
        while True:
            line = await asyncio.wait_for(self._process.stdout.readline(), CALL_TIMEOUT_S)
            if not line:
                raise RuntimeError(f"the server closed stdout (exit {self._process.returncode})")
            message = json.loads(line)
            if message.get("id") != request_id:
                continue  # a notification
            if "error" in message:
                raise RuntimeError(f"{method} failed: {message['error']}")
            return message["result"]

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message).encode() + b"\n")
        await self._process.stdin.drain()
