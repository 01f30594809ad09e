"""The cost-control settings are checked when the server starts, never at the first call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from openrouter_image_mcp.cli import describe_invalid_settings
from openrouter_image_mcp.cost.state import limits_uri
from openrouter_image_mcp.settings import Settings


@pytest.mark.parametrize("spec", ["60/minute", "10/second;300/hour", "5 per 2 seconds"])
def test_rate_limits_in_the_limits_syntax_are_accepted(spec: str) -> None:
    assert Settings(_env_file=None, transport="stdio", rate_limit=spec).rate_limit == spec


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("rate_limit", "lots", "write it like '60/minute'"),
        ("rate_limit", "", "write it like '60/minute'"),
        ("redis_url", "http://:hunter2@cache:6379", "start it with redis://"),
    ],
)
def test_bad_values_name_the_variable_and_never_echo_the_value(
    field: str, value: str, says: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, transport="stdio", **{field: value})

    report = describe_invalid_settings(raised.value)
    assert f"IMAGE_MCP_{field.upper()}" in report
    assert says in report
    assert "hunter2" not in report


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@cache:6379/2", "async+redis://:pw@cache:6379/2"),
        ("rediss://cache:6380", "async+rediss://cache:6380"),
        ("unix:///run/redis.sock?db=1", "async+redis+unix:///run/redis.sock?db=1"),
    ],
)
def test_redis_urls_are_spelled_for_the_limits_library(url: str, expected: str) -> None:
    assert limits_uri(url) == expected


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {"IMAGE_MCP_ALLOWED_MODELS": "openai/gpt-4o,openai/gpt-5-mini"},
            ["IMAGE_MCP_ALLOWED_MODELS", "OPENROUTER_DEFAULT_MODEL"],
        ),
        ({"IMAGE_MCP_RATE_LIMIT": "0/minute"}, ["IMAGE_MCP_RATE_LIMIT", "allows no calls"]),
        ({"IMAGE_MCP_RATE_LIMIT": "10/second;0/hour"}, ["IMAGE_MCP_RATE_LIMIT"]),
        (
            {"IMAGE_MCP_REVIEW_MAX_TOKENS": "9000"},
            ["IMAGE_MCP_REVIEW_MAX_TOKENS", "IMAGE_MCP_MAX_TOKENS_CEILING"],
        ),
        ({"IMAGE_MCP_MAX_COST_PER_CALL_USD": "0"}, ["IMAGE_MCP_MAX_COST_PER_CALL_USD"]),
        ({"IMAGE_MCP_MAX_QUESTION_CHARS": "0"}, ["IMAGE_MCP_MAX_QUESTION_CHARS"]),
    ],
)
def test_contradictory_settings_stop_the_command_with_one_line_naming_them(
    env: dict[str, str], names: list[str], tmp_path: Path
) -> None:
    secret = "sk-or-v1-configuration-test-" + "9" * 20
    proc = subprocess.run(
        [sys.executable, "-m", "openrouter_image_mcp"],
        env={"PATH": "/usr/bin:/bin", "OPENROUTER_API_KEY": secret, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert proc.returncode == 2
    assert proc.stdout == ""
    problems = proc.stderr.splitlines()[1:]  # after the "invalid configuration:" heading
    assert len(problems) == 1
    assert all(name in problems[0] for name in names), problems
    assert secret not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_review_length_left_at_its_default_is_capped_by_a_lower_ceiling() -> None:
    settings = Settings(_env_file=None, transport="stdio", max_tokens_ceiling=3000)
    assert settings.review_max_tokens > settings.max_tokens_ceiling  # tools cap it per call
