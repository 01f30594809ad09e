"""A tiny HTTP/1.1 server on 127.0.0.1 for fetch tests: routes are coroutines per path."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Route = Callable[[asyncio.StreamWriter], Awaitable[None]]

_MAX_HEAD = 16 * 1024


@dataclass
class TinyServer:
    routes: dict[str, Route]
    ssl_context: ssl.SSLContext | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> TinyServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head[:_MAX_HEAD].decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in header_lines if line)
            }
            self.requests.append((path, headers))
            await self.routes.get(path, not_found)(writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


async def send(writer: asyncio.StreamWriter, status: str, headers: dict[str, str], body: bytes):
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"HTTP/1.1 {status}\r\n{head}Connection: close\r\n\r\n".encode() + body)
    await writer.drain()


def image(body: bytes) -> Route:
    async def route(writer: asyncio.StreamWriter) -> None:
        await send(writer, "200 OK", {"Content-Length": str(len(body))}, body)

    return route


def redirect(location: str, status: str = "302 Found") -> Route:
    async def route(writer: asyncio.StreamWriter) -> None:
        await send(writer, status, {"Location": location, "Content-Length": "0"}, b"")

    return route


def raw_answer(head: bytes) -> Route:
    """Answers with `head` (status line and headers, exactly these bytes) and no body."""

    async def route(writer: asyncio.StreamWriter) -> None:
        writer.write(head + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    return route


async def not_found(writer: asyncio.StreamWriter) -> None:
    await send(writer, "404 Not Found", {"Content-Length": "0"}, b"")


def drip(length: int, interval_s: float) -> Route:
    """Declares `length` bytes, then sends one byte per `interval_s`."""

    async def route(writer: asyncio.StreamWriter) -> None:
        await send(writer, "200 OK", {"Content-Length": str(length)}, b"")
        for _ in range(length):
            await asyncio.sleep(interval_s)
            writer.write(b"x")
            await writer.drain()

    return route


def promise_only(length: int) -> Route:
    """Declares `length` bytes and never sends them: only a client reading the body waits."""

    async def route(writer: asyncio.StreamWriter) -> None:
        await send(writer, "200 OK", {"Content-Length": str(length)}, b"")
        await asyncio.Event().wait()  # until the server stops

    return route


@dataclass
class Flood:
    """Streams `total` bytes without a length in 64 KiB chunks, counting what it could send."""

    total: int
    sent: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, writer: asyncio.StreamWriter) -> None:
        chunk = b"\0" * 65536
        try:
            await send(writer, "200 OK", {}, b"")
            while self.sent < self.total:
                writer.write(chunk)
                await writer.drain()
                self.sent += len(chunk)
        finally:
            self.done.set()
