"""The fake OpenRouter itself: it must reject what the real API rejects and record faithfully,
or every test built on it proves nothing."""

from __future__ import annotations

import io
import json
import select
import subprocess
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tests.fake_openrouter import (
    FakeOpenRouter,
    describe,
    fenced_json,
    invalid_json,
    prose_wrapped_json,
    schema_instance,
)
from tests.openrouter.conftest import MODEL, data_url, png_bytes

REPO = Path(__file__).resolve().parents[2]


def chat_body(*content: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": list(content)}],
        **fields,
    }


def text_part(text: str = "What is this?") -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_part(url: str, detail: str = "auto") -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def post(fake: FakeOpenRouter, body: object, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or fake.api_key}"}
    return httpx.post(f"{fake.base_url}/chat/completions", json=body, headers=headers)


def bmp_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "BMP")
    return buffer.getvalue()


def test_missing_and_wrong_keys_get_the_real_401_texts(fake: FakeOpenRouter) -> None:
    body = chat_body(text_part())
    missing = httpx.post(f"{fake.base_url}/chat/completions", json=body)
    wrong = post(fake, body, key="sk-or-v1-wrong")

    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"] == {"code": 401, "message": "No auth credentials found"}
    assert wrong.json()["error"] == {"code": 401, "message": "User not found."}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        pytest.param(
            chat_body(image_part(data_url(png_bytes())), text_part()), "text part", id="image-first"
        ),
        pytest.param(chat_body(text_part(), temperature=2.5), "temperature", id="temperature"),
        pytest.param(chat_body(text_part(), max_tokens=None), "max_tokens", id="max-tokens"),
        pytest.param(
            chat_body(text_part(), image_part("https://x.test/a.png", "ultra")),
            "detail",
            id="detail",
        ),
        pytest.param({"model": MODEL, "max_tokens": 5, "messages": []}, "messages", id="messages"),
        pytest.param(
            chat_body(text_part(), response_format={"type": "json_schema", "json_schema": {}}),
            "json_schema",
            id="response-format",
        ),
        pytest.param("not an object", "JSON object", id="not-object"),
        pytest.param(chat_body(text_part(), provider={"zdr": "yes"}), "provider.zdr", id="zdr"),
        pytest.param(
            chat_body(text_part(), provider={"sort": "cheapest"}), "provider.sort", id="sort"
        ),
        pytest.param(
            chat_body(text_part(), provider={"order": "anthropic"}), "provider.order", id="order"
        ),
        pytest.param(
            chat_body(text_part(), provider={"allow_fallback": False}),
            "Unrecognized key 'allow_fallback'",
            id="provider-typo",
        ),
        pytest.param(chat_body(text_part(), models=[]), "models", id="no-models"),
        pytest.param(chat_body(text_part(), models=[MODEL, 3]), "models", id="model-not-id"),
    ],
)
def test_malformed_requests_are_rejected_with_400(
    fake: FakeOpenRouter, body: object, complaint: str
) -> None:
    response = post(fake, body)

    assert response.status_code == 400
    assert complaint in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("url", "error_type"),
    [
        pytest.param("data:image/png;base64,!!!not-base64!!!", "invalid_image", id="bad-base64"),
        pytest.param(data_url(b"not an image at all"), "invalid_image", id="undecodable"),
        pytest.param(data_url(bmp_bytes(), "image/bmp"), "unsupported_image_format", id="bmp"),
    ],
)
def test_bad_images_get_typed_400s_and_are_still_recorded(
    fake: FakeOpenRouter, url: str, error_type: str
) -> None:
    response = post(fake, chat_body(text_part(), image_part(url)))

    assert response.status_code == 400
    assert response.json()["error_type"] == error_type
    assert fake.completions[0].image.problem == error_type


def test_text_only_model_has_no_image_endpoints(fake: FakeOpenRouter) -> None:
    body = chat_body(text_part(), image_part(data_url(png_bytes())))
    body["model"] = "meta-llama/llama-3.3-70b-instruct"

    response = post(fake, body)

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No endpoints found that support image input"


def test_provider_preferences_route_and_refuse_like_the_real_api(fake: FakeOpenRouter) -> None:
    image = image_part(data_url(png_bytes()))
    default = post(fake, chat_body(text_part(), image, model="google/gemini-2.5-flash"))
    private = post(
        fake, chat_body(text_part(), image, model="google/gemini-2.5-flash", provider={"zdr": True})
    )
    none_private = post(
        fake, chat_body(text_part(), image, model="openai/gpt-5-mini", provider={"zdr": True})
    )

    assert default.json()["provider"] == "FakeProvider"
    assert private.json()["provider"] == "PrivateProvider"
    assert none_private.status_code == 404
    assert "data policy" in none_private.json()["error"]["message"]


