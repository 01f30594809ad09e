"""compose's `public` profile and the Caddyfiles: TLS in front, limits at the door, safe Redis."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from openrouter_image_mcp.settings import Settings
from tests.deploy.helpers import (
    NANOSECONDS,
    ROOT,
    compose,
    environment,
    redis_options,
    server_environment,
    tool,
)

DOT_ENV = {  # what an operator's .env gives compose
    "MCP_DOMAIN": "mcp.example.com",
    "IMAGE_MCP_AUTH_TOKENS": "alice:" + "a1" * 16,
}
CADDYFILES = sorted(path.name for path in (ROOT / "deploy").glob("Caddyfile*"))


def defaults() -> Settings:
    return Settings(_env_file=None, transport="stdio")  # type: ignore[call-arg]


def services_in(profile: str) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if profile in service.get("profiles", [])
    }


def service_mounting(caddyfile: str) -> str:
    """The compose service that runs `deploy/<caddyfile>`."""
    (name,) = [
        name
        for name, service in compose()["services"].items()
        if any(volume.startswith(f"./deploy/{caddyfile}:") for volume in service.get("volumes", []))
    ]
    return name


def caddy(command: str, caddyfile: str) -> subprocess.CompletedProcess[str]:
    """`caddy <command>` on a Caddyfile, with the environment compose gives its service."""
    binary = tool("caddy", "the caddy package (apt install caddy)")
    env = {**os.environ, **environment(service_mounting(caddyfile), DOT_ENV)}
    return subprocess.run(
        [binary, command, "--adapter", "caddyfile", "--config", f"deploy/{caddyfile}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def redis_service_options(service: str) -> dict[str, str]:
    command = [str(part) for part in compose()["services"][service]["command"]]
    assert command[0] == "redis-server"
    return redis_options(command[1:])


@pytest.mark.parametrize("caddyfile", CADDYFILES)
def test_every_caddyfile_is_valid_as_compose_runs_it(caddyfile: str) -> None:
    result = caddy("validate", caddyfile)
    assert result.returncode == 0, result.stderr


def public_proxy() -> dict[str, Any]:
    result = caddy("adapt", "Caddyfile.public")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["apps"]["http"]["servers"]["srv0"]


def test_the_public_proxy_serves_https_for_the_domain_and_cuts_off_slow_clients() -> None:
    server = public_proxy()
    settings = defaults()
    # The longest tool call: a queue wait, a download, preparation (30 s allowed for it) and a
    # model call plus one repair request.
    longest_call_s = (
        settings.queue_timeout_s + settings.fetch_timeout_s + 30 + 2 * settings.upstream_timeout_s
    )

    assert server["listen"] == [":443"]
    (route,) = server["routes"]
    assert route["match"] == [{"host": [DOT_ENV["MCP_DOMAIN"]]}]
    assert 0 < server["read_header_timeout"] <= 15 * NANOSECONDS
    assert 0 < server["read_timeout"] <= 120 * NANOSECONDS
    assert server["write_timeout"] >= longest_call_s * NANOSECONDS
    assert 0 < server["idle_timeout"] <= 300 * NANOSECONDS
    assert 0 < server["max_header_bytes"] <= 64 * 1024
    assert server["protocols"] == ["h1", "h2"]  # TCP only, where those timeouts apply


def public_handlers() -> dict[str, dict[str, Any]]:
    (route,) = public_proxy()["routes"]
    (subroute,) = route["handle"]
    (inner,) = subroute["routes"]
    return {handler["handler"]: handler for handler in inner["handle"]}


def test_the_public_proxy_refuses_bodies_the_server_would_refuse() -> None:
    server_env = environment("mcp-public", DOT_ENV)
    caddy_env = environment("caddy", DOT_ENV)
    limit = int(server_env["IMAGE_MCP_MAX_REQUEST_BYTES"])

    assert caddy_env["IMAGE_MCP_MAX_REQUEST_BYTES"] == server_env["IMAGE_MCP_MAX_REQUEST_BYTES"]
    assert limit == defaults().effective_max_request_bytes
    assert public_handlers()["request_body"]["max_size"] == limit


def test_the_public_proxy_balances_over_every_replica_and_streams_events() -> None:
    proxy = public_handlers()["reverse_proxy"]

    assert proxy["dynamic_upstreams"]["name"] in services_in("public")
    assert int(proxy["dynamic_upstreams"]["port"]) == defaults().port
    assert proxy["flush_interval"] == -1  # progress notifications are not held back
    assert proxy["health_checks"]["passive"]["unhealthy_request_count"] > 0
    assert proxy["load_balancing"]["try_duration"] <= 10 * NANOSECONDS
    # Connections to a replica are dropped before uvicorn drops them as idle.
    keep_alive = uvicorn.Config(app=None).timeout_keep_alive
    assert proxy["transport"]["keep_alive"]["idle_timeout"] < keep_alive * NANOSECONDS


def test_only_the_proxy_publishes_ports_in_the_public_profile() -> None:
    public = services_in("public")
    published = {name: service["ports"] for name, service in public.items() if "ports" in service}

    assert list(published) == ["caddy"]
    assert sorted(published["caddy"]) == ["443:443", "80:80"]
    assert "expose" not in public["mcp-public"]


def test_the_public_server_starts_with_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose's environment for the server, on top of the image's, passes the settings check."""
    service = compose()["services"]["mcp-public"]
    assert service["read_only"] is True
    server_environment(
        monkeypatch, {"IMAGE_MCP_HOST": "0.0.0.0", **environment("mcp-public", DOT_ENV)}
    )

    settings = Settings()

    assert settings.allowed_origins == [f"https://{DOT_ENV['MCP_DOMAIN']}"]
    assert settings.stateless_http
    assert [token.client for token in settings.auth_tokens] == ["alice"]


@pytest.mark.parametrize("server", ["mcp-replicas", "mcp-public"])
def test_limits_and_budgets_live_in_a_redis_that_never_evicts(server: str) -> None:
    service = compose()["services"][server]
    env = environment(server, DOT_ENV)
    state = urlsplit(env["IMAGE_MCP_REDIS_URL"]).hostname
    cache = urlsplit(env["IMAGE_MCP_CACHE_REDIS_URL"]).hostname
    assert state is not None
    assert cache is not None

    assert state != cache
    assert redis_service_options(state)["maxmemory-policy"] == "noeviction"
    assert redis_service_options(state)["appendonly"] == "yes"  # budgets survive a restart
    assert redis_service_options(cache)["maxmemory-policy"] == "allkeys-lru"
    assert redis_service_options(cache)["maxmemory"] not in {"0", ""}
    assert service["depends_on"] == {
        state: {"condition": "service_healthy"},
        cache: {"condition": "service_healthy"},
    }
    assert {server, state, cache} <= set(services_in(server.removeprefix("mcp-")))
