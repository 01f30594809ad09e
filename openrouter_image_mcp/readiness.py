"""Whether this server is configured well enough to answer tool calls (/readyz, start-up)."""

from __future__ import annotations

from .settings import Settings


def readiness_problems(settings: Settings) -> list[str]:
    """Why this server cannot answer tool calls yet; empty when it can. Never includes values."""
    problems = []
    if not settings.api_key:
        problems.append("OPENROUTER_API_KEY is not set; tool calls would fail with CONFIG_ERROR")
    return problems
