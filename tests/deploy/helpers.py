"""Reading the deployment files: the repository root, compose.yaml, and the linters they need."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NANOSECONDS = 1_000_000_000  # Caddy's JSON durations
_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def tool(name: str, source: str = "`pip install -e '.[test]'`") -> str:
    """A linter, on PATH or next to this Python; the test skips when it is missing."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed; {source} provides it")
    return found


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def interpolate(value: str, env: dict[str, str]) -> str:
    """compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`, as compose resolves them."""

    def resolve(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if kind is None:
            return env.get(name, "")
        missing = not env.get(name) if kind.startswith(":") else name not in env
        if not missing:
            return env[name]
        if kind.endswith("-"):
            return rest
        raise AssertionError(f"compose would refuse to start: {name} is unset ({rest})")

    return _INTERPOLATION.sub(resolve, value)


def environment(service: str, env: dict[str, str]) -> dict[str, str]:
    """A compose service's `environment`, interpolated with `env` (standing in for .env)."""
    values = compose()["services"][service].get("environment", {})
    return {name: interpolate(str(value), env) for name, value in values.items()}


def redis_options(arguments: list[str]) -> dict[str, str]:
    """`redis-server` arguments (`--name value ...`) as {name: value}."""
    names, values = arguments[::2], arguments[1::2]
    assert all(name.startswith("--") for name in names), arguments
    return {name.removeprefix("--"): value for name, value in zip(names, values, strict=True)}


def server_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Exactly `env` as the server's IMAGE_MCP_* environment, with no .env file to read."""
    monkeypatch.chdir(ROOT / "deploy")
    for name in [name for name in os.environ if name.startswith("IMAGE_MCP_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
