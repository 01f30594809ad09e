"""When to try OpenRouter again, and how long to wait first."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

# Statuses (HTTP, or the code embedded in a 200 error body) worth another attempt.
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})

# X-RateLimit-Reset is epoch milliseconds; anything this large cannot be seconds.
_EPOCH_MS_THRESHOLD = 1e11


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: wait a random time in [0, min(cap, base * 2^n))."""

    base_s: float = 0.5
    cap_s: float = 8.0

    def delay_s(self, failed_attempts: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** (failed_attempts - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - spreading retries, not security


def retry_after_s(headers: Mapping[str, str], status: int | None, now: float) -> float | None:
    """Seconds the server asked us to wait: Retry-After (seconds or HTTP-date), else for a 429
    X-RateLimit-Reset. `headers` must look names up case-insensitively (httpx2.Headers does)."""
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        return _seconds_or_date(retry_after.strip(), now)
    reset = headers.get("x-ratelimit-reset")
    if status == 429 and reset is not None:
        return _until_epoch(reset.strip(), now)
    return None


def _seconds_or_date(value: str, now: float) -> float | None:
    seconds = _finite(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        moment = moment.replace(tzinfo=UTC)
    return max(moment.timestamp() - now, 0.0)


def _until_epoch(value: str, now: float) -> float | None:
    stamp = _finite(value)
    if stamp is None:
        return None
    if stamp > _EPOCH_MS_THRESHOLD:
        stamp /= 1000
    return max(stamp - now, 0.0)


def _finite(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
