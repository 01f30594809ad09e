"""The deployment files: linted, consistent with the package, and their health checks work."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import subprocess
import sys
import tomllib

import pytest
from pydantic import AliasChoices

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import serving
from tests.deploy.helpers import ROOT, compose, tool
from tests.fake_openrouter import FakeOpenRouter

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def last(name: str) -> str:
    return [arguments for instruction, arguments in instructions() if instruction == name][-1]


def env_names() -> dict[str, str]:
    """Each setting's environment variable, by field name."""
    names = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            alias = alias.choices[0]
        names[name] = alias if isinstance(alias, str) else f"IMAGE_MCP_{name.upper()}"
    return names


# --- Linters ----------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_matches_the_compose_spec() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_caddyfile_parses() -> None:
    caddy = tool("caddy", "the caddy package (apt install caddy)")
    result = subprocess.run(
        [caddy, "adapt", "--config", "deploy/Caddyfile", "--adapter", "caddyfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (route,) = json.loads(result.stdout)["apps"]["http"]["servers"]["srv0"]["routes"]
    (proxy,) = route["handle"]
    assert proxy["dynamic_upstreams"] == {
        "source": "a",
        "name": "mcp-replicas",
        "port": "8000",
        "refresh": 5_000_000_000,
    }
    assert proxy["flush_interval"] == -1  # progress notifications are not held back


# --- Dockerfile -------------------------------------------------------------------------------


def test_entrypoint_is_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = json.loads(last("ENTRYPOINT"))
    assert scripts[entrypoint] == "openrouter_image_mcp.cli:main"


def test_image_runs_as_a_non_root_user_on_0_0_0_0() -> None:
    bases = [
        arguments.split()[0] for instruction, arguments in instructions() if instruction == "FROM"
    ]
    # builder + runtime, on one base pinned to an exact Python patch and Debian release
    builder, runtime = bases
    assert builder == runtime
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", runtime), runtime
    assert last("USER").split(":")[0] not in {"root", "0"}
    env = last("ENV")
    for setting in (
        "IMAGE_MCP_HOST=0.0.0.0",
        "IMAGE_MCP_PORT=8000",
        "FASTMCP_CHECK_FOR_UPDATES=off",
    ):
        assert setting in env
    assert (last("EXPOSE"), last("STOPSIGNAL")) == ("8000", "SIGTERM")


def test_the_image_installs_exactly_the_locked_packages() -> None:
    builder = "\n".join(
        arguments for instruction, arguments in instructions() if instruction == "RUN"
    )
    # Every file checked against uv.lock's hashes, nothing resolved, the build backend locked too;
    # the otel extra, so that OTEL_* variables are enough to send traces.
    assert "uv export --frozen --no-dev --group build --extra otel --no-emit-project" in builder
    assert "pip install --no-cache-dir --no-deps --require-hashes -r requirements.txt" in builder
    assert "pip install --no-cache-dir --no-deps --no-index --no-build-isolation ." in builder
    (uv_pin,) = re.findall(r"\buv==(\S+)", builder)
    locked = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    assert uv_pin == next(p["version"] for p in locked if p["name"] == "uv")


def healthcheck_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK command as an argv list."""
    return json.loads(last("HEALTHCHECK").split(" CMD ", 1)[1])


def test_compose_repeats_the_images_healthcheck() -> None:
    compose_test = compose()["services"]["mcp"]["healthcheck"]["test"]
    assert compose_test == ["CMD", *healthcheck_command()]


async def test_the_healthcheck_passes_on_a_running_server_and_fails_on_a_stopped_one(
    fake: FakeOpenRouter,
) -> None:
    command = healthcheck_command()
    assert command[0] == "python"
    argv = [sys.executable, *command[1:]]
    async with serving(fake.settings(shutdown_grace_s=1)) as url:
        env = {**os.environ, "IMAGE_MCP_PORT": url.rsplit(":", 1)[1]}
        assert await exit_code(argv, env) == 0
    assert await exit_code(argv, env) != 0


async def exit_code(argv: list[str], env: dict[str, str]) -> int:
    # In a thread: the server under test runs on this event loop.
    run = functools.partial(subprocess.run, argv, env=env, capture_output=True, timeout=30)
    return (await asyncio.to_thread(run)).returncode


# --- compose.yaml -----------------------------------------------------------------------------


def test_compose_serves_on_loopback_and_requires_tokens() -> None:
    mcp = compose()["services"]["mcp"]
    assert mcp["ports"] == ["127.0.0.1:8000:8000"]
    assert mcp["environment"]["IMAGE_MCP_AUTH_TOKENS"].startswith("${IMAGE_MCP_AUTH_TOKENS:?")
    assert (mcp["read_only"], mcp["tmpfs"], mcp["restart"]) == (True, ["/tmp"], "unless-stopped")
    grace = float(mcp["stop_grace_period"].removesuffix("s"))
    assert grace > Settings.model_fields["shutdown_grace_s"].default


def test_the_replicas_profile_shares_redis_behind_the_proxy() -> None:
    services = compose()["services"]
    replicas = services["mcp-replicas"]
    assert replicas["profiles"] == ["replicas"]
    assert replicas["environment"]["IMAGE_MCP_REDIS_URL"] == "redis://redis:6379/0"
    assert replicas["environment"]["IMAGE_MCP_CACHE_REDIS_URL"] == "redis://redis-cache:6379/0"
    assert services["redis"]["image"] == "redis:7-alpine"
    (volume,) = services["proxy"]["volumes"]
    config = ROOT / volume.split(":")[0]
    assert "name mcp-replicas" in config.read_text()


# --- .env.example -----------------------------------------------------------------------------


def compose_variables() -> set[str]:
    """Variables compose.yaml reads from .env that are not server settings."""
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "compose.yaml").read_text()))
    return used - set(env_names().values())


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    names = set(env_names().values()) | compose_variables()
    assert names <= listed, names - listed
    assert listed <= names, listed - names


def example_defaults() -> dict[str, str]:
    """The commented `# NAME=value` lines: the documented default of each optional setting."""
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^# ([A-Z][A-Z0-9_]+)=(.*)$", text, re.M))


def test_env_example_shows_the_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {env: field for field, env in env_names().items()}
    for name in fields:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name, value in example_defaults().items():
        if name in compose_variables():
            continue
        field = fields[name]
        if value:
            monkeypatch.setenv(name, value)
            documented = Settings(_env_file=None)  # type: ignore[call-arg]
            monkeypatch.delenv(name)
            assert getattr(documented, field) == getattr(defaults, field), name
        else:
            assert getattr(defaults, field) in (None, []), name
