"""Refusing /mcp bodies whose JSON holds far more values than any MCP request, before parsing.

The parse is the expensive part of an argument flood, and it happens before any tool code
runs: the MCP SDK parses a 27 MB body with 1.4 million keys in about 1.5 s on the event loop
(nothing else is served meanwhile, /healthz included) into a few hundred MB of objects. In
JSON every value after the first follows a ',' or a ':' (or opens a nesting level, which the
parser limits), so counting those two bytes, at C speed (about 15 ms for 27 MB), bounds what
a body can hold without parsing it. A body over `max_separators` (room for the longest
question IMAGE_MCP_MAX_QUESTION_CHARS allows, made of nothing but separators, for the
separators of every image IMAGE_MCP_MAX_IMAGES_PER_CALL allows, plus the envelope) is
answered 413 with a
JSON-RPC error carrying INVALID_INPUT, and counted against the caller's rate limit for the
tool it names (one bucket for bodies naming none), so a client that keeps sending them ends
up RATE_LIMITED; the metrics count it as a call of that tool (or of "(unnamed)").
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .analysis.pipeline import MAX_MODEL_ID_CHARS
from .arguments import refuse
from .errors import ErrorCode, ToolFailure
from .runtime import Runtime
from .tools import LOCAL_CLIENT

# Room for the JSON-RPC envelope and the other parameters of any valid call.
ENVELOPE_SEPARATORS = 1024
# Room for each image a call may carry: the comma between list items, a data URL's ':' and
# ',', a URL's query string, a file name with commas in it.
SEPARATORS_PER_IMAGE = 64
UNNAMED_TOOL = "(unnamed)"
"""The rate-limit bucket for refused bodies that name none of the server's tools."""

TOOL_NAME = re.compile(rb'"name"\s*:\s*"([A-Za-z0-9_.-]{1,128})"')
INVALID_REQUEST = -32600
SERVER_ERROR = -32000


class JsonShapeGuard:
    """ASGI middleware inside the SDK's body limit: the body it sees is complete and bounded."""

    def __init__(self, app: ASGIApp, runtime: Runtime, tools: frozenset[str]) -> None:
        self.app = app
        self._runtime = runtime
        self._tools = tools
        # Above anything a valid call can hold: a question and a model id made of nothing but
        # commas and colons, every image it may carry, plus the envelope.
        settings = runtime.settings
        self.max_separators = (
            settings.max_question_chars
            + MAX_MODEL_ID_CHARS
            + settings.max_images_per_call * SEPARATORS_PER_IMAGE
            + ENVELOPE_SEPARATORS
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        messages = await read_request(receive)
        received = time.perf_counter()
        body = b"".join(message.get("body", b"") for message in messages)
        if body.count(b",") + body.count(b":") <= self.max_separators:
            await self.app(scope, replay(messages, receive), send)
            return
        await self._refuse(scope, body, send, received)

    async def _refuse(self, scope: Scope, body: bytes, send: Send, received: float) -> None:
        failure = ToolFailure(
            ErrorCode.INVALID_INPUT,
            f"The request holds more than {self.max_separators} JSON values; a tool call needs a "
            "dozen. Send only the tool's own parameters.",
        )
        tool = self._tool_named(body)
        failure = await refuse(self._runtime, client_of(scope), tool, failure, received)
        await send_refusal(failure, send)

    def _tool_named(self, body: bytes) -> str:
        for match in TOOL_NAME.finditer(body):
            name = match.group(1).decode()
            if name in self._tools:
                return name
        return UNNAMED_TOOL


async def read_request(receive: Receive) -> list[Message]:
    """The request's messages up to the end of its body (or a disconnect)."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def client_of(scope: Scope) -> str:
    user = scope.get("user")
    return user.access_token.client_id if isinstance(user, AuthenticatedUser) else LOCAL_CLIENT


async def send_refusal(failure: ToolFailure, send: Send) -> None:
    """A JSON-RPC error (id null: the body was never parsed) with the code in `error.data`:
    413 for the body itself, 429 when the caller is over its rate limit or budget."""
    too_large = failure.code is ErrorCode.INVALID_INPUT
    error: dict[str, Any] = {
        "code": INVALID_REQUEST if too_large else SERVER_ERROR,
        "message": f"{failure.code}: {failure.message}",
        "data": failure.to_payload(),
    }
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if failure.retry_after_s is not None:
        headers.append((b"retry-after", b"%d" % max(1, round(failure.retry_after_s))))
    status = 413 if too_large else 429
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
