"""Logging to stderr only: JSON lines by default, plain text for terminals.

stdout is the protocol channel in stdio mode, so no handler ever writes there. Every record
passes a redaction filter that replaces the API key, bearer tokens and data URLs, as a last
line of defence behind code that never logs them in the first place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

from .settings import Settings

CALL_LOGGER = "openrouter_image_mcp.calls"
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
    handler.addFilter(Redactor(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("fastmcp", "mcp", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Request lines for every poll are noise; tool calls get their own line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
