"""Every error code, driven through the analyze_image tool by the matching input or upstream
fault: an error result with a stable code, a one-line message, and nothing leaked."""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from typing import Any

import pytest

from openrouter_image_mcp.imaging.workers import ImageWorkers
from tests import fake_openrouter as upstream
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import call, data_url, error_code, in_memory_client, png_bytes, text_of


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


INPUT_FAULTS: dict[str, tuple[str, dict[str, Any], str]] = {
    # name: (image_path, settings overrides, expected code)
    "missing file": ("{root}/missing.png", {}, "INVALID_INPUT"),
    "file outside the roots": ("/etc/hostname", {}, "UNSAFE_PATH"),
    "cloud metadata address": ("http://169.254.169.254/latest/meta-data/", {}, "BLOCKED_HOST"),
    "connection refused": (
        f"http://127.0.0.1:{closed_port()}/a.png",
        {"allowed_hosts": ["127.0.0.1"]},
        "FETCH_FAILED",
    ),
    "inline image over the size cap": (
        data_url(b"\x89PNG" + bytes(8000)),
        {"max_image_bytes": 2048},
        "RESOURCE_TOO_LARGE",
    ),
    "html posing as an image": (
        data_url(b"<!doctype html><html><body>hello</body></html>"),
        {},
        "UNSUPPORTED_FORMAT",
    ),
    "no API key": (data_url(png_bytes()), {"openrouter_api_key": None}, "CONFIG_ERROR"),
}

UPSTREAM_FAULTS: dict[str, tuple[upstream.Behaviour, str]] = {
    "401 user not found": (upstream.user_not_found(), "UPSTREAM_AUTH"),
    "402 no credits": (upstream.insufficient_credits(), "UPSTREAM_CREDITS"),
    "429 rate limited": (upstream.rate_limited(), "UPSTREAM_RATE_LIMITED"),
    "403 moderation": (upstream.moderation_flagged(), "UPSTREAM_REFUSED"),
    "content filter": (upstream.content_filtered(), "UPSTREAM_REFUSED"),
    "invalid model id": (upstream.invalid_model_id(), "MODEL_NOT_FOUND"),
    "no image endpoints": (upstream.no_image_endpoints(), "MODEL_NO_VISION"),
    "keep-alive past the deadline": (upstream.KeepAlive(seconds=3), "UPSTREAM_TIMEOUT"),
    "503 no provider": (upstream.no_provider(), "UPSTREAM_UNAVAILABLE"),
    "200 with an error body": (upstream.error_in_200(), "UPSTREAM_UNAVAILABLE"),
    "reasoning cut off": (upstream.reasoning_cutoff(), "REASONING_CUTOFF"),
}


def assert_clean_error(result: Any, code: str, fake: FakeOpenRouter) -> None:
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == code
    assert isinstance(error["retryable"], bool)
    message = error["message"]
    assert message
    assert "\n" not in message
    assert text_of(result) == f"{code}: {message}"
    for leak in (fake.api_key, "Traceback", "site-packages", "openrouter_image_mcp/"):
        assert leak not in text_of(result)


@pytest.mark.parametrize("fault", list(INPUT_FAULTS))
async def test_input_faults(fault: str, fake: FakeOpenRouter, tmp_path: Path) -> None:
    image_path, overrides, code = INPUT_FAULTS[fault]
    settings = fake.settings(transport="stdio", file_roots=[tmp_path], **overrides)
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=image_path.replace("{root}", str(tmp_path)))
        assert_clean_error(result, code, fake)
        assert fake.completions == []  # refused before anything reached the upstream
        healthy = await call(client, image_path=data_url(png_bytes()))
    assert not healthy.is_error or code == "CONFIG_ERROR"


@pytest.mark.parametrize("fault", list(UPSTREAM_FAULTS))
async def test_upstream_faults(fault: str, fake: FakeOpenRouter) -> None:
    behaviour, code = UPSTREAM_FAULTS[fault]
    settings = fake.settings(transport="stdio", upstream_max_retries=0, upstream_timeout_s=1)
    fake.script(behaviour)
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=data_url(png_bytes()))
        assert_clean_error(result, code, fake)
        # The failure was not cached: the same call reaches the upstream again and succeeds.
        again = await call(client, image_path=data_url(png_bytes()))
    assert not again.is_error
    assert len(fake.completions) == 2


async def test_retryable_upstream_errors_say_when_to_retry(fake: FakeOpenRouter) -> None:
    fake.script(upstream.rate_limited(retry_after="30"))
    settings = fake.settings(transport="stdio", upstream_max_retries=0)
    async with in_memory_client(settings) as client:
        result = await call(client, image_path=data_url(png_bytes()))
    error = result.structured_content["error"]
    assert error["retryable"] is True
    assert error["retry_after_s"] == pytest.approx(30, abs=1)


async def test_unexpected_exceptions_become_internal_without_details(
    fake: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: object) -> None:
        raise RuntimeError("/srv/app/secret_module.py exploded with sk-or-v1-leak")

    monkeypatch.setattr(ImageWorkers, "prepare", explode)
    async with in_memory_client(fake.settings(transport="stdio")) as client:
        result = await call(client, image_path=data_url(png_bytes()))
    assert error_code(result) == "INTERNAL"
    assert "secret_module" not in text_of(result)
    assert "sk-or-v1-leak" not in text_of(result)


async def test_invalid_arguments_are_rejected_before_any_work(fake: FakeOpenRouter) -> None:
    async with in_memory_client(fake.settings(transport="stdio")) as client:
        result = await call(client, image_path=data_url(png_bytes()), temperature=7)
    assert result.is_error
    assert fake.completions == []


async def test_bare_base64_that_is_not_an_image(fake: FakeOpenRouter) -> None:
    text = base64.b64encode(b"just some text, certainly not a picture" * 4).decode()
    async with in_memory_client(fake.settings(transport="stdio")) as client:
        result = await call(client, image_path=text)
    assert error_code(result) == "UNSUPPORTED_FORMAT"
