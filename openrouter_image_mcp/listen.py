"""The HTTP listening sockets, bound before the server starts anything else.

Binding first means a port already in use is one clear line and an exit status, before the
runtime opens (Redis, clients) and before anything claims to be serving; uvicorn then serves
on these sockets.
"""

from __future__ import annotations

import errno
import socket

HINTS = {
    errno.EADDRINUSE: "another process is listening there; stop it, or choose another port "
    "with IMAGE_MCP_PORT or --port",
    errno.EACCES: "ports below 1024 need privileges; choose a port above 1024",
    errno.EADDRNOTAVAIL: "no network interface has that address; check IMAGE_MCP_HOST",
}


class ListenFailure(Exception):
    """The server cannot listen where it was told to; the message is one line for the log."""


def bind_listeners(host: str, port: int) -> list[socket.socket]:
    """One bound (not yet listening) TCP socket per address `host` resolves to."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ListenFailure(
            f"cannot listen on {host}:{port}: {error.strerror}; check IMAGE_MCP_HOST"
        ) from None
    bound: list[socket.socket] = []
    try:
        # getaddrinfo may list an address more than once (one per protocol it knows).
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            # The resolved protocol (TCP) lets asyncio turn Nagle off on accepted sockets.
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as error:
        for sock in bound:
            sock.close()
        raise ListenFailure(describe_bind_error(host, port, error)) from None
    return bound


def describe_bind_error(host: str, port: int, error: OSError) -> str:
    reason = (error.strerror or str(error)).lower()
    hint = HINTS.get(error.errno or 0)
    return f"cannot listen on {host}:{port}: {reason}" + (f"; {hint}" if hint else "")


def listening_url(sock: socket.socket) -> str:
    """The http:// base URL a bound socket answers on (the real port when 0 was asked)."""
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}"
