"""How long the client waits between attempts: the server's word first, jitter otherwise."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from openrouter_image_mcp.openrouter.backoff import Backoff, retry_after_s

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "status", "expected"),
    [
        pytest.param({"Retry-After": "2"}, 503, 2.0, id="seconds"),
        pytest.param({"Retry-After": " 0.25 "}, 429, 0.25, id="fractional-seconds"),
        pytest.param({"Retry-After": "-5"}, 429, 0.0, id="negative-is-now"),
        pytest.param({"Retry-After": formatdate(NOW + 30, usegmt=True)}, 503, 30.0, id="date"),
        pytest.param({"Retry-After": formatdate(NOW - 30, usegmt=True)}, 503, 0.0, id="past-date"),
        pytest.param({"Retry-After": "soon"}, 503, None, id="garbage"),
        pytest.param({"Retry-After": "nan"}, 503, None, id="nan"),
        pytest.param({"X-RateLimit-Reset": str(int((NOW + 12) * 1000))}, 429, 12.0, id="reset-ms"),
        pytest.param({"X-RateLimit-Reset": str(int(NOW + 12))}, 429, 12.0, id="reset-seconds"),
        pytest.param({"X-RateLimit-Reset": str(int(NOW * 1000))}, 503, None, id="reset-not-429"),
        pytest.param(
            {"Retry-After": "1", "X-RateLimit-Reset": str(int((NOW + 60) * 1000))},
            429,
            1.0,
            id="retry-after-wins",
        ),
        pytest.param({}, 429, None, id="none"),
    ],
)
def test_retry_after(headers: dict[str, str], status: int, expected: float | None) -> None:
    assert retry_after_s(httpx.Headers(headers), status, NOW) == expected


def test_full_jitter_stays_under_the_growing_capped_ceiling() -> None:
    backoff = Backoff(base_s=0.5, cap_s=8.0)
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]

    for failed_attempts, ceiling in enumerate(ceilings, start=1):
        delays = [backoff.delay_s(failed_attempts) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered, so concurrent callers spread out
