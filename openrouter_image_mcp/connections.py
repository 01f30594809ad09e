"""Connection-level defences for the HTTP server: a cap on open connections and a deadline for
request headers, as a small subclass of uvicorn's h11 protocol.

uvicorn has neither: a client that opens thousands of connections and sends a byte now and
then holds a file descriptor each until the process can accept no more. Here every
connection must finish its request headers within IMAGE_MCP_HEADER_TIMEOUT_S (408, closed),
and at most IMAGE_MCP_MAX_CONNECTIONS are open at once. At the cap, a new connection closes
the oldest one that is waiting for request headers (stalled, or idle between requests), so a
flood of half-open connections cannot lock out clients that send a request promptly; only
when every connection is busy serving a request is the newcomer refused (503). The cap is kept
below the file-descriptor limit, which `raise_fd_limit` lifts to the hard limit at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import ClassVar, Protocol

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings

CONNECTIONS_LOGGER = "openrouter_image_mcp.connections"
logger = logging.getLogger(CONNECTIONS_LOGGER)

# The listen backlog, which asyncio also uses as the number of connections it accepts in one
# go, without waiting for earlier ones to be set up. Under a flood, uvicorn's default of 2048
# let accepted sockets pile up faster than they were processed (measured: 7,000 open
# descriptors with a cap of 1,000; with 256, the cap plus a handful). A few batches' worth of
# descriptors, accepted and not yet counted or closed and not yet released, stay free above
# the cap.
LISTEN_BACKLOG = 256
# Descriptors for everything else: the listeners, image files, OpenRouter, Redis, logs.
RESERVED_FDS = 128
MIN_CONNECTIONS = 16
# How long a fresh connection is spared when room must be made (see ConnectionGuard).
GRACE_S = 1.0
UNLIMITED_FDS = 1 << 20


def _response(status: str, body: str, *extra_headers: str) -> bytes:
    headers = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        *extra_headers,
        "Connection: close",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


# Written straight to the socket: h11 only lets a server answer a request it has parsed.
TOO_MANY_CONNECTIONS = _response(
    "503 Service Unavailable", "Too many connections; retry shortly.\n", "Retry-After: 1"
)
HEADERS_TOO_SLOW = _response("408 Request Timeout", "Request headers were not sent in time.\n")

# What the (throttled) log says when a deadline closes a connection.
HEADERS_LATE = (
    "closed a connection that did not send its request headers in time (IMAGE_MCP_HEADER_TIMEOUT_S)"
)
BODY_LATE = (
    "closed a connection still sending a request body after it was answered "
    "(IMAGE_MCP_HEADER_TIMEOUT_S)"
)


@dataclass(frozen=True, slots=True)
class ConnectionBudget:
    max_connections: int
    header_timeout_s: float
    backlog: int


def connection_budget(settings: Settings, fd_limit: int) -> ConnectionBudget:
    """The connection cap and listen backlog that fit in `fd_limit` open files."""
    backlog = max(MIN_CONNECTIONS, min(LISTEN_BACKLOG, fd_limit // 8))
    room = fd_limit - 4 * backlog - RESERVED_FDS
    return ConnectionBudget(
        max_connections=max(MIN_CONNECTIONS, min(settings.max_connections, room)),
        header_timeout_s=settings.header_timeout_s,
        backlog=backlog,
    )


def raise_fd_limit() -> None:
    """Lift this process's soft limit on open files to the hard limit (nothing on Windows)."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # Some systems refuse an unlimited soft limit; the old one then stays.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_file_limit() -> int:
    """This process's soft limit on open files (a generous stand-in where there is none)."""
    try:
        import resource
    except ImportError:
        return UNLIMITED_FDS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_FDS if soft == resource.RLIM_INFINITY else soft


