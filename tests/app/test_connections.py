"""Connection floods: the cap on open connections, the deadline for request headers, the
open-file limit, and a quiet log while thousands of connections dribble partial headers."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from openrouter_image_mcp.connections import (
    RESERVED_FDS,
    ConnectionBudget,
    ConnectionGuard,
    connection_budget,
)
from openrouter_image_mcp.settings import Settings
from tests.app.helpers import TOKENS, mcp_client, serving, small_png_data_url
from tests.app.processes import ServerProcess, running_server
from tests.fake_openrouter import FakeOpenRouter

PARTIAL_REQUEST = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@contextlib.asynccontextmanager
async def connection(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()


async def until_closed(reader: asyncio.StreamReader, timeout_s: float = 10) -> bytes:
    """Everything the server sends until it closes the connection."""
    try:
        return await asyncio.wait_for(reader.read(), timeout_s)
    except ConnectionResetError:
        return b""


async def one_response(reader: asyncio.StreamReader) -> bytes:
    """The head of one response (the test's responses fit in one read)."""
    return await asyncio.wait_for(reader.read(4096), 10)


# --- The header deadline ----------------------------------------------------------------------


async def test_stalled_headers_get_408_and_the_connection_closes(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, header_timeout_s=0.5, shutdown_grace_s=1)
    async with serving(settings) as url, connection(url) as (reader, writer):
        writer.write(PARTIAL_REQUEST)
        started = time.monotonic()
        answer = await until_closed(reader)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert 0.4 < waited < 5


async def test_headers_sent_slowly_within_the_deadline_are_served(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, header_timeout_s=5, shutdown_grace_s=1)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    async with serving(settings) as url, connection(url) as (reader, writer):
        for start in range(0, len(request), 8):
            writer.write(request[start : start + 8])
            await asyncio.sleep(0.05)
        answer = await until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_the_next_request_on_a_kept_alive_connection_has_a_deadline_too(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(
        auth_tokens=TOKENS, header_timeout_s=0.5, keep_alive_s=30, shutdown_grace_s=1
    )
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    async with serving(settings) as url, connection(url) as (reader, writer):
        writer.write(request)
        first = await one_response(reader)
        await asyncio.sleep(1)  # idle longer than the header deadline: keep-alive rules here
        writer.write(request)
        second = await one_response(reader)
        writer.write(request[:20])  # then stalls
        third = await until_closed(reader)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")
    assert third.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_a_body_still_dribbling_after_the_answer_gets_the_deadline_too(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(auth_tokens=TOKENS, header_timeout_s=0.5, shutdown_grace_s=1)
    async with serving(settings) as url, connection(url) as (reader, writer):
        writer.write(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n{"
        )
        answer = await one_response(reader)  # no token: answered before the body is read
        started = time.monotonic()
        while not reader.at_eof() and time.monotonic() - started < 10:
            writer.write(b" ")  # a byte of body every 50 ms, forever
            await asyncio.sleep(0.05)
        held = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert held < 5


# --- The cap on connections -------------------------------------------------------------------


async def test_at_the_cap_the_oldest_waiting_connection_makes_room(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, max_connections=16, shutdown_grace_s=1)
    async with serving(settings) as url, contextlib.AsyncExitStack() as stack:
        stalled = [await stack.enter_async_context(connection(url)) for _ in range(16)]
        for _, writer in stalled:
            writer.write(PARTIAL_REQUEST)
        await asyncio.sleep(1.5)  # older than the grace a new connection gets
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            health = await http.get("/healthz")
        oldest = await until_closed(stalled[0][0], timeout_s=2)
        newest_still_open = not stalled[-1][0].at_eof()
    assert health.status_code == 200
    assert oldest == b""  # closed to make room, without an answer
    assert newest_still_open


@dataclass(eq=False)
class Connection:
    """Stands in for a protocol object: dropping it uncounts it, as the real one does."""

    guard: ConnectionGuard
    dropped: bool = False

    def drop(self) -> None:
        self.dropped = True
        self.guard.forget(self)
        self.guard.open -= 1


def arrive(guard: ConnectionGuard, now: float) -> tuple[Connection, bool]:
    newcomer = Connection(guard)
    admitted = guard.admit(newcomer, now)
    if not admitted:
        newcomer.drop()
    return newcomer, admitted


def test_at_the_cap_a_newcomer_closes_a_stalled_connection_never_a_fresh_one() -> None:
    guard = ConnectionGuard(ConnectionBudget(max_connections=2, header_timeout_s=10, backlog=16))
    guard.open = 1  # one connection busy serving a request: never closed to make room
    first, admitted = arrive(guard, now=100.0)
    assert admitted
    # The only other connection arrived a moment ago, not read from yet: the newcomer is refused.
    _, admitted = arrive(guard, now=100.5)
    assert not admitted
    assert not first.dropped
    # Once it has sent part of its headers (stalled), it makes room at once.
    guard.sending(first)
    second, admitted = arrive(guard, now=100.6)
    assert admitted
    assert first.dropped
    # A connection that sends nothing is spared only for the grace period.
    _, admitted = arrive(guard, now=101.2)
    assert not admitted
    _, admitted = arrive(guard, now=101.7)
    assert admitted
    assert second.dropped


def test_the_cap_leaves_room_below_the_open_file_limit() -> None:
    settings = Settings(_env_file=None, max_connections=1000)  # type: ignore[call-arg]
    roomy = connection_budget(settings, fd_limit=1 << 20)
    tight = connection_budget(settings, fd_limit=1024)
    assert (roomy.max_connections, roomy.backlog) == (1000, 256)
    assert tight.max_connections + 4 * tight.backlog + RESERVED_FDS <= 1024
    assert tight.max_connections >= 256


# --- A real process under a flood --------------------------------------------------------------


@dataclass
class HalfOpenFlood:
    """Keeps `size` connections open to the server, each sending partial request headers once
    connected and one more byte every half second, and replaces those the server closes."""

    url: str
    size: int
    sockets: list[socket.socket] = field(default_factory=list)
    opened: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sockets = [sock for sock in self.sockets if self._still_open(sock)]
            while len(self.sockets) < self.size and not self.stop.is_set():
                sock = self._open()
                if sock is None:
                    break  # the server's accept queue is full: try again next round
                self.sockets.append(sock)
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"X")
            self.stop.wait(0.5)

    def _open(self) -> socket.socket | None:
        host, port = self.url.removeprefix("http://").split(":")
        try:
            sock = socket.create_connection((host, int(port)), timeout=0.5)
            sock.sendall(PARTIAL_REQUEST)
        except OSError:
            return None
        sock.setblocking(False)
        self.opened += 1
        return sock

    @staticmethod
    def _still_open(sock: socket.socket) -> bool:
        try:
            if sock.recv(4096) == b"":
                raise ConnectionResetError
        except BlockingIOError:
            return True
        except OSError:
            pass
        sock.close()
        return False

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@contextlib.contextmanager
def half_open_flood(url: str, size: int) -> Iterator[HalfOpenFlood]:
    flood = HalfOpenFlood(url, size)
    thread = threading.Thread(target=flood.run, daemon=True)
    thread.start()
    try:
        yield flood
    finally:
        flood.stop.set()
        thread.join(timeout=10)
        flood.close()


@pytest.fixture
def many_open_files() -> Iterator[None]:
    """Room for this test's own thousands of sockets (raised to the hard limit, then back)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"this test needs 4096 open files; the hard limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def timed_calls(server: ServerProcess) -> list[float]:
    """One /healthz and one authenticated tool call; how long each took."""
    durations = []
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        started = time.monotonic()
        health = await http.get("/healthz")
        durations.append(time.monotonic() - started)
    assert health.status_code == 200
    started = time.monotonic()
    async with mcp_client(server.url) as client:
        result = await client.call_tool(
            "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
        )
    durations.append(time.monotonic() - started)
    assert not result.is_error, result.content
    return durations


@pytest.mark.usefixtures("many_open_files")
async def test_calls_complete_while_thousands_of_connections_dribble_headers(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    # A hard limit of 1024 open files, as on many hosts: without the cap, 3000 connections
    # would exhaust it. The server lowers its cap to fit, and says so.
    with running_server(
        fake,
        tmp_path,
        open_files=(512, 1024),
        IMAGE_MCP_HEADER_TIMEOUT_S="3",
        IMAGE_MCP_LOG_LEVEL="INFO",
    ) as server:
        assert server.process_open_file_limit() == 1024  # raised from 512 at start
        with half_open_flood(server.url, size=3000) as flood:
            await asyncio.sleep(3)  # the flood is established
            durations = []
            most_fds = 0
            # Calls keep being timed until the flood has opened its thousands (a loaded
            # machine opens them more slowly), within a bound.
            for round_ in range(20):
                durations += await timed_calls(server)
                most_fds = max(most_fds, server.open_fds())
                if round_ >= 3 and flood.opened >= 2000:
                    break
                await asyncio.sleep(1)
            opened = flood.opened
        log_bytes = server.log_bytes()
        messages = [entry["msg"] for entry in server.log_entries()]

    assert opened >= 2000  # thousands of connections, a few hundred at a time (the cap)
    assert max(durations) < 5, durations
    assert most_fds < 768  # the cap (384 here) left room: accept() never ran out
    assert not any("out of system resource" in message for message in messages)
    assert any(m.startswith("IMAGE_MCP_MAX_CONNECTIONS lowered from 1000") for m in messages)
    # Thousands of closed and refused connections, a handful of log lines.
    assert log_bytes < 30_000, log_bytes
    connection_lines = [m for m in messages if "connection" in m and "IMAGE_MCP_" in m]
    assert 1 <= len(connection_lines) < 20, connection_lines