def test_models_fall_back_in_order_and_bill_the_model_that_answered(
    fake: FakeOpenRouter,
) -> None:
    body = chat_body(
        text_part(),
        image_part(data_url(png_bytes())),
        model="openai/gpt-5-mini",
        models=["openai/gpt-5-mini", "acme/ghost-1", "google/gemini-2.5-flash"],
        provider={"zdr": True},
    )

    response = post(fake, body)

    assert response.status_code == 200
    assert response.json()["model"] == "google/gemini-2.5-flash"
    assert response.json()["provider"] == "PrivateProvider"
    assert fake.completions[0].body["models"] == body["models"]


def test_an_endpoint_that_ignores_the_response_format_answers_in_prose(
    fake: FakeOpenRouter,
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    loose = chat_body(
        text_part(), model="mistralai/pixtral-large-2411", response_format=response_format
    )
    strict = {**loose, "provider": {"require_parameters": True}}

    prose, honoured = post(fake, loose).json(), post(fake, strict).json()

    assert prose["provider"] == "LaxProvider"
    assert prose["choices"][0]["message"]["content"] == "I see no image."
    assert honoured["provider"] == "FakeProvider"
    assert json.loads(honoured["choices"][0]["message"]["content"]) == {"a": "I see no image."}


def test_records_decoded_images_and_urls_as_they_arrived(fake: FakeOpenRouter) -> None:
    png = png_bytes(30, 20)
    body = chat_body(
        text_part(), image_part(data_url(png), "low"), image_part("https://img.test/cat.jpg")
    )

    response = post(fake, body)

    assert response.status_code == 200
    first, second = fake.completions[0].images
    assert (first.format, first.width, first.height, first.byte_length) == ("PNG", 30, 20, len(png))
    assert (first.mime, first.detail, first.url) == ("image/png", "low", None)
    assert second.url == "https://img.test/cat.jpg"
    assert second.format is None
    content = response.json()["choices"][0]["message"]["content"]
    assert content == "I see a PNG image, 30x20 pixels. I see an image at https://img.test/cat.jpg."
    assert response.headers["x-generation-id"] == response.json()["id"]


def test_scripted_replies_are_served_in_order_then_the_default(fake: FakeOpenRouter) -> None:
    fake.script(fenced_json({"a": 1}), prose_wrapped_json({"b": 2}), invalid_json())
    body = chat_body(text_part())

    contents = [post(fake, body).json()["choices"][0]["message"]["content"] for _ in range(4)]

    assert contents[0] == '```json\n{\n  "a": 1\n}\n```'
    assert '{"b": 2}' in contents[1]
    assert not contents[1].startswith("{")
    with pytest.raises(json.JSONDecodeError):
        json.loads(contents[2])
    assert contents[3] == "I see no image."


def test_latency_delays_each_answer(fake: FakeOpenRouter) -> None:
    fake.latency_s = 0.2
    started = time.monotonic()

    post(fake, chat_body(text_part()))

    assert time.monotonic() - started >= 0.2


def test_models_catalogue_and_key_endpoint(fake: FakeOpenRouter) -> None:
    models = httpx.get(f"{fake.base_url}/models").json()["data"]
    key_without_auth = httpx.get(f"{fake.base_url}/key")
    key = httpx.get(f"{fake.base_url}/key", headers={"Authorization": f"Bearer {fake.api_key}"})

    vision = [m["id"] for m in models if "image" in m["architecture"]["input_modalities"]]
    assert MODEL in vision
    assert all(isinstance(m["pricing"]["prompt"], str) for m in models)
    assert key_without_auth.status_code == 401
    assert key.json()["data"]["is_free_tier"] is False


class Colour(Enum):
    RED = "red"
    GREEN = "green"


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")

    box: tuple[int, int, int, int]
    colour: Colour
    score: float = Field(gt=0, lt=1)


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caption: str = Field(min_length=80, max_length=120)
    kind: Literal["photo", "screenshot"]
    regions: list[Region] = Field(min_length=2, max_length=3)
    tags: set[str] = Field(min_length=3)
    parent: Scene | None = None
    counts: dict[str, int] = {}
    year: int = Field(ge=1900, le=2100, multiple_of=1)
    negative: float = Field(lt=-10)


@pytest.mark.parametrize(
    "model",
    [Scene, Region, list[Region], Colour, int | None],
    ids=["nested-recursive", "flat", "array", "enum", "optional"],
)
def test_schema_instance_is_valid_for_pydantic_schemas(model: Any) -> None:
    adapter = TypeAdapter(model)
    text = describe([])

    instance = schema_instance(adapter.json_schema(), text)

    adapter.validate_python(instance, strict=False)


def test_standalone_process_prints_its_base_url_first() -> None:
    command = [sys.executable, "-m", "tests.fake_openrouter", "--port", "0", "--latency", "0.01"]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        try:
            ready, _, _ = select.select([process.stdout], [], [], 20)
            assert ready, "the fake printed nothing within 20 s"
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            assert base_url.endswith("/api/v1")
            assert httpx.get(f"{base_url}/models", timeout=10).status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=10)