class ConnectionGuard:
    """The bookkeeping every connection of one server shares.

    At the cap, a newcomer closes the oldest stalled connection: one that has sent part of a
    request's headers but not all. Failing that, the oldest fresh one (nothing sent since it
    arrived, or since its last response) that has been fresh for GRACE_S: a connection
    accepted a moment ago may have its request waiting in the socket, unread only because the
    server has not got to it yet, and a client reuses a kept-alive connection right after a
    response. Failing that, the newcomer is refused.
    """

    def __init__(self, budget: ConnectionBudget) -> None:
        self.budget = budget
        self.open = 0
        # Oldest first (dicts keep insertion order): fresh ones with when they became fresh.
        self.fresh: dict[Closable, float] = {}
        self.stalled: dict[Closable, None] = {}

    def admit(self, newcomer: Closable, now: float) -> bool:
        """Count a new connection, closing another at the cap; False to refuse the newcomer."""
        self.open += 1
        self.fresh[newcomer] = now
        if self.open <= self.budget.max_connections:
            return True
        victim = self._oldest_closable(now)
        if victim is None:
            logger.warning(
                "refused a connection: all %d connections are serving requests or just "
                "arrived (IMAGE_MCP_MAX_CONNECTIONS)",
                self.budget.max_connections,
            )
            return False
        logger.warning(
            "closed the oldest connection waiting for request headers: %d connections are "
            "open (IMAGE_MCP_MAX_CONNECTIONS)",
            self.budget.max_connections,
        )
        victim.drop()
        return True

    def sending(self, conn: Closable) -> None:
        """`conn` sent bytes of a request; stalled until its headers are complete."""
        if self.fresh.pop(conn, None) is not None:
            self.stall(conn)

    def stall(self, conn: Closable) -> None:
        self.stalled[conn] = None

    def idle(self, conn: Closable, now: float) -> None:
        self.fresh[conn] = now

    def forget(self, conn: Closable) -> None:
        self.fresh.pop(conn, None)
        self.stalled.pop(conn, None)

    def _oldest_closable(self, now: float) -> Closable | None:
        for conn in self.stalled:
            return conn
        conn, since = next(iter(self.fresh.items()))
        return conn if now - since >= GRACE_S else None


class Closable(Protocol):
    def drop(self) -> None: ...


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, counted against the cap and held to the header deadline."""

    guard: ClassVar[ConnectionGuard]

    _counted = False
    _awaiting_headers = False  # bytes of a request have come, its headers are not complete
    _draining = False  # answered, while the client still sends a body nobody reads
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._counted = True
        self._arm_deadline(HEADERS_LATE, HEADERS_TOO_SLOW)
        if not self.guard.admit(self, self.loop.time()):
            self.drop(TOO_MANY_CONNECTIONS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self in self.guard.fresh:  # the first bytes since it arrived or was last answered
            self.guard.sending(self)
            self._awaiting_headers = True
            if self._deadline is None:
                self._arm_deadline(HEADERS_LATE, HEADERS_TOO_SLOW)  # after an idle spell
        super().data_received(data)
        if self._awaiting_headers and self.conn.their_state is not h11.IDLE:
            self._awaiting_headers = False  # the headers are in (or the connection failed)
            self._stop_waiting()
        elif self._draining and self.conn.their_state is h11.IDLE:
            self._draining = False  # the unread body is over: an idle connection again
            self._stop_waiting()
            self.guard.idle(self, self.loop.time())

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            # Idle between requests: closable at the cap; uvicorn's keep-alive timer runs.
            self.guard.idle(self, self.loop.time())
        elif self.conn.their_state is h11.SEND_BODY:
            # Answered (a 401, say) while the client still sends a body nobody will read:
            # uvicorn would discard it for as long as it comes. It gets the header deadline.
            self._draining = True
            self.guard.stall(self)
            self._arm_deadline(BODY_LATE, None)

    def drop(self, answer: bytes | None = None) -> None:
        """Close this connection now, uncounted at once so the cap has room immediately."""
        self._uncount()
        if not self.transport.is_closing():
            if answer:
                self.transport.write(answer)
            self.transport.close()

    def _arm_deadline(self, reason: str, answer: bytes | None) -> None:
        """Close the connection after the header deadline, unless `_stop_waiting` comes first."""
        self._deadline = self.loop.call_later(
            self.guard.budget.header_timeout_s, self._expired, reason, answer
        )

    def _stop_waiting(self) -> None:
        self.guard.forget(self)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _uncount(self) -> None:
        self._stop_waiting()
        if self._counted:
            self._counted = False
            self.guard.open -= 1

    def _expired(self, reason: str, answer: bytes | None) -> None:
        self._deadline = None
        logger.warning(reason)  # a constant: its own kind for the log throttle
        self.drop(answer)


def guarded_protocol(budget: ConnectionBudget) -> type[GuardedH11Protocol]:
    """A protocol class for `uvicorn.Config(http=...)` whose connections share one guard."""
    guard = ConnectionGuard(budget)
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})
