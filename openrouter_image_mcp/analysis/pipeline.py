"""The one analysis path all three tools share.

check the arguments' sizes → check and price the model (catalog) → admit the call (rate
limit, budget) → load the bytes → answer from the cache, or prepare the image (in a worker
process) → ask OpenRouter, each request paid for by the call's meter, one request shared by
identical calls under way → (validate the structured answer) → a tool result with `_meta`.
A tool differs from the others only in the prompt and the output model it passes in
`AnalysisTask`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastmcp.tools.base import ToolResult
from mcp_types import TextContent
from pydantic import BaseModel

from ..cost import AnswerSpec, CallMeter, Reply, Served, answer_key
from ..errors import ErrorCode, ToolFailure
from ..imaging import Detail, PreparedImage, target_for_model
from ..imaging.workers import EXPRESS_MAX_BYTES
from ..logs import CALL_LOGGER
from ..openrouter import ChatRequest, Completion, image_message
from ..runtime import Runtime
from ..telemetry import spans
from .structured import request_structured

logger = logging.getLogger(__name__)
call_logger = logging.getLogger(CALL_LOGGER)

HASH_IN_THREAD_BYTES = 1024 * 1024
MAX_MODEL_ID_CHARS = 200
# Inline images are at most 4/3 of the byte limit as base64; percent-encoding and line breaks
# can stretch that, but never past 4x. Longer than this is refused before any work.
IMAGE_PATH_CHARS_PER_BYTE = 4
# Inline images (base64) this short decode to at most EXPRESS_MAX_BYTES.
SMALL_INLINE_CHARS = EXPRESS_MAX_BYTES * 4 // 3

Progress = Callable[[str], Awaitable[None]]
"""Reports that a stage finished; the message names the stage."""


@dataclass(frozen=True, slots=True)
class AnalysisTask:
    tool: str
    image_path: str
    prompt: str
    question: str | None = None  # the caller's own text inside `prompt`, bounded on its own
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    detail: Detail = "auto"
    output_model: type[BaseModel] | None = None


@dataclass(slots=True)
class LoadedImage:
    """Loaded image bytes and the memory slot they occupy, both given up as soon as possible.

    Loaded originals are the largest buffers a call holds (up to IMAGE_MCP_MAX_IMAGE_BYTES
    each), so only a few may exist at once; the bytes are handed to preparation exactly
    once, and nobody keeps them alive during the model wait.
    """

    slot: anyio.Semaphore | None
    data: bytes | None = None

    @classmethod
    async def hold(cls, slots: anyio.Semaphore, data: bytes | None = None) -> LoadedImage:
        await slots.acquire()
        return cls(slot=slots, data=data)

    def take_view(self) -> bytes:
        if self.data is None:
            raise RuntimeError("the image bytes were already released")
        return self.data

    def take(self) -> bytes:
        data = self.take_view()
        self.data = None
        return data

    def release(self) -> None:
        self.data = None
        if self.slot is not None:
            self.slot.release()
            self.slot = None


async def report_quietly(progress: Progress, stage: str) -> None:
    with contextlib.suppress(Exception):
        await progress(stage)


@dataclass(slots=True)
class Timer:
    started: float = field(default_factory=time.perf_counter)
    marks: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str, since: float) -> float:
        self.marks[name] = round((time.perf_counter() - since) * 1000, 1)
        return time.perf_counter()

    def as_meta(self) -> dict[str, float]:
        total = round((time.perf_counter() - self.started) * 1000, 1)
        return {**self.marks, "total": total}


@dataclass(frozen=True, slots=True)
class Answer:
    """What a successful analysis produced: the reply and everything `_meta` reports."""

    text: str
    structured: dict[str, Any] | None
    completion: Completion
    image: PreparedImage

    def reply(self) -> Reply:
        """The answer as the cache keeps it."""
        return Reply(
            text=self.text,
            structured=self.structured,
            meta=self.meta(),
            cost_usd=self.completion.usage.cost or 0.0,
        )

    def meta(self) -> dict[str, Any]:
        c = self.completion
        return {
            "model": c.model,
            "provider": c.provider,
            "generation_id": c.generation_id,
            "finish_reason": c.finish_reason,
            "usage": c.usage.as_meta(),
            "image": {
                "received": self.image.received.as_meta(),
                "sent": {**self.image.sent.as_meta(), "passthrough": self.image.passthrough},
            },
        }


class Analyzer:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._settings = runtime.settings

    async def run(self, task: AnalysisTask, *, client: str, progress: Progress) -> ToolResult:
        """Run one tool call; every failure comes back as an error result, never raised."""
        timer = Timer()
        outcome: dict[str, Any] = {"client": client, "tool": task.tool}
        try:
            served = await self._serve(task, client, timer, progress)
        except ToolFailure as failure:
            outcome["code"] = str(failure.code)
            result = error_result(failure)
        except Exception:
            logger.exception("unexpected failure in %s", task.tool)
            outcome["code"] = str(ErrorCode.INTERNAL)
            result = error_result(
                ToolFailure(
                    ErrorCode.INTERNAL,
                    "The server hit an unexpected error; try again, and report it if it persists.",
                )
            )
        else:
            meta = {**served.meta(), "timings_ms": timer.as_meta()}
            outcome.update(code="OK", cache=served.cache, **_log_fields(meta))
            result = success_result(served.reply, meta)
        timings = timer.as_meta()
        outcome["latency_ms"] = timings["total"]
        call_logger.info("tool call", extra=outcome)
        self._runtime.metrics.observe_call(task.tool, outcome["code"], client, timings)
        spans.annotate_call(outcome["code"], result.meta)
        return result

    async def _serve(
        self, task: AnalysisTask, client: str, timer: Timer, progress: Progress
    ) -> Served:
        self._check_sizes(task)
        model = self._resolve_model(task.model)
        max_tokens = self._resolve_max_tokens(task.max_tokens)
        cost = self._runtime.cost
        meter = cost.meter(client, await cost.plan(model))
        meter.check_floor(max_tokens, images=1)
        await cost.admit(client, task.tool)
        mark = timer.started

        loaded = await spans.traced("load", self._load(task.image_path))
        try:
            mark = timer.lap("load", mark)
            await progress("image loaded")

            # Keyed on the bytes as loaded, before preparation (deterministic given the rest
            # of the key), so a cache hit never decodes the image.
            spec = answer_spec(task, model, max_tokens)
            key = await self._answer_key(loaded.take_view(), spec)
            cached = await cost.cached(key, client)
            if cached is not None:
                return cached

            # Identical calls under way together share one preparation and one upstream
            # request; a call that joins one has nothing of its own to prepare.
            if cost.under_way(key):
                loaded.release()
            served = await cost.share(
                key, client, lambda: self._produce(loaded, task, spec, meter, timer, progress)
            )
        finally:
            loaded.release()
        await progress("answer validated")
        return served

    async def _load(self, image_path: str) -> LoadedImage:
        """The image's bytes, holding one of the slots for loaded originals if they are large.

        Files and large inline images take the slot before reading, so a burst of large images
        waits before loading instead of piling up in memory. URLs take it after the download:
        a slow or dripping server must not hold a slot other calls need (the fetch has its
        own deadline and byte cap). Small images (those the express image worker takes) need
        no slot, so they never wait behind large ones; an inline image's text shows its size.
        """
        loader, slots = self._runtime.loader, self._runtime.loaded_images
        if loader.is_remote(image_path) or (
            loader.is_inline(image_path) and len(image_path) <= SMALL_INLINE_CHARS
        ):
            data = (await loader.load(image_path)).data
            if len(data) <= EXPRESS_MAX_BYTES:
                return LoadedImage(slot=None, data=data)
            return await LoadedImage.hold(slots, data)
        loaded = await LoadedImage.hold(slots)
        try:
            loaded.data = (await loader.load(image_path)).data
        except BaseException:
            loaded.release()
            raise
        return loaded

    async def _produce(
        self,
        loaded: LoadedImage,
        task: AnalysisTask,
        spec: AnswerSpec,
        meter: CallMeter,
        timer: Timer,
        progress: Progress,
    ) -> Reply:
        """Prepare the image and ask the model: the work shared by identical calls.

        `progress` and `timer` belong to the call that started the work; progress is reported
        best-effort, so that caller hanging up cannot fail the work for the others.
        """
        mark = time.perf_counter()
        try:
            image = await spans.traced(
                "prepare", self._prepare(loaded.take(), spec.model, task.detail), model=spec.model
            )
        finally:
            loaded.release()  # the original bytes are not needed during the model wait
        mark = timer.lap("prepare", mark)
        await report_quietly(progress, "image prepared")
        request = ChatRequest(
            model=spec.model,
            messages=[image_message(task.prompt, image.data_url, task.detail)],
            max_tokens=spec.max_tokens,
            temperature=task.temperature,
            provider=meter.provider,
        )
        meter.image_sizes = [(image.sent.width, image.sent.height)]
        await report_quietly(progress, "waiting on the model")
        reply = await spans.traced(
            "upstream", self._ask(request, task.output_model, image, meter), model=spec.model
        )
        timer.lap("upstream", mark)
        return reply

    async def _ask(
        self,
        request: ChatRequest,
        output_model: type[BaseModel] | None,
        image: PreparedImage,
        meter: CallMeter,
    ) -> Reply:
        openrouter = self._runtime.openrouter

        async def metered(request: ChatRequest) -> Completion:
            return await openrouter.complete(request, meter)

        complete = self._runtime.cost.gate(metered)
        if output_model is None:
            completion = await complete(request)
            text, structured = completion.content, None
        else:
            completion, validated = await request_structured(complete, request, output_model)
            structured = validated.model_dump(mode="json")
            text = validated.model_dump_json(indent=2)
        return Answer(text=text, structured=structured, completion=completion, image=image).reply()

    async def _answer_key(self, raw: bytes, spec: AnswerSpec) -> str:
        # Hashing 20 MB takes ~40 ms: off the event loop for anything large (hashlib
        # releases the GIL), on it for small images, where a thread hop would cost more.
        if len(raw) < HASH_IN_THREAD_BYTES:
            return answer_key(raw, spec, self._settings)
        return await anyio.to_thread.run_sync(answer_key, raw, spec, self._settings)

    async def _prepare(self, raw: bytes, model: str, detail: Detail) -> PreparedImage:
        target = target_for_model(model, detail, self._settings)
        return await self._runtime.image_workers.prepare(raw, target)

    def _check_sizes(self, task: AnalysisTask) -> None:
        """Refuse oversized arguments before anything is loaded, fetched or decoded."""
        limit = self._settings.max_question_chars
        if task.question is not None and len(task.question) > limit:
            raise ToolFailure(
                ErrorCode.INVALID_INPUT,
                f"question is {len(task.question)} characters long, over this server's limit of "
                f"{limit} (IMAGE_MCP_MAX_QUESTION_CHARS); ask a shorter question.",
                details={"arguments": ["question"]},
            )
        if task.model is not None and len(task.model) > MAX_MODEL_ID_CHARS:
            raise ToolFailure(
                ErrorCode.INVALID_INPUT,
                f"model is {len(task.model)} characters long; OpenRouter model ids are short, "
                "e.g. 'google/gemini-2.5-flash'.",
                details={"arguments": ["model"]},
            )
        max_bytes = self._settings.max_image_bytes
        if len(task.image_path) > max_bytes * IMAGE_PATH_CHARS_PER_BYTE:
            raise ToolFailure(
                ErrorCode.RESOURCE_TOO_LARGE,
                f"image_path is {len(task.image_path)} characters long, more than any image of "
                f"at most {max_bytes} bytes (IMAGE_MCP_MAX_IMAGE_BYTES) can take; send a "
                "smaller image.",
                details={"arguments": ["image_path"]},
            )

    def _resolve_model(self, requested: str | None) -> str:
        model = (requested or "").strip() or self._settings.default_model
        allowed = self._settings.allowed_models
        if allowed and model not in allowed:
            raise ToolFailure(
                ErrorCode.INVALID_INPUT,
                f"Model '{model[:100]}' is not allowed on this server; use one of: "
                f"{', '.join(allowed)} (or omit `model` for the default).",
            )
        return model

    def _resolve_max_tokens(self, requested: int | None) -> int:
        ceiling = self._settings.max_tokens_ceiling
        if requested is not None and requested > ceiling:
            raise ToolFailure(
                ErrorCode.INVALID_INPUT,
                f"max_tokens {requested} is above this server's ceiling of {ceiling}; "
                "ask for fewer tokens or omit max_tokens.",
            )
        return requested or self._settings.default_max_tokens


def answer_spec(task: AnalysisTask, model: str, max_tokens: int) -> AnswerSpec:
    """What decides the answer besides the image: the task, with the defaults applied."""
    return AnswerSpec(
        tool=task.tool,
        prompt=task.prompt,
        model=model,
        max_tokens=max_tokens,
        temperature=task.temperature,
        detail=task.detail,
        output_model=task.output_model,
    )


UNTRUSTED = {"content_is_untrusted": True}
"""In every result's `_meta`: the text is model output about an image (or quotes remote text),
and may carry words written by whoever made the image; data for the agent, never instructions."""


def success_result(reply: Reply, meta: dict[str, Any]) -> ToolResult:
    return ToolResult(
        content=[TextContent(type="text", text=reply.text)],
        structured_content=reply.structured,
        meta={**meta, **UNTRUSTED},
    )


def error_result(failure: ToolFailure) -> ToolResult:
    return ToolResult(
        content=[TextContent(type="text", text=f"{failure.code}: {failure.message}")],
        structured_content=failure.to_payload(),
        meta={"error_code": str(failure.code), **UNTRUSTED},
        is_error=True,
    )


def _log_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """The parts of `_meta` worth a log line: sizes and usage, never content."""
    return {
        "model": meta["model"],
        "image_received": meta["image"]["received"],
        "image_sent": meta["image"]["sent"],
        "usage": meta["usage"],
    }
