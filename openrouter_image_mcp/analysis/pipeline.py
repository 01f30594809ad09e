"""The one analysis path all three tools share.

check the arguments' sizes → check and price the model (catalog) → admit the call (rate
limit, budget) → load the bytes → answer from the cache, or prepare the image (in a worker
process) → ask OpenRouter, each request paid for by the call's meter, one request shared by
identical calls under way → (validate the structured answer) → a tool result with `_meta`.
A tool differs from the others only in the prompt and the output model it passes in
`AnalysisTask`.

A call with several images (analyze_image's extra_images) sends them all in one request, in
order. Each is loaded, checked and prepared exactly like a single one, and prepared as soon
as it is loaded, so the call never holds more loaded originals than it has slots; a bad one
fails the call, named (`extra_images[2]: ...`), before anything is sent. Together they get
at most IMAGE_MCP_MAX_IMAGE_BYTES, in equal shares.
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

from ..cost import AnswerSpec, CallMeter, Reply, Served, answer_key, image_digest
from ..errors import OK, ErrorCode, ToolFailure
from ..imaging import Detail, ImageParts, target_for_model, tile_policy
from ..imaging.workers import EXPRESS_MAX_BYTES
from ..openrouter import ChatRequest, Completion, ImageInput, images_message
from ..runtime import Runtime
from ..telemetry import spans
from ..telemetry.calls import record_call
from .prompts import image_caption
from .structured import request_structured

logger = logging.getLogger(__name__)

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
    extra_images: tuple[str, ...] = ()  # sent after image_path, in this order

    @property
    def image_paths(self) -> tuple[str, ...]:
        return (self.image_path, *self.extra_images)


def argument_of(index: int) -> str:
    """The argument that carried a call's `index`-th image."""
    return "image_path" if index == 0 else f"extra_images[{index - 1}]"


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

    def lap(self, name: str, since: float, until: float | None = None) -> float:
        until = time.perf_counter() if until is None else until
        self.marks[name] = round((until - since) * 1000, 1)
        return until

    def as_meta(self) -> dict[str, float]:
        total = round((time.perf_counter() - self.started) * 1000, 1)
        return {**self.marks, "total": total}


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call under way: what it asks, who pays for it, and what it reports to."""

    task: AnalysisTask
    spec: AnswerSpec
    client: str
    meter: CallMeter
    timer: Timer
    progress: Progress


@dataclass(frozen=True, slots=True)
class Answer:
    """What a successful analysis produced: the reply and everything `_meta` reports."""

    text: str
    structured: dict[str, Any] | None
    completion: Completion
    images: list[ImageParts]  # in request order

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
            "image": self.images[0].as_meta(),
            "images": [image.as_meta() for image in self.images],
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
            outcome.update(code=OK, cache=served.cache, **_log_fields(meta))
            result = success_result(served.reply, meta)
        record_call(self._runtime.metrics, outcome, timer.as_meta(), result.meta)
        return result

    async def _serve(
        self, task: AnalysisTask, client: str, timer: Timer, progress: Progress
    ) -> Served:
        self._check_sizes(task)
        model = self._resolve_model(task.model)
        max_tokens = self._resolve_max_tokens(task.max_tokens)
        cost = self._runtime.cost
        meter = cost.meter(client, await cost.plan(model))
        meter.check_floor(max_tokens, images=len(task.image_paths))
        await cost.admit(client, task.tool)
        call = Call(task, answer_spec(task, model, max_tokens), client, meter, timer, progress)
        served = await (self._serve_several(call) if task.extra_images else self._serve_one(call))
        await progress("answer validated")
        return served

    async def _serve_one(self, call: Call) -> Served:
        cost = self._runtime.cost
        loaded = await spans.traced("load", self._load(call.task.image_path))
        try:
            call.timer.lap("load", call.timer.started)
            await call.progress("image loaded")

            # Keyed on the bytes as loaded, before preparation (deterministic given the rest
            # of the key), so a cache hit never decodes the image.
            digest = await self._digest(loaded.take_view())
            key = answer_key([digest], call.spec, self._settings)
            cached = await cost.cached(key, call.client)
            if cached is not None:
                return cached

            # Identical calls under way together share one preparation and one upstream
            # request; a call that joins one has nothing of its own to prepare.
            if cost.under_way(key):
                loaded.release()
            return await cost.share(key, call.client, lambda: self._produce(loaded, call))
        finally:
            loaded.release()

    async def _serve_several(self, call: Call) -> Served:
        """Each image is prepared as soon as it is loaded (holding its original would take a
        slot per image), so here a cache hit has decoded them; it still costs nothing."""
        images, digests = await self._prepare_all(call.task, call.spec.model, call.timer)
        await call.progress("image loaded")
        await report_quietly(call.progress, "image prepared")
        cost = self._runtime.cost
        key = answer_key(digests, call.spec, self._settings)
        cached = await cost.cached(key, call.client)
        if cached is not None:
            return cached
        return await cost.share(key, call.client, lambda: self._request(images, call))

    async def _prepare_all(
        self, task: AnalysisTask, model: str, timer: Timer
    ) -> tuple[list[ImageParts], list[str]]:
        """Every image of the call prepared, in order, with the digest of its bytes as loaded.
        The first bad image fails the call, named, and the others are not waited for.

        As many images are loaded and prepared at once as there are image workers, each
        holding a loaded-original slot only while it is loaded, as a single call does.
        """
        paths = task.image_paths
        share = self._settings.max_image_bytes // len(paths)
        at_once = anyio.CapacityLimiter(self._settings.image_workers)
        done: dict[int, tuple[ImageParts, str]] = {}
        failures: dict[int, ToolFailure] = {}
        loaded_at: list[float] = []

        async def prepare_one(index: int) -> None:
            try:
                async with at_once:
                    loaded = await spans.traced("load", self._load(paths[index]))
                    try:
                        loaded_at.append(time.perf_counter())
                        digest = await self._digest(loaded.take_view())
                        image = await spans.traced(
                            "prepare",
                            self._prepare(loaded.take(), model, task.detail, share),
                            model=model,
                        )
                    finally:
                        loaded.release()
                done[index] = (image, digest)
            except ToolFailure as failure:
                failures[index] = failure
                group.cancel_scope.cancel()  # the call fails: the other images are not needed

        async with anyio.create_task_group() as group:
            for index in range(len(paths)):
                group.start_soon(prepare_one, index)
        if failures:
            first = min(failures)
            raise naming(failures[first], argument_of(first))
        timer.lap("prepare", timer.lap("load", timer.started, max(loaded_at)))
        ordered = [done[index] for index in range(len(paths))]
        return [image for image, _ in ordered], [digest for _, digest in ordered]

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

    async def _produce(self, loaded: LoadedImage, call: Call) -> Reply:
        """Prepare the image and ask the model: the work shared by identical calls.

        `call` is the call that started the work: its progress is reported best-effort, so
        that caller hanging up cannot fail the work for the others.
        """
        mark = time.perf_counter()
        try:
            image = await spans.traced(
                "prepare",
                self._prepare(loaded.take(), call.spec.model, call.task.detail),
                model=call.spec.model,
            )
        finally:
            loaded.release()  # the original bytes are not needed during the model wait
        call.timer.lap("prepare", mark)
        await report_quietly(call.progress, "image prepared")
        return await self._request([image], call)

    async def _request(self, images: list[ImageParts], call: Call) -> Reply:
        """Ask the model about the prepared images, in one request."""
        task, spec, meter = call.task, call.spec, call.meter
        mark = time.perf_counter()
        inputs = [
            ImageInput(
                tuple(part.data_url for part in image.parts),
                image_caption(position, len(images), image.tiling),
            )
            for position, image in enumerate(images, start=1)
        ]
        request = ChatRequest(
            model=spec.model,
            messages=[images_message(task.prompt, inputs, task.detail)],
            max_tokens=spec.max_tokens,
            temperature=task.temperature,
            provider=meter.provider,
            models=meter.models,
        )
        meter.image_sizes = [size for image in images for size in image.sizes]
        await report_quietly(call.progress, "waiting on the model")
        reply = await spans.traced(
            "upstream", self._ask(request, task.output_model, images, meter), model=spec.model
        )
        call.timer.lap("upstream", mark)
        return reply

    async def _ask(
        self,
        request: ChatRequest,
        output_model: type[BaseModel] | None,
        images: list[ImageParts],
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
        answer = Answer(text=text, structured=structured, completion=completion, images=images)
        return answer.reply()

    async def _digest(self, raw: bytes) -> str:
        # Hashing 20 MB takes ~40 ms: off the event loop for anything large (hashlib
        # releases the GIL), on it for small images, where a thread hop would cost more.
        if len(raw) < HASH_IN_THREAD_BYTES:
            return image_digest(raw)
        return await anyio.to_thread.run_sync(image_digest, raw)

    async def _prepare(
        self, raw: bytes, model: str, detail: Detail, max_bytes: int | None = None
    ) -> ImageParts:
        target = target_for_model(model, detail, self._settings)
        tiling = tile_policy(detail, self._settings)
        return await self._runtime.image_workers.prepare(
            raw, target, tiling=tiling, max_bytes=max_bytes
        )

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
        images, most = len(task.image_paths), self._settings.max_images_per_call
        if images > most:
            raise too_many_images(images, most)
        max_bytes = self._settings.max_image_bytes
        for index, image_path in enumerate(task.image_paths):
            if len(image_path) > max_bytes * IMAGE_PATH_CHARS_PER_BYTE:
                argument = argument_of(index)
                raise ToolFailure(
                    ErrorCode.RESOURCE_TOO_LARGE,
                    f"{argument} is {len(image_path)} characters long, more than any image of "
                    f"at most {max_bytes} bytes (IMAGE_MCP_MAX_IMAGE_BYTES) can take; send a "
                    "smaller image.",
                    details={"arguments": [argument]},
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


def too_many_images(images: int, most: int) -> ToolFailure:
    """The refusal of a call with more images than IMAGE_MCP_MAX_IMAGES_PER_CALL."""
    return ToolFailure(
        ErrorCode.INVALID_INPUT,
        f"This call has {images} images (image_path and {images - 1} extra_images); this "
        f"server takes at most {most} per call (IMAGE_MCP_MAX_IMAGES_PER_CALL), so send at "
        f"most {most - 1} extra_images, or compare them over several calls.",
        details={"arguments": ["extra_images"]},
    )


def naming(failure: ToolFailure, argument: str) -> ToolFailure:
    """`failure` of one of a call's several images, saying which one it was."""
    return ToolFailure(
        failure.code,
        f"{argument}: {failure.message}",
        retryable=failure.retryable,
        retry_after_s=failure.retry_after_s,
        details={**failure.details, "arguments": [argument]},
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
