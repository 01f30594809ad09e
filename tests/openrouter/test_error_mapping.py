"""Every documented OpenRouter error form, served by the fake, becomes its stable code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.openrouter import OpenRouterClient
from openrouter_image_mcp.openrouter.mapping import clean, read_error, to_failure
from tests import fake_openrouter as f
from tests.openrouter.conftest import image_request


@dataclass(frozen=True)
class Case:
    behaviour: Callable[[], f.Behaviour]  # built when the test runs: some carry timestamps
    code: ErrorCode
    retryable: bool
    retry_after_s: float | None = None
    says: str = ""  # a phrase the message must contain


CASES = {
    "401-no-credentials": Case(
        f.no_auth_credentials, ErrorCode.UPSTREAM_AUTH, False, None, "OPENROUTER_API_KEY"
    ),
    "401-user-not-found": Case(
        f.user_not_found, ErrorCode.UPSTREAM_AUTH, False, None, "User not found."
    ),
    "402-credits": Case(
        lambda: f.insufficient_credits("openrouter_credits"),
        ErrorCode.UPSTREAM_CREDITS,
        False,
        None,
        "add credits",
    ),
    "402-key-limit": Case(
        lambda: f.insufficient_credits("openrouter_key_limit"),
        ErrorCode.UPSTREAM_CREDITS,
        False,
        None,
        "raise the key's limit",
    ),
    "402-in-flight": Case(
        lambda: f.insufficient_credits("in_flight_budget", "3"),
        ErrorCode.UPSTREAM_CREDITS,
        True,
        3,
        "retry",
    ),
    "403-moderation": Case(
        lambda: f.moderation_flagged(["violence", "hate"]),
        ErrorCode.UPSTREAM_REFUSED,
        False,
        None,
        "(violence, hate)",
    ),
    "403-guardrail": Case(
        f.guardrail_blocked, ErrorCode.UPSTREAM_AUTH, False, None, "Prompt injection detected"
    ),
    "404-no-image-endpoints": Case(
        f.no_image_endpoints, ErrorCode.MODEL_NO_VISION, False, None, "vision model"
    ),
    "404-model": Case(f.model_not_found, ErrorCode.MODEL_NOT_FOUND, False, None, "acme/ghost-1"),
    "400-model-id": Case(f.invalid_model_id, ErrorCode.MODEL_NOT_FOUND, False, None, "not-a-model"),
    "400-download": Case(
        lambda: f.image_error("image_download_failed"),
        ErrorCode.FETCH_FAILED,
        True,
        None,
        "publicly reachable",
    ),
    "404-image-not-found": Case(
        lambda: f.image_error("image_not_found"),
        ErrorCode.FETCH_FAILED,
        False,
        None,
        "check the URL",
    ),
    "400-invalid-image": Case(
        lambda: f.image_error("invalid_image"), ErrorCode.INVALID_INPUT, False, None, "valid PNG"
    ),
    "400-image-too-large": Case(
        lambda: f.image_error("image_too_large"),
        ErrorCode.RESOURCE_TOO_LARGE,
        False,
        None,
        "smaller",
    ),
    "400-image-too-small": Case(
        lambda: f.image_error("image_too_small"), ErrorCode.INVALID_INPUT, False, None, "larger"
    ),
    "400-image-format": Case(
        lambda: f.image_error("unsupported_image_format"),
        ErrorCode.UNSUPPORTED_FORMAT,
        False,
        None,
        "PNG, JPEG, WebP or GIF",
    ),
    "400-other": Case(
        lambda: f.Fail(400, f.error_body(400, "max_tokens too big")),
        ErrorCode.INVALID_INPUT,
        False,
        None,
        "max_tokens too big",
    ),
    "408": Case(f.request_timeout, ErrorCode.UPSTREAM_TIMEOUT, True),
    "413": Case(f.payload_too_large, ErrorCode.RESOURCE_TOO_LARGE, False, None, "30MB"),
    "429-reset": Case(
        lambda: f.rate_limited(reset_in_s=42),
        ErrorCode.UPSTREAM_RATE_LIMITED,
        True,
        42,
        "free-models-per-min",
    ),
    "429-retry-after": Case(
        lambda: f.rate_limited(retry_after="1"), ErrorCode.UPSTREAM_RATE_LIMITED, True, 1
    ),
    "500-html": Case(
        lambda: f.Raw(500, b"<html>Internal error</html>"), ErrorCode.UPSTREAM_UNAVAILABLE, True
    ),
    "502-provider": Case(
        lambda: f.provider_error(raw="overloaded, try later"),
        ErrorCode.UPSTREAM_UNAVAILABLE,
        True,
        None,
        "FakeProvider said: overloaded",
    ),
    "503": Case(f.no_provider, ErrorCode.UPSTREAM_UNAVAILABLE, True, None, "No allowed providers"),
    "503-retry-after": Case(
        lambda: f.no_provider(retry_after="7"), ErrorCode.UPSTREAM_UNAVAILABLE, True, 7
    ),
    "200-error-502": Case(f.error_in_200, ErrorCode.UPSTREAM_UNAVAILABLE, True),
    "200-error-429": Case(
        lambda: f.error_in_200(429, "slow down"),
        ErrorCode.UPSTREAM_RATE_LIMITED,
        True,
        None,
        "slow down",
    ),
    "200-error-402": Case(
        lambda: f.error_in_200(402, "no credits"), ErrorCode.UPSTREAM_CREDITS, False
    ),
    "200-error-no-code": Case(
        lambda: f.Fail(200, {"message": "boom"}), ErrorCode.UPSTREAM_UNAVAILABLE, True, None, "boom"
    ),
    "200-choice-error": Case(
        f.choice_error, ErrorCode.UPSTREAM_UNAVAILABLE, True, None, "mid-answer"
    ),
    "200-finish-error": Case(
        lambda: f.Reply(content="", finish_reason="error"), ErrorCode.UPSTREAM_UNAVAILABLE, True
    ),
    "200-late-error": Case(
        lambda: f.KeepAlive(0.15, then=f.error_in_200(503, "gone"), interval_s=0.05),
        ErrorCode.UPSTREAM_UNAVAILABLE,
        True,
        None,
        "gone",
    ),
    "200-content-filter": Case(
        f.content_filtered, ErrorCode.UPSTREAM_REFUSED, False, None, "content filter"
    ),
    "200-refusal": Case(
        f.refused, ErrorCode.UPSTREAM_REFUSED, False, None, "I can't help with that."
    ),
    "200-reasoning-cutoff": Case(
        f.reasoning_cutoff, ErrorCode.REASONING_CUTOFF, False, None, "raise max_tokens"
    ),
    "200-empty": Case(
        lambda: f.Reply(content=""), ErrorCode.UPSTREAM_UNAVAILABLE, True, None, "empty answer"
    ),
    "200-not-json": Case(
        lambda: f.Raw(200, b"<html>maintenance</html>"), ErrorCode.UPSTREAM_UNAVAILABLE, True
    ),
    "200-no-choices": Case(
        lambda: f.Raw(200, b'{"id": "gen-1"}', "application/json"),
        ErrorCode.UPSTREAM_UNAVAILABLE,
        True,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_error_form_maps_to_its_code(
    fake: f.FakeOpenRouter, make_client: Callable[..., OpenRouterClient], case: Case
) -> None:
    fake.script(case.behaviour())
    client = make_client(upstream_max_retries=0)

    with pytest.raises(ToolFailure) as caught:
        await client.complete(image_request())

    failure = caught.value
    assert (failure.code, failure.retryable) == (case.code, case.retryable)
    if case.retry_after_s is None:
        assert failure.retry_after_s is None
    else:
        assert failure.retry_after_s == pytest.approx(case.retry_after_s, abs=1.5)
    assert case.says in failure.message
    assert "\n" not in failure.message
    assert fake.api_key not in str(failure)
    assert fake.api_key not in str(failure.to_payload())
    assert len(fake.completions) == 1


async def test_upstream_text_echoing_the_key_is_redacted(
    fake: f.FakeOpenRouter, make_client: Callable[..., OpenRouterClient]
) -> None:
    echo = f"bad key {fake.api_key}, header was Bearer {fake.api_key}"
    fake.script(f.Fail(401, f.error_body(401, echo)), f.provider_error(raw=echo))
    client = make_client(upstream_max_retries=0)

    for _ in range(2):
        with pytest.raises(ToolFailure) as caught:
            await client.complete(image_request())
        assert fake.api_key not in str(caught.value)
        assert "[redacted]" in caught.value.message


@pytest.mark.parametrize(
    "payload",
    [
        {"error": {"code": 400, "message": "bad", "metadata": {"error_type": "image_too_small"}}},
        {"error": {"code": 400, "message": "bad", "type": "image_too_small"}},
        {"error": {"code": 400, "message": "bad"}, "error_type": "image_too_small"},
        {"error": {"code": "image_too_small", "message": "bad"}},
        {"error": {"code": 400, "message": "image_too_small: need 32x32"}},
    ],
    ids=["metadata", "error.type", "top-level", "string-code", "message-only"],
)
def test_typed_image_error_is_found_wherever_it_is(payload: dict[str, object]) -> None:
    failure = to_failure(read_error(payload, http_status=400))

    assert failure.code == ErrorCode.INVALID_INPUT
    assert "minimum size" in failure.message


def test_error_without_a_body_maps_by_status() -> None:
    assert to_failure(read_error(None, http_status=401)).code == ErrorCode.UPSTREAM_AUTH
    assert to_failure(read_error(None, http_status=504)).code == ErrorCode.UPSTREAM_UNAVAILABLE
    assert to_failure(read_error(None, http_status=302)).code == ErrorCode.UPSTREAM_UNAVAILABLE
    assert to_failure(read_error(None, http_status=418)).code == ErrorCode.INVALID_INPUT


def test_clean_makes_upstream_text_one_safe_bounded_line() -> None:
    assert clean("a\n  b\tc") == "a b c"
    assert clean("token sk-or-v1-abcdef123456 leaked") == "token [redacted] leaked"
    assert clean("x" * 500, limit=10) == "x" * 9 + "…"
    assert clean(None) == ""


def test_upstream_text_in_messages_loses_control_characters() -> None:
    payload = {
        "error": {
            "code": 502,
            "message": "Provider\x1b[2J returned\u202e error\x07",
            "metadata": {
                "provider_name": "Fake\u200bProvider",
                "raw": '{"error":"over\x1b]0;owned\x07loaded\\n\x9b31m"}\r\nIgnore this',
            },
        }
    }
    failure = to_failure(read_error(payload, http_status=502))
    assert failure.code == ErrorCode.UPSTREAM_UNAVAILABLE
    assert "(OpenRouter: Provider returned error)" in failure.message
    assert 'FakeProvider said: {"error":"overloaded\\n"} Ignore this' in failure.message
    assert failure.message.isprintable()
