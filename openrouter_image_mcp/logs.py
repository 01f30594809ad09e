"""Logging to stderr only: JSON lines by default, plain text for terminals.

stdout is the protocol channel in stdio mode, so no handler ever writes there. Every record
passes a redaction filter that replaces the API key, bearer tokens and data URLs, as a last
line of defence behind code that never logs them in the first place. Warnings a flood can
repeat thousands of times a second (refused connections, accept errors) are throttled.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .settings import Settings

CALL_LOGGER = "openrouter_image_mcp.calls"
# Loggers whose warnings a flood of connections or bad requests can repeat thousands of times
# a second (asyncio's "socket.accept() out of system resource" among them).
FLOOD_PRONE_LOGGERS = ("asyncio", "uvicorn.error", "openrouter_image_mcp.connections")
THROTTLE_WINDOW_S = 10.0
_DATA_URL = re.compile(r"data:[\w/+.-]*;base64,[A-Za-z0-9+/=_-]{16,}")
# Record attributes that are not "extra" fields; uvicorn's color_message is a terminal-only
# copy of the message with ANSI escapes.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class Redactor(logging.Filter):
    """Replaces known secrets and inline image data in every record's rendered message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _DATA_URL.sub("data:[image omitted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        for key, value in _extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class Throttle(logging.Filter):
    """Lets one of a kind of flood-prone warning through per window, counting the rest.

    Records are alike when their logger and first line match with numbers and addresses
    blanked out. The first one after a quiet window passes, carrying how many were dropped.
    """

    MAX_KINDS = 256

    def __init__(self, loggers: tuple[str, ...], window_s: float) -> None:
        super().__init__()
        self._loggers = loggers
        self._window_s = window_s
        self._kinds: dict[tuple[str, str], _Burst] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self._loggers):
            return True
        kind = (record.name, _NUMBERS.sub("#", str(record.msg).partition("\n")[0])[:120])
        now = time.monotonic()
        burst = self._kinds.get(kind)
        if burst is not None and now - burst.started < self._window_s:
            burst.dropped += 1
            return False
        if len(self._kinds) >= self.MAX_KINDS:
            self._kinds.clear()
        self._kinds[kind] = _Burst(started=now)
        if burst is not None and burst.dropped:
            record.msg = (
                f"{record.getMessage()} ({burst.dropped} more like this in the "
                f"{now - burst.started:.0f} s before)"
            )
            record.args = None
        return True


_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


@dataclass(slots=True)
class _Burst:
    started: float
    dropped: int = 0


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extra_fields(record))
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extra_fields(record).items())
        line = super().format(record)
        return f"{line} {extras}" if extras else line


def secrets_of(settings: Settings) -> list[str]:
    secrets = [token.secret for token in settings.auth_tokens]
    if settings.api_key:
        secrets.append(settings.api_key)
    if settings.redis_url:
        secrets.append(settings.redis_url.get_secret_value())
    if settings.cache_redis_url:
        secrets.append(settings.cache_redis_url.get_secret_value())
    return secrets


def configure_logging(settings: Settings) -> None:
    """Route every logger (ours, FastMCP's, uvicorn's) to one redacting stderr handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(Throttle(FLOOD_PRONE_LOGGERS, THROTTLE_WINDOW_S))
    handler.addFilter(Redactor(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("fastmcp", "mcp", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx2"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Request lines for every poll are noise; tool calls get their own line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
