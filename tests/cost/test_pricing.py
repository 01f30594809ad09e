"""The worst-case estimate is a true upper bound of what a request can be billed.

The fake bills by its own token rules (tests/fake_catalog.py), written from the providers'
published rules independently of the server's estimator; the estimate must never be below
the fake's bill for any request the server can send: any catalogued vision model, any image
size the server would send it, any text, any max_tokens fully used, with or without a
structured-output schema and a repair turn.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrouter_image_mcp.analysis.reviews import WebpageReview
from openrouter_image_mcp.analysis.structured import json_schema_format, repair_prompt
from openrouter_image_mcp.cost.pricing import (
    Candidate,
    RequestSize,
    completion_floor_usd,
    image_token_bound,
    worst_case_usd,
)
from openrouter_image_mcp.imaging import target_for_model
from openrouter_image_mcp.openrouter import ChatRequest, image_message
from openrouter_image_mcp.openrouter.catalog import parse_catalog
from openrouter_image_mcp.settings import Settings
from tests.fake_catalog import CATALOGUE, LISTED_ONLY, Routing, image_tokens, prompt_tokens

SETTINGS = Settings(_env_file=None, transport="stdio")  # type: ignore[call-arg]
PRICED = parse_catalog(json.dumps({"data": [m.listing() for m in CATALOGUE]}).encode())
VISION_MODELS = [
    model
    for model in CATALOGUE
    if model.vision and PRICED.models[model.id].pricing is not None and model.endpoints
]
DATA_URL = "data:image/png;base64,iVBORw0KGgo="


def candidate(model_id: str) -> Candidate:
    pricing = PRICED.models[model_id].pricing
    assert pricing is not None
    return Candidate(target_for_model(model_id, "auto", SETTINGS).family, pricing)


def fake_bill(model_id: str, body: dict[str, Any], size: tuple[int, int], detail: str) -> float:
    """What the fake bills when the model writes all of max_tokens, at the listed price."""
    model = next(m for m in CATALOGUE if m.id == model_id)
    prompt = prompt_tokens(body, image_tokens(model_id, *size, detail))
    return Routing(model, LISTED_ONLY[0]).cost(prompt, body["max_tokens"], images=1)


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(VISION_MODELS),
    original=st.tuples(st.integers(1, 12_000), st.integers(1, 12_000)),
    detail=st.sampled_from(["auto", "low", "high"]),
    question=st.text(max_size=3000),
    max_tokens=st.integers(1, 16_384),
    structured=st.booleans(),
    repair=st.booleans(),
)
def test_the_worst_case_is_never_below_what_the_fake_bills(
    model: Any,
    original: tuple[int, int],
    detail: str,
    question: str,
    max_tokens: int,
    structured: bool,
    repair: bool,
) -> None:
    sent = target_for_model(model.id, detail, SETTINGS).fitted_size(*original)  # type: ignore[arg-type]
    messages = [image_message(question, DATA_URL, detail)]
    if repair:
        messages += [
            {"role": "assistant", "content": question[::-1]},
            {"role": "user", "content": repair_prompt("no JSON", WebpageReview)},
        ]
    request = ChatRequest(
        model=model.id,
        messages=messages,
        max_tokens=max_tokens,
        response_format=json_schema_format(WebpageReview) if structured else None,
    )

    worst = worst_case_usd(RequestSize.of(request, [sent]), [candidate(model.id)])

    assert worst >= fake_bill(model.id, request.as_body(), sent, detail)


def test_the_worst_case_is_the_dearest_candidate_and_scales_with_max_tokens() -> None:
    request = ChatRequest("m", [image_message("What is this?", DATA_URL, "auto")], 1000)
    size = RequestSize.of(request, [(1024, 768)])
    cheap, dear = candidate("google/gemini-2.5-flash-lite"), candidate("openai/o1-pro")

    both = worst_case_usd(size, [cheap, dear])

    assert both == worst_case_usd(size, [dear]) > worst_case_usd(size, [cheap])
    assert both >= 1000 * 0.0006  # the answer alone, at o1-pro's completion price
    assert completion_floor_usd(1000, 1, [cheap, dear]) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("family", "size", "at_least"),
    [
        ("gemini-2", (2048, 1280), 258 * 3 * 2),
        ("openai-patch", (1024, 1024), 1024 * 2.46),  # nano bills 2.46x its patches
        ("claude", (1568, 733), 1568 * 733 / 750),
        ("default", (1024, 1024), 1024 * 1024 / 256),  # Pixtral's 16 px patches
    ],
)
def test_image_bounds_cover_each_family_rule(
    family: str, size: tuple[int, int], at_least: float
) -> None:
    assert image_token_bound(*size, family) >= at_least * 1.25


def test_the_request_must_name_the_size_of_each_image() -> None:
    request = ChatRequest("m", [image_message("Hi", DATA_URL, "auto")], 10)

    with pytest.raises(ValueError, match="1 images in the request, 0 sizes"):
        RequestSize.of(request, [])
