"""Tool arguments checked before FastMCP validates them, and every argument failure reported
as INVALID_INPUT with a one-line message naming the parameter and what it accepts.

FastMCP answers a validation failure with pydantic's own text (several lines per problem,
documentation URLs, no error code), built for every problem: one call with 1.4 million
unknown arguments made a 293 MB answer. `ArgumentGuard` refuses unknown arguments before
validation, at a cost that does not grow with their number (and an extra_images list over the
limit from its length alone), rewrites the failures pydantic
reports, names the first few problems only, and counts the refused call against the caller's
rate limit like any other call, so a client sending bad calls in a loop is told to stop (and
in the logs and metrics as a call).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from fastmcp.exceptions import ValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from mcp_types import CallToolRequestParams
from pydantic import ValidationError as PydanticValidationError

from .analysis.pipeline import error_result, too_many_images
from .errors import ErrorCode, ToolFailure
from .runtime import Runtime
from .telemetry.calls import record_call
from .telemetry.metrics import TOTAL
from .tools import client_name, runtime_of

MAX_PROBLEMS = 3
MAX_QUOTED_CHARS = 40


class ArgumentGuard(Middleware):
    """Turns bad tool arguments into INVALID_INPUT results, cheaply and counted."""

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        server = context.fastmcp_context
        tool = await server.fastmcp.get_tool(context.message.name) if server else None
        if server is None or tool is None:
            return await call_next(context)  # FastMCP reports an unknown tool itself
        started = time.perf_counter()
        runtime = runtime_of(server)
        arguments = context.message.arguments or {}
        failure = unknown_arguments(arguments, tool) or too_many_extra_images(
            arguments, runtime.settings.max_images_per_call
        )
        if failure is None:
            try:
                return await call_next(context)
            except ValidationError as error:
                failure = validation_failure(error.__cause__, tool)
        return error_result(await refuse(runtime, client_name(), tool.name, failure, started))


def unknown_arguments(arguments: dict[str, Any], tool: Tool) -> ToolFailure | None:
    """INVALID_INPUT naming the first few arguments the tool does not take, if any.

    Counts them without looking at each: its cost does not grow with their number.
    """
    parameters = tool.parameters.get("properties", {})
    unknown = len(arguments) - sum(1 for name in parameters if name in arguments)
    if not unknown:
        return None
    names = [
        printable(name)
        for name in itertools.islice((n for n in arguments if n not in parameters), MAX_PROBLEMS)
    ]
    listed = ", ".join(f"'{name}'" for name in names)
    more = f" and {unknown - len(names)} more" if unknown > len(names) else ""
    return invalid_arguments(
        tool.name,
        f"unknown argument{'s' if unknown > 1 else ''} {listed}{more}; "
        f"it takes {', '.join(parameters)}",
        names,
    )


def too_many_extra_images(arguments: dict[str, Any], most: int) -> ToolFailure | None:
    """INVALID_INPUT for an extra_images list over IMAGE_MCP_MAX_IMAGES_PER_CALL (image_path
    included), decided from its length before any item is validated or loaded."""
    extra = arguments.get("extra_images")
    if isinstance(extra, list) and 1 + len(extra) > most:
        return too_many_images(1 + len(extra), most)
    return None


def validation_failure(error: BaseException | None, tool: Tool) -> ToolFailure:
    """INVALID_INPUT naming the first few arguments pydantic refused and what each accepts."""
    if not isinstance(error, PydanticValidationError):
        return invalid_arguments(tool.name, "they do not match the tool's input schema", [])
    parameters = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", ()))
    problems: dict[str, str] = {}  # the first problem with each argument
    for detail in error.errors(include_url=False, include_context=False):
        name = printable(str(detail["loc"][0])) if detail["loc"] else "arguments"
        if name not in problems:
            problems[name] = describe(name, detail, parameters.get(name), name in required)
    names = list(problems)[:MAX_PROBLEMS]
    parts = [problems[name] for name in names]
    if len(problems) > len(names):
        more = len(problems) - len(names)
        parts.append(f"and {more} more problem{'s' if more > 1 else ''}")
    return invalid_arguments(tool.name, "; ".join(parts), names)


def invalid_arguments(tool: str, problems: str, names: list[str]) -> ToolFailure:
    return ToolFailure(
        ErrorCode.INVALID_INPUT,
        f"Invalid arguments for {tool}: {problems}.",
        details={"arguments": names},
    )


def describe(name: str, detail: Any, schema: dict[str, Any] | None, required: bool) -> str:
    if schema is None:
        return f"'{name}' is not a parameter of this tool"
    wanted = accepted(schema, required)
    if detail["type"] in ("missing", "missing_argument"):
        return f"{name} is required: {wanted}"
    return f"{name} must be {wanted} (got {shown(detail.get('input'))})"


def accepted(schema: dict[str, Any], required: bool) -> str:
    """What a parameter's JSON schema accepts, in words: "a number from 0 to 2, or omitted"."""
    options = schema.get("anyOf", [schema])
    kinds = [kind_of(option) for option in options if option.get("type") != "null"]
    text = " or ".join(kinds) or "a valid value"
    return text if required else f"{text}, or omitted"


def kind_of(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(f"'{value}'" for value in schema["enum"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return bounded("an integer" if kind == "integer" else "a number", schema)
    if kind == "string":
        longest = schema.get("maxLength")
        noun = "a non-empty string" if schema.get("minLength") else "a string"
        return f"{noun} of at most {longest} characters" if longest else noun
    if kind == "boolean":
        return "true or false"
    if kind == "array" and "type" in schema.get("items", {}):
        return f"a JSON array of {schema['items']['type']}s"
    return f"a JSON {kind}" if kind else "a valid value"


def bounded(noun: str, schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{noun} from {low} to {high}"
    if low is not None:
        return f"{noun} of at least {low}"
    if high is not None:
        return f"{noun} of at most {high}"
    return noun


def shown(value: object) -> str:
    """A caller's value, short and on one line, for a message."""
    if isinstance(value, str):
        return f"'{printable(value)}'"
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)[:MAX_QUOTED_CHARS]
    return "a list" if isinstance(value, list) else "an object"


def printable(text: str) -> str:
    """`text` cut short, with anything unprintable (newlines, escapes) replaced."""
    visible = "".join(char if char.isprintable() else "?" for char in text[:MAX_QUOTED_CHARS])
    return visible + ("..." if len(text) > MAX_QUOTED_CHARS else "")


async def refuse(
    runtime: Runtime, client: str, tool: str, failure: ToolFailure, started: float
) -> ToolFailure:
    """Count a call refused before its tool ran as a call: against the caller's rate limit,
    in the log, the metrics and the trace, as the tool calls that ran are. Returns what to
    answer: `failure`, or the refusal of a caller over its rate limit or budget."""
    try:
        await runtime.cost.admit(client, tool)
    except ToolFailure as refused:  # over the rate limit or budget: that comes first
        failure = refused
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    outcome = {"client": client, "tool": tool, "code": str(failure.code)}
    record_call(runtime.metrics, outcome, {TOTAL: latency_ms})
    return failure
