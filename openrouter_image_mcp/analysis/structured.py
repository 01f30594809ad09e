"""Getting a structured answer that validates against a pydantic model, or a clear error.

The model is asked with `response_format: json_schema` (strict) built from the same pydantic
model used to validate, so schema and validation never drift. Endpoints that ignore the
request still happen: JSON inside code fences or prose is accepted, and an answer that does
not validate gets exactly one repair request (carrying the schema, which such an endpoint
never showed the model) before the call fails with MODEL_OUTPUT_INVALID. A repair that would
take the call over its cost limit (COST_LIMIT_EXCEEDED from `complete`) is not sent: the call
fails with MODEL_OUTPUT_INVALID at once.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ErrorCode, ToolFailure, quote_remote
from ..openrouter import ChatRequest, Completion, Usage

ModelT = TypeVar("ModelT", bound=BaseModel)
Complete = Callable[[ChatRequest], Awaitable[Completion]]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_OBJECT_START = re.compile(r'\{\s*["}]')
# Each failed attempt costs a pass over the rest of the reply; a real answer's object is
# among the first few starts, so this bounds the work on a long reply that has none.
MAX_OBJECT_STARTS = 16
_DECODER = json.JSONDecoder()
EXCERPT_CHARS = 200
REPAIR_PREFIX = "Your previous reply could not be used"


class OutputInvalid(Exception):
    """The model's text is not a JSON instance of the requested model."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def strict_schema(output_model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as strict structured outputs want it: self-contained, no titles.

    `$ref`s are inlined (some providers' schema converters reject them) and titles dropped
    (tokens the model would read for nothing). Raises TypeError for a model strict mode cannot
    express: an object that allows extra keys or has an optional property.
    """
    return copy.deepcopy(_strict_schema(output_model))


@functools.cache
def _strict_schema(output_model: type[BaseModel]) -> dict[str, Any]:
    schema = output_model.model_json_schema()
    definitions = schema.pop("$defs", {})
    inlined = _inline(schema, definitions)
    for path, node in _objects(inlined, "$"):
        if node.get("additionalProperties") is not False:
            raise TypeError(f"{output_model.__name__} at {path}: set extra='forbid'")
        if set(node.get("required", ())) != set(node.get("properties", {})):
            raise TypeError(f"{output_model.__name__} at {path}: a field has a default")
    return inlined


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """`node` with every `$ref` replaced by its definition and every title dropped."""
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        target = definitions[node["$ref"].removeprefix("#/$defs/")]
        return _inline({**target, **siblings}, definitions)
    return {
        key: _inline_properties(value, definitions)
        if key == "properties"
        else _inline(value, definitions)
        for key, value in node.items()
        if key != "title"
    }


def _inline_properties(properties: dict[str, Any], definitions: dict[str, Any]) -> Any:
    # Keys here are field names, so a field called "title" must survive.
    return {name: _inline(schema, definitions) for name, schema in properties.items()}


def _objects(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema under `node`, with a readable path to it."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _objects(item, f"{path}[{index}]")
    elif isinstance(node, dict):
        if node.get("type") == "object":
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}.{key}")


def json_schema_format(output_model: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": output_model.__name__,
            "strict": True,
            "schema": strict_schema(output_model),
        },
    }


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in a reply: bare, in a code fence, or the first one inside prose."""
    for candidate in (text, *_FENCE.findall(text)):
        value = _loads(candidate.strip())
        if isinstance(value, dict):
            return value
    for match in itertools.islice(_OBJECT_START.finditer(text), MAX_OBJECT_STARTS):
        try:
            value, _ = _DECODER.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    raise OutputInvalid("the reply contains no JSON object")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_output(text: str, output_model: type[ModelT]) -> ModelT:
    data = extract_json(text)
    try:
        return output_model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in error.errors()[:8]
        )
        raise OutputInvalid(problems) from None


def repair_prompt(reason: str, output_model: type[BaseModel]) -> str:
    schema = json.dumps(strict_schema(output_model), separators=(",", ":"))
    return (
        f"{REPAIR_PREFIX}: {reason}. Reply again with only one JSON object that matches this "
        "JSON schema exactly: no code fences, no prose, every required field present, null "
        f"or an empty list where the image does not show something.\n{schema}"
    )


async def request_structured(
    complete: Complete, request: ChatRequest, output_model: type[ModelT]
) -> tuple[Completion, ModelT]:
    """Ask for `output_model` as JSON; one repair request at most; raise MODEL_OUTPUT_INVALID.

    `provider.require_parameters` keeps the request off endpoints that would silently drop
    the response format (OpenRouter's default is to send each endpoint what it supports).
    """
    request = replace(
        request,
        response_format=json_schema_format(output_model),
        provider={**(request.provider or {}), "require_parameters": True},
    )
    first = await complete(request)
    try:
        return first, parse_output(first.content, output_model)
    except OutputInvalid as invalid:
        problem = invalid
    if first.finish_reason == "length":
        # A repair under the same max_tokens would be cut off again: fail cheaply instead.
        raise output_invalid(first, problem, output_model)
    repair = replace(
        request,
        messages=[
            *request.messages,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": repair_prompt(problem.reason, output_model)},
        ],
    )
    try:
        second = await complete(repair)
    except ToolFailure as refused:
        if refused.code != ErrorCode.COST_LIMIT_EXCEEDED:
            raise
        raise unaffordable_repair(first, problem, output_model, refused) from None
    both = replace(second, usage=add_usage(first.usage, second.usage))
    try:
        return both, parse_output(second.content, output_model)
    except OutputInvalid as invalid:
        raise output_invalid(second, invalid, output_model) from None


def output_invalid(
    completion: Completion, invalid: OutputInvalid, output_model: type[BaseModel]
) -> ToolFailure:
    name = output_model.__name__
    if completion.finish_reason == "length":
        message = (
            f"The model's answer was cut off at max_tokens before its {name} JSON was "
            "complete; raise max_tokens and try again."
        )
    else:
        message = (
            f"The model's answer did not match the {name} schema ({invalid.reason[:200]}); "
            "try a model that supports structured outputs, or use analyze_image for free text."
        )
    # Model output is remote text: one printable line, key-like strings redacted, shortened.
    excerpt = quote_remote(completion.content, EXCERPT_CHARS)
    return ToolFailure(ErrorCode.MODEL_OUTPUT_INVALID, message, details={"excerpt": excerpt})


def unaffordable_repair(
    first: Completion, invalid: OutputInvalid, output_model: type[BaseModel], refused: ToolFailure
) -> ToolFailure:
    failure = output_invalid(first, invalid, output_model)
    failure.message = (
        f"{failure.message} No repair request was sent, as it would break this server's cost "
        f"limit: {refused.message}"
    )
    return failure


def add_usage(a: Usage, b: Usage) -> Usage:
    """Usage of two calls together: a repaired answer costs both requests."""

    def total(x: Any, y: Any) -> Any:
        return None if x is None and y is None else (x or 0) + (y or 0)

    return Usage(
        **{name: total(getattr(a, name), getattr(b, name)) for name in Usage.__dataclass_fields__}
    )
