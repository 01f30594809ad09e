"""The streamed request body is byte for byte what json.dumps would send, on every attempt."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest

from openrouter_image_mcp.openrouter import ChatRequest, image_message
from openrouter_image_mcp.openrouter.body import SLICE_CHARS, JsonBody

LARGE_URL = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 9000).decode()


def compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


BODIES = {
    "small image": ChatRequest(
        "m", [image_message("What is it?", "data:image/png;base64,iVBORw0KGgo=", "auto")], 10
    ).as_body(),
    "image larger than a slice": ChatRequest(
        "m", [image_message('Ünïcode "quoted" \\ text', LARGE_URL, "high")], 10, 0
    ).as_body(),
    "repair turn with two images and JSON text": {
        "model": "m",
        "messages": [
            image_message("first", "data:image/jpeg;base64,/9j/4AAQ", "low"),
            {"role": "assistant", "content": '{"a": "data:image/png;base64,AAAA"}'},
            image_message("again", "data:image/jpeg;base64,/9j/4AAQ", "low"),
        ],
        "response_format": {"type": "json_schema", "json_schema": {"strict": True}},
    },
    "a URL that is not plain base64 is encoded normally": {
        "messages": [image_message("x", 'data:image/png;base64,"quote"\n', "auto")]
    },
    "no image at all": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
}


@pytest.mark.parametrize("name", list(BODIES))
def test_streamed_bytes_equal_plain_json(name: str) -> None:
    body = JsonBody.encode(BODIES[name])
    expected = compact(BODIES[name])
    assert bytes(body) == expected
    assert body.length == len(expected)
    assert b"".join(body.chunks()) == expected  # every attempt streams the same bytes again


def test_a_large_data_url_is_streamed_in_slices_not_copied_whole() -> None:
    body = JsonBody.encode(BODIES["image larger than a slice"])
    assert body.urls == (LARGE_URL,)
    assert max(len(chunk) for chunk in body.chunks()) <= SLICE_CHARS


def test_values_json_cannot_carry_are_refused() -> None:
    with pytest.raises(ValueError, match="JSON"):
        JsonBody.encode({"temperature": math.nan})
