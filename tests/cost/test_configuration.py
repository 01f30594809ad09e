"""The cost-control settings are checked when the server starts, never at the first call."""

from __future__ import annotations

import pytest
from limits import parse_many
from pydantic import ValidationError

from openrouter_image_mcp.cli import describe_invalid_settings
from openrouter_image_mcp.cost.redis_state import limits_uri
from openrouter_image_mcp.logs import Redactor, secrets_of
from openrouter_image_mcp.settings import Settings


@pytest.mark.parametrize(
    "spec",
    [
        "60/minute",
        "10/second;300/hour",
        "5 per 2 seconds",
        " 1 PER 3 Hours | 7/day, 100 / 2 months;1/year ",
        "3per minute",
    ],
)
def test_rate_limits_in_the_limits_syntax_are_accepted_and_read_alike_by_limits(
    spec: str,
) -> None:
    # Settings check the notation without importing `limits`; the library reads it on the
    # first call and must find the same limits there.
    assert Settings(_env_file=None, transport="stdio", rate_limit=spec).rate_limit == spec
    assert all(item.amount >= 1 for item in parse_many(spec))


@pytest.mark.parametrize("spec", ["60/fortnight", "60/minute;", "1/second,,2/hour", "-1/hour"])
def test_rate_limits_limits_would_refuse_are_refused_at_start(spec: str) -> None:
    with pytest.raises(ValueError, match=r"parse|granularity"):
        parse_many(spec)
    with pytest.raises(ValidationError, match="write it like '60/minute'"):
        Settings(_env_file=None, transport="stdio", rate_limit=spec)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("rate_limit", "lots", "write it like '60/minute'"),
        ("rate_limit", "", "write it like '60/minute'"),
        ("redis_url", "http://:hunter2@cache:6379", "start it with redis://"),
        ("cache_redis_url", "http://:hunter2@cache:6379", "start it with redis://"),
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


def test_a_cache_redis_without_the_shared_redis_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, transport="stdio", cache_redis_url="redis://:hunter2@cache:6379")

    report = describe_invalid_settings(raised.value)
    assert "IMAGE_MCP_CACHE_REDIS_URL is set without IMAGE_MCP_REDIS_URL" in report
    assert "hunter2" not in report


def test_both_redis_urls_are_redacted_from_logs() -> None:
    state, cache = "redis://:state-pw@state:6379/0", "redis://:cache-pw@cache:6379/0"
    settings = Settings(_env_file=None, transport="stdio", redis_url=state, cache_redis_url=cache)

    line = Redactor(secrets_of(settings)).redact(f"cannot reach {state} nor {cache}")

    assert line == "cannot reach [redacted] nor [redacted]"


def test_a_review_length_left_at_its_default_is_capped_by_a_lower_ceiling() -> None:
    settings = Settings(_env_file=None, transport="stdio", max_tokens_ceiling=3000)
    assert settings.review_max_tokens > settings.max_tokens_ceiling  # tools cap it per call
