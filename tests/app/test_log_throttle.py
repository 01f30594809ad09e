"""Flood-prone warnings are throttled: one of a kind per window, with a count of the rest."""

from __future__ import annotations

import logging

import pytest

from openrouter_image_mcp import logs
from openrouter_image_mcp.logs import Throttle


def record(name: str, message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    return now


def test_one_of_a_kind_passes_per_window_then_reports_the_rest(clock: list[float]) -> None:
    throttle = Throttle(("asyncio",), window_s=10)

    def accept_error(fd: int) -> logging.LogRecord:
        message = f"socket.accept() out of system resource (fd {fd})\nsocket: <fd={fd}>"
        return record("asyncio", message)

    assert throttle.filter(accept_error(6))
    # The same kind (other numbers in it) is left out for the rest of the window.
    assert not any(throttle.filter(accept_error(fd)) for fd in range(7, 507))
    clock[0] += 10
    passed = accept_error(6)
    assert throttle.filter(passed)
    assert passed.getMessage().endswith("(500 more like this in the 10 s before)")


def test_other_kinds_levels_and_loggers_are_never_held_back(clock: list[float]) -> None:
    throttle = Throttle(("asyncio", "uvicorn.error"), window_s=10)
    assert throttle.filter(record("uvicorn.error", "Invalid HTTP request received."))
    assert throttle.filter(record("uvicorn.error", "Exceeded concurrency limit."))
    for _ in range(3):
        assert throttle.filter(record("uvicorn.error", "Started server process", logging.INFO))
        assert throttle.filter(record("openrouter_image_mcp.calls", "tool call"))
