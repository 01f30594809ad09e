"""The review models: strict-mode schemas, and requested variants that fit the published one."""

from __future__ import annotations

import re

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from openrouter_image_mcp.analysis.prompts import NIELSEN_HEURISTICS
from openrouter_image_mcp.analysis.reviews import (
    AccessibilityReview,
    MobileAppReview,
    NielsenHeuristics,
    WebpageReview,
    requested_model,
)
from openrouter_image_mcp.analysis.structured import strict_schema
from tests.fake_openrouter import schema_instance

VARIANTS = [
    (published, part, included)
    for published, part in ((WebpageReview, "accessibility"), (MobileAppReview, "ux_heuristics"))
    for included in (True, False)
]


def instance(model: type[BaseModel]) -> BaseModel:
    """What a strict structured-output model would answer for `model`'s schema."""
    return model.model_validate(schema_instance(strict_schema(model), "seen"))


@pytest.mark.parametrize(("published", "part", "included"), VARIANTS)
def test_every_requested_answer_fits_the_published_schema(
    published: type[BaseModel], part: str, included: bool
) -> None:
    requested = requested_model(published, part, included)
    dumped = instance(requested).model_dump(mode="json")
    jsonschema.validate(dumped, strict_schema(published))
    assert (dumped[part] is not None) is included
    assert list(dumped) == list(published.model_fields)


@pytest.mark.parametrize(("published", "part", "included"), VARIANTS)
def test_a_requested_part_cannot_be_skipped_nor_an_unrequested_one_added(
    published: type[BaseModel], part: str, included: bool
) -> None:
    requested = requested_model(published, part, included)
    filled = instance(published).model_dump(mode="json")
    assert filled[part] is not None
    wrong = {**filled, part: None} if included else filled
    with pytest.raises(ValidationError, match=part):
        requested.model_validate(wrong)


def test_requested_models_are_named_for_the_schema_and_built_once() -> None:
    requested = requested_model(MobileAppReview, "ux_heuristics", False)
    assert requested.__name__ == "MobileAppReviewWithoutUxHeuristics"
    assert requested is requested_model(MobileAppReview, "ux_heuristics", False)
    part = strict_schema(requested_model(WebpageReview, "accessibility", True))["properties"]
    assert part["accessibility"]["description"] == AccessibilityReview.__doc__


def test_published_schemas_publish_the_optional_parts_as_nullable() -> None:
    for model, part in ((WebpageReview, "accessibility"), (MobileAppReview, "ux_heuristics")):
        options = strict_schema(model)["properties"][part]["anyOf"]
        assert options[0]["type"] == "object"
        assert options[1] == {"type": "null"}


def test_scores_are_bounded_integers() -> None:
    mobile = strict_schema(MobileAppReview)["properties"]
    score = mobile["accessibility"]["properties"]["score"]
    assert (score["type"], score["minimum"], score["maximum"]) == ("integer", 1, 10)
    compliance = mobile["platform_guidelines"]["properties"]["compliance_score"]["anyOf"]
    assert compliance == [{"maximum": 10, "minimum": 1, "type": "integer"}, {"type": "null"}]


def test_detected_platform_is_one_of_three_values() -> None:
    platform = strict_schema(MobileAppReview)["properties"]["platform"]
    assert platform["enum"] == ["ios", "android", "unknown"]


def test_heuristic_fields_are_nielsens_ten_named_exactly_as_the_prompt_names_them() -> None:
    quoted = [
        re.match(r"Nielsen's '(.+?)':", field.description or "").group(1)  # type: ignore[union-attr]
        for field in NielsenHeuristics.model_fields.values()
    ]
    assert quoted == list(NIELSEN_HEURISTICS)
    assert len(quoted) == 10
