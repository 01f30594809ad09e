"""Settings: the environment names are a public interface, and bad values fail clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from openrouter_image_mcp.settings import MIB, Settings

SECRET = "sk-or-v1-settings-test-secret-0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_MODEL", "OPENROUTER_DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_safe_for_a_laptop() -> None:
    settings = Settings()
    assert settings.transport == "http"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.openrouter_base_url == "https://openrouter.ai/api/v1"
    assert settings.max_image_bytes == 20 * MIB
    assert settings.max_pixels == 50_000_000
    assert settings.effective_file_roots == ()  # file input is off over http by default
    assert settings.api_key is None


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setenv("OPENROUTER_MODEL", "openai/gpt-5-mini")
    monkeypatch.setenv("IMAGE_MCP_ALLOWED_HOSTS", "images.example.com, *.cdn.example.com")
    monkeypatch.setenv("IMAGE_MCP_FILE_ROOTS", str(tmp_path))
    monkeypatch.setenv("IMAGE_MCP_AUTH_TOKENS", "alice:" + "a" * 32 + ", ci:" + "b" * 32)
    monkeypatch.setenv("IMAGE_MCP_PORT", "9001")
    settings = Settings()
    assert settings.api_key == SECRET
    assert settings.default_model == "openai/gpt-5-mini"
    assert settings.allowed_hosts == ["images.example.com", "*.cdn.example.com"]
    assert settings.effective_file_roots == (tmp_path.resolve(),)
    assert [t.client for t in settings.auth_tokens] == ["alice", "ci"]
    assert settings.port == 9001
    assert SECRET not in repr(settings)
    assert "a" * 32 not in repr(settings)


def test_default_model_name_wins_over_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_DEFAULT_MODEL", "google/gemini-2.5-flash-lite")
    assert Settings().default_model == "google/gemini-2.5-flash-lite"


def test_stdio_reads_the_working_directory_but_never_the_filesystem_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings(transport="stdio").effective_file_roots == (tmp_path,)
    monkeypatch.chdir("/")
    assert Settings(transport="stdio").effective_file_roots == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IMAGE_MCP_PORT": "eighty"}, "IMAGE_MCP_PORT"),
        ({"IMAGE_MCP_HOST": "0.0.0.0"}, "IMAGE_MCP_AUTH_TOKENS is empty"),
        ({"IMAGE_MCP_FILE_ROOTS": "/"}, "IMAGE_MCP_ALLOW_FILESYSTEM_ROOT"),
        ({"IMAGE_MCP_FILE_ROOTS": "/tmp,,"}, "IMAGE_MCP_FILE_ROOTS"),
        ({"IMAGE_MCP_FILE_ROOTS": "/tmp,/no/such/dir"}, "IMAGE_MCP_FILE_ROOTS: directory #2 does"),
        (
            {"IMAGE_MCP_AUTH_TOKENS": "alice:" + "a" * 32 + "," + "b" * 32},
            "IMAGE_MCP_AUTH_TOKENS: token #2 has no",
        ),
        ({"IMAGE_MCP_AUTH_TOKENS": ":" + "b" * 32}, "token #1 has no name"),
        ({"IMAGE_MCP_AUTH_TOKENS": "alice:short"}, "shorter than 8"),
        ({"OPENROUTER_BASE_URL": "ftp://example.com"}, "OPENROUTER_BASE_URL"),
        ({"IMAGE_MCP_TRANSPORT": "websocket"}, "IMAGE_MCP_TRANSPORT"),
        ({"IMAGE_MCP_OAUTH_ISSUER": "http://id.example.com"}, "IMAGE_MCP_OAUTH_ISSUER"),
        ({"IMAGE_MCP_OAUTH_ISSUER": "https://id.example.com"}, "IMAGE_MCP_PUBLIC_URL is not"),
        (
            {"IMAGE_MCP_ALLOWED_MODELS": "openai/gpt-4o"},
            "IMAGE_MCP_ALLOWED_MODELS does not include OPENROUTER_DEFAULT_MODEL",
        ),
        ({"IMAGE_MCP_RATE_LIMIT": "10/second;0/hour"}, "IMAGE_MCP_RATE_LIMIT: allows no calls"),
        (
            {"IMAGE_MCP_REVIEW_MAX_TOKENS": "9000"},
            "IMAGE_MCP_REVIEW_MAX_TOKENS is above IMAGE_MCP_MAX_TOKENS_CEILING",
        ),
        ({"IMAGE_MCP_MAX_COST_PER_CALL_USD": "0"}, "IMAGE_MCP_MAX_COST_PER_CALL_USD"),
        ({"IMAGE_MCP_MAX_QUESTION_CHARS": "0"}, "IMAGE_MCP_MAX_QUESTION_CHARS"),
        ({"IMAGE_MCP_PREPARE_TIMEOUT_S": "0"}, "IMAGE_MCP_PREPARE_TIMEOUT_S"),
        ({"IMAGE_MCP_PREPARE_MEMORY_MB": "64"}, "IMAGE_MCP_PREPARE_MEMORY_MB"),
        ({"IMAGE_MCP_MAX_IMAGES_PER_CALL": "0"}, "IMAGE_MCP_MAX_IMAGES_PER_CALL"),
        ({"IMAGE_MCP_MAX_TILES": "0"}, "IMAGE_MCP_MAX_TILES"),
        ({"IMAGE_MCP_PROVIDER_SORT": "cheapest"}, "IMAGE_MCP_PROVIDER_SORT"),
        ({"IMAGE_MCP_PROVIDER_DATA_COLLECTION": "never"}, "IMAGE_MCP_PROVIDER_DATA_COLLECTION"),
        ({"IMAGE_MCP_PROVIDER_ZDR": "maybe"}, "IMAGE_MCP_PROVIDER_ZDR"),
        (
            {
                "IMAGE_MCP_ALLOWED_MODELS": "google/gemini-2.5-flash",
                "IMAGE_MCP_FALLBACK_MODELS": "openai/gpt-5-mini",
            },
            "IMAGE_MCP_FALLBACK_MODELS names models IMAGE_MCP_ALLOWED_MODELS does not allow",
        ),
        (
            {"IMAGE_MCP_PROVIDER_ORDER": "anthropic,openai", "IMAGE_MCP_PROVIDER_IGNORE": "openai"},
            "IMAGE_MCP_PROVIDER_ORDER and IMAGE_MCP_PROVIDER_IGNORE both name openai",
        ),
    ],
)
def test_bad_configuration_stops_the_command_with_a_clear_line(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    full_env = {"PATH": "/usr/bin:/bin", "OPENROUTER_API_KEY": SECRET, **env}
    proc = subprocess.run(
        [sys.executable, "-m", "openrouter_image_mcp"],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()  # one line: the variable and what to do
    assert line.startswith("invalid configuration: ")
    assert message in line
    assert proc.stdout == ""
    assert SECRET not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_public_bind_is_allowed_when_deliberate() -> None:
    settings = Settings(host="0.0.0.0", allow_unauthenticated=True)
    assert not settings.binds_loopback
