"""Data URLs and bare base64: strict decoding, size refused before decoding."""

from __future__ import annotations

import base64

import pytest

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.sources.inline import decode_base64, decode_data_url
from tests.sources.fakes import PNG, PNG_B64

LIMIT = 4096


@pytest.mark.parametrize(
    "url",
    [
        f"data:image/png;base64,{PNG_B64}",
        f"DATA:IMAGE/PNG;BASE64,{PNG_B64}",
        f"data:image/jpeg;base64,{PNG_B64}",  # the declared type is not trusted either way
        f"data:;base64,{PNG_B64}",
        f"data:application/octet-stream;base64,{PNG_B64}",
        f"data:image/png;name=cat.png;base64,{PNG_B64}",
        f"data:image/png;base64,{PNG_B64.replace('+', '%2B').replace('/', '%2F')}",
        "data:image/png;base64,\n" + "\r\n".join(PNG_B64[i : i + 76] for i in range(0, 2000, 76)),
    ],
)
def test_data_urls_decode_to_the_exact_bytes(url: str) -> None:
    assert decode_data_url(url, LIMIT) == PNG


@pytest.mark.parametrize(
    "text",
    [
        PNG_B64,
        PNG_B64.rstrip("="),
        base64.urlsafe_b64encode(PNG).decode(),
        base64.urlsafe_b64encode(PNG).decode().rstrip("="),
        f"  {PNG_B64[:100]}\n{PNG_B64[100:]}\t",
    ],
)
def test_base64_variants_decode_to_the_exact_bytes(text: str) -> None:
    assert decode_base64(text, LIMIT) == PNG


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("data:image/png,%89PNG", ErrorCode.INVALID_INPUT),  # percent-encoded, not base64
        ("data:image/png;base64;charset=utf-8,AAAA", ErrorCode.INVALID_INPUT),
        ("data:image/png;base64", ErrorCode.INVALID_INPUT),  # no comma
        ("data:image/png;base64,", ErrorCode.INVALID_INPUT),
        ("data:text/html;base64,PGgxPg==", ErrorCode.UNSUPPORTED_FORMAT),
        ("data:image/png;base64,AAAA!AAA", ErrorCode.INVALID_INPUT),
        ("data:image/png;base64,AAAA\u00e9AAA", ErrorCode.INVALID_INPUT),
        ("data:image/png;base64,AAAAA", ErrorCode.INVALID_INPUT),  # impossible length
        ("data:image/png;base64,AA=A", ErrorCode.INVALID_INPUT),
    ],
)
def test_malformed_data_urls_fail_with_a_stable_code(url: str, code: ErrorCode) -> None:
    with pytest.raises(ToolFailure) as failure:
        decode_data_url(url, LIMIT)
    assert failure.value.code == code
    assert failure.value.message.startswith("the data URL")


def test_the_limit_is_on_decoded_bytes_and_inclusive() -> None:
    exactly = base64.b64encode(b"\0" * LIMIT).decode()
    assert len(decode_base64(exactly, LIMIT)) == LIMIT
    with pytest.raises(ToolFailure) as failure:
        decode_base64(base64.b64encode(b"\0" * (LIMIT + 1)).decode(), LIMIT)
    assert failure.value.code == ErrorCode.RESOURCE_TOO_LARGE
    assert "4 KiB" in failure.value.message


def test_oversize_input_is_refused_before_any_decoding() -> None:
    # Not base64 at all: only a size check that runs first can answer RESOURCE_TOO_LARGE.
    with pytest.raises(ToolFailure) as failure:
        decode_data_url("data:image/png;base64," + "!" * (LIMIT * 2), LIMIT)
    assert failure.value.code == ErrorCode.RESOURCE_TOO_LARGE


def test_messages_never_echo_the_payload() -> None:
    with pytest.raises(ToolFailure) as failure:
        decode_base64("SECRETSECRET" * 10 + "!", LIMIT)
    assert failure.value.code == ErrorCode.INVALID_INPUT
    assert "SECRET" not in failure.value.message
