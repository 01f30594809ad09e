"""The three tools end to end, in memory: a real FastMCP client, server and fake OpenRouter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, get_args

import pytest
import pytest_asyncio
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from PIL import Image
from pydantic import BaseModel

from openrouter_image_mcp.analysis.prompts import (
    HEURISTICS,
    MOBILE_FOCUS,
    NO_HEURISTICS,
    PLATFORM_GUIDANCE,
    WEBPAGE_ACCESSIBILITY,
    WEBPAGE_FOCUS,
    WEBPAGE_NO_ACCESSIBILITY,
    MobileFocus,
    Platform,
    WebpageFocus,
)
from openrouter_image_mcp.analysis.reviews import (
    MobileAppReview,
    WebpageReview,
    requested_model,
)
from openrouter_image_mcp.analysis.structured import REPAIR_PREFIX, strict_schema
from openrouter_image_mcp.server import build_server
from openrouter_image_mcp.settings import Settings
from openrouter_image_mcp.tools import STAGES
from tests.fake_openrouter import (
    FakeOpenRouter,
    Reply,
    fenced_json,
    invalid_json,
    prose_wrapped_json,
    schema_instance,
)

WEBPAGE = "analyze_webpage_screenshot"
MOBILE = "analyze_mobile_app_screenshot"
GENERAL = "analyze_image"
SEEN = "I see a PNG image, 64x48 pixels."  # the fake's answer text for our screenshot

SPECIALISTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    # tool: (published model, model requested with the default arguments)
    WEBPAGE: (WebpageReview, requested_model(WebpageReview, "accessibility", True)),
    MOBILE: (MobileAppReview, requested_model(MobileAppReview, "ux_heuristics", True)),
}


# One server and client for the module: a new client spends ~0.2 s checking the output
# schemas. Tests stay independent: the fake is reset for each one, and the answer cache and
# rate limit are off so every call reaches the fake.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="module")
def screenshot(image_dir: Path) -> str:
    path = image_dir / "screen.png"
    Image.new("RGB", (64, 48), "white").save(path)
    return str(path)


def settings_for(fake: FakeOpenRouter, image_dir: Path, **overrides: Any) -> Settings:
    return fake.settings(
        transport="stdio",
        file_roots=[image_dir],
        cache_ttl_s=0,
        rate_limit="1000/second",
        **overrides,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(fake_openrouter: FakeOpenRouter, image_dir: Path) -> AsyncIterator[Client]:
    async with Client(build_server(settings_for(fake_openrouter, image_dir))) as connected:
        yield connected


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments, raise_on_error=False)


def prompt_sent(fake: FakeOpenRouter, index: int = -1) -> str:
    """The text part of the user message in a recorded chat-completion request."""
    return fake.completions[index].body["messages"][0]["content"][0]["text"]


def answer_for(output_model: type[BaseModel]) -> dict[str, Any]:
    """A valid answer for `output_model`, as a model honouring the schema would send it."""
    return schema_instance(strict_schema(output_model), "from a script")


# --- tools/list -----------------------------------------------------------------------------


async def test_lists_exactly_the_three_read_only_tools_with_described_parameters(
    client: Client,
) -> None:
    tools = {tool.name: tool for tool in await client.list_tools()}
    assert set(tools) == {GENERAL, WEBPAGE, MOBILE}
    for tool in tools.values():
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.description
        properties = tool.input_schema["properties"]
        assert "ctx" not in properties
        undescribed = [name for name, schema in properties.items() if not schema.get("description")]
        assert undescribed == [], tool.name
    assert tools[GENERAL].output_schema is None
    assert tools[WEBPAGE].output_schema == strict_schema(WebpageReview)
    assert tools[MOBILE].output_schema == strict_schema(MobileAppReview)


async def test_specialist_parameters_offer_exactly_the_documented_choices(client: Client) -> None:
    tools = {tool.name: tool.input_schema["properties"] for tool in await client.list_tools()}

    def choices(tool: str, parameter: str) -> list[str]:
        schema = tools[tool][parameter]
        options = schema.get("anyOf", [schema])
        return [value for option in options for value in option.get("enum", [])]

    assert choices(WEBPAGE, "focus_area") == list(get_args(WebpageFocus))
    assert choices(MOBILE, "focus_area") == list(get_args(MobileFocus))
    assert choices(MOBILE, "platform") == ["ios", "android", "auto"]
    assert tools[MOBILE]["platform"]["default"] == "auto"
    assert tools[WEBPAGE]["include_accessibility"]["default"] is True
    assert tools[MOBILE]["include_ux_heuristics"]["default"] is True


# --- Structured answers ---------------------------------------------------------------------


@pytest.mark.parametrize("tool", list(SPECIALISTS))
async def test_structured_answer_is_validated_and_also_sent_as_json_text(
    client: Client, fake: FakeOpenRouter, screenshot: str, tool: str
) -> None:
    published, requested = SPECIALISTS[tool]
    result = await call(client, tool, image_path=screenshot)

    assert not result.is_error
    review = published.model_validate(result.structured_content)
    assert review.usability.strengths == [SEEN]  # the fake's answer, from the image it decoded
    assert json.loads(result.content[0].text) == result.structured_content
    assert result.data is not None  # the client parsed it through the published schema
    assert result.meta is not None
    assert {"model", "usage", "image", "timings_ms"} <= set(result.meta)
    assert result.meta["usage"]["cost"] == fake.bills[-1] > 0

    [sent] = fake.completions
    assert sent.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": requested.__name__,
            "strict": True,
            "schema": strict_schema(requested),
        },
    }
    assert sent.image.format == "PNG"
    assert sent.body["max_tokens"] == 4096  # the review default, not analyze_image's 2048


@pytest.mark.parametrize("wrap", [fenced_json, prose_wrapped_json])
@pytest.mark.parametrize("tool", list(SPECIALISTS))
async def test_fenced_and_prose_wrapped_json_are_accepted(
    client: Client, fake: FakeOpenRouter, screenshot: str, tool: str, wrap: Any
) -> None:
    _, requested = SPECIALISTS[tool]
    answer = answer_for(requested)
    fake.script(wrap(answer))

    result = await call(client, tool, image_path=screenshot)

    assert not result.is_error
    assert result.structured_content == requested.model_validate(answer).model_dump(mode="json")
    assert len(fake.completions) == 1


@pytest.mark.parametrize("tool", list(SPECIALISTS))
async def test_invalid_json_is_repaired_by_one_second_request(
    client: Client, fake: FakeOpenRouter, screenshot: str, tool: str
) -> None:
    published, _ = SPECIALISTS[tool]
    fake.script(invalid_json(), Reply())

    result = await call(client, tool, image_path=screenshot)

    assert not result.is_error
    published.model_validate(result.structured_content)
    first, second = fake.completions
    assert second.body["response_format"] == first.body["response_format"]
    assert second.body["messages"][1] == {"role": "assistant", "content": invalid_json().content}
    assert second.body["messages"][2]["content"].startswith(REPAIR_PREFIX)
    assert second.image.format == "PNG"  # the model can look again
    assert result.meta is not None
    assert result.meta["usage"]["cost"] == pytest.approx(sum(fake.bills))
    assert len(fake.bills) == 2


@pytest.mark.parametrize("tool", list(SPECIALISTS))
async def test_invalid_twice_is_an_error_with_an_excerpt_and_no_review(
    client: Client, fake: FakeOpenRouter, screenshot: str, tool: str
) -> None:
    fake.script(invalid_json(), Reply(content="Sorry, here is prose instead of JSON."))

    result = await call(client, tool, image_path=screenshot)

    assert result.is_error
    assert result.data is None
    assert result.structured_content is not None
    assert set(result.structured_content) == {"error"}
    error = result.structured_content["error"]
    assert error["code"] == "MODEL_OUTPUT_INVALID"
    assert error["retryable"] is False
    assert error["excerpt"] == "Sorry, here is prose instead of JSON."
    assert "analyze_image" in error["message"]
    assert result.content[0].text.startswith("MODEL_OUTPUT_INVALID: ")
    assert len(fake.completions) == 2


# --- Options steer the prompt ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "foci", "sentences"),
    [(WEBPAGE, WebpageFocus, WEBPAGE_FOCUS), (MOBILE, MobileFocus, MOBILE_FOCUS)],
)
async def test_each_focus_area_changes_the_prompt(
    client: Client,
    fake: FakeOpenRouter,
    screenshot: str,
    tool: str,
    foci: Any,
    sentences: dict[str, str],
) -> None:
    await call(client, tool, image_path=screenshot)
    prompts = {None: prompt_sent(fake)}
    for focus in get_args(foci):
        await call(client, tool, image_path=screenshot, focus_area=focus)
        prompts[focus] = prompt_sent(fake)
        assert sentences[focus] in prompts[focus]
    assert len(set(prompts.values())) == len(prompts)


async def test_each_platform_changes_the_prompt(
    client: Client, fake: FakeOpenRouter, screenshot: str
) -> None:
    prompts = {}
    for platform in get_args(Platform):
        await call(client, MOBILE, image_path=screenshot, platform=platform)
        prompts[platform] = prompt_sent(fake)
        assert PLATFORM_GUIDANCE[platform] in prompts[platform]
    assert len(set(prompts.values())) == 3
    assert "Human Interface Guidelines" in prompts["ios"]
    assert "Material Design 3" in prompts["android"]


async def test_question_reaches_the_prompt_and_the_answer_field(
    client: Client, fake: FakeOpenRouter, screenshot: str
) -> None:
    question = "Is the 'Buy now' button above the fold?"
    result = await call(client, WEBPAGE, image_path=screenshot, question=question)

    assert f"Question: {question}" in prompt_sent(fake)
    assert result.structured_content is not None
    assert result.structured_content["answer"] == SEEN


async def test_reviews_get_a_longer_default_answer_budget_within_the_ceiling(
    fake: FakeOpenRouter, image_dir: Path, screenshot: str
) -> None:
    settings = settings_for(fake, image_dir, max_tokens_ceiling=3000)
    async with Client(build_server(settings)) as client:
        await call(client, GENERAL, image_path=screenshot)
        await call(client, WEBPAGE, image_path=screenshot)
        await call(client, MOBILE, image_path=screenshot, max_tokens=1500)

    sent = [request.body["max_tokens"] for request in fake.completions]
    assert sent == [settings.default_max_tokens, 3000, 1500]
    assert settings.review_max_tokens > 3000


# --- Switching review parts off -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "switch", "part", "asked", "not_asked"),
    [
        (MOBILE, "include_ux_heuristics", "ux_heuristics", HEURISTICS, NO_HEURISTICS),
        (
            WEBPAGE,
            "include_accessibility",
            "accessibility",
            WEBPAGE_ACCESSIBILITY,
            WEBPAGE_NO_ACCESSIBILITY,
        ),
    ],
)
async def test_a_part_switched_off_is_null_not_asked_for_and_not_allowed(
    client: Client,
    fake: FakeOpenRouter,
    screenshot: str,
    tool: str,
    switch: str,
    part: str,
    asked: str,
    not_asked: str,
) -> None:
    result = await call(client, tool, image_path=screenshot, **{switch: False})

    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content[part] is None
    SPECIALISTS[tool][0].model_validate(result.structured_content)
    prompt = prompt_sent(fake)
    assert not_asked in prompt
    assert asked not in prompt
    schema = fake.completions[-1].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"][part]["type"] == "null"


async def test_with_ux_heuristics_all_ten_are_assessed(
    client: Client, fake: FakeOpenRouter, screenshot: str
) -> None:
    result = await call(client, MOBILE, image_path=screenshot)

    assert HEURISTICS in prompt_sent(fake)
    assert result.structured_content is not None
    heuristics = result.structured_content["ux_heuristics"]
    assert len(heuristics) == 10
    assert set(heuristics.values()) == {SEEN}


async def test_accessibility_focus_keeps_the_accessibility_review(
    client: Client, fake: FakeOpenRouter, screenshot: str
) -> None:
    result = await call(
        client,
        WEBPAGE,
        image_path=screenshot,
        focus_area="accessibility",
        include_accessibility=False,
    )

    assert result.structured_content is not None
    assert result.structured_content["accessibility"]["issues"] == [SEEN]
    assert WEBPAGE_ACCESSIBILITY in prompt_sent(fake)


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        (WEBPAGE, {"focus_area": "colours"}),
        (MOBILE, {"platform": "windows-phone"}),
        (MOBILE, {"focus_area": "ui_design"}),
        (MOBILE, {"max_tokens": 0}),
    ],
)
async def test_out_of_range_arguments_are_refused_before_any_upstream_call(
    client: Client, fake: FakeOpenRouter, screenshot: str, tool: str, arguments: dict[str, Any]
) -> None:
    result = await call(client, tool, image_path=screenshot, **arguments)

    assert result.is_error
    assert next(iter(arguments)) in result.content[0].text
    assert fake.completions == []


@pytest.mark.parametrize("tool", list(SPECIALISTS))
async def test_an_image_outside_the_allowed_directories_is_an_error_result(
    client: Client, fake: FakeOpenRouter, tool: str
) -> None:
    result = await call(client, tool, image_path="/etc/hostname")

    assert result.is_error
    assert result.structured_content is not None
    assert result.structured_content["error"]["code"] == "UNSAFE_PATH"
    assert fake.completions == []


# --- Progress -------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", [GENERAL, WEBPAGE])
async def test_progress_reports_the_four_stages_in_order(
    fake: FakeOpenRouter, image_dir: Path, screenshot: str, tool: str
) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def record(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    settings = settings_for(fake, image_dir)
    async with Client(build_server(settings), progress_handler=record) as client:
        result = await call(client, tool, image_path=screenshot)

    assert not result.is_error
    assert seen == [(index, 4, stage) for index, stage in enumerate(STAGES, start=1)]
