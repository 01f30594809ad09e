"""The connection to OpenRouter: one pooled HTTP client, one deadline per call, retries.

OpenRouter keeps slow non-streaming answers alive by sending whitespace before the JSON, so
a per-read timeout never fires; the only reliable bound is one total deadline around every
attempt and every backoff sleep of a call.

Retried: connection failures and the statuses in `backoff.RETRY_STATUSES`, including when the
status is the code of an error inside a 200 answer (the same transient provider failure,
reported after routing began). Everything else is final: asking again would fail again.

Every attempt is paid for through the call's `Meter` (see meter.py): reserved before it is
sent, settled after with what it was billed. A retry the meter will not pay for is not made;
the call fails with the error that prompted it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from openrouter_image_mcp.errors import OK, ErrorCode, ToolFailure
from openrouter_image_mcp.openrouter.backoff import RETRY_STATUSES, Backoff, retry_after_s
from openrouter_image_mcp.openrouter.body import JsonBody
from openrouter_image_mcp.openrouter.completion import (
    Completion,
    decode_json,
    parse_completion,
    parse_usage,
)
from openrouter_image_mcp.openrouter.mapping import read_error, to_failure
from openrouter_image_mcp.openrouter.meter import UNMETERED, Charge, Meter
from openrouter_image_mcp.openrouter.request import ChatRequest
from openrouter_image_mcp.settings import Settings
from openrouter_image_mcp.tls import client_tls_context

logger = logging.getLogger(__name__)

MODELS_TIMEOUT_S = 10.0
# Bodies up to this are sent as one bytes object (one write, the cheapest for small images);
# larger ones are streamed from the request's own strings, never copied whole.
STREAM_BODIES_OVER_BYTES = 1024 * 1024
# Answered before any model ran (OpenRouter's request errors, routing failures): not billed.
# Other failures (408, 5xx from a provider, a proxy's page) may have been, so they are unknown.
NOT_BILLED_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 413, 422, 429, 503})


@dataclass(frozen=True, slots=True)
class _Setback:
    """A failed attempt: what to report, and whether another attempt may succeed."""

    failure: ToolFailure
    worth_retrying: bool


class OpenRouterClient:
    """Sends chat completions to OpenRouter; create one per server and `aclose` it at shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self._backoff = backoff or Backoff()
        self._http = httpx2.AsyncClient(
            base_url=settings.openrouter_base_url,
            headers=_headers(settings),
            # Reads are bounded by the call's total deadline instead (see the module docstring).
            timeout=httpx2.Timeout(None, connect=settings.upstream_connect_timeout_s),
            limits=httpx2.Limits(
                max_connections=settings.max_concurrency,
                max_keepalive_connections=settings.max_concurrency,
            ),
            transport=transport,
            verify=client_tls_context(),
        )

    async def complete(self, request: ChatRequest, meter: Meter = UNMETERED) -> Completion:
        """The model's answer; every failure is a `ToolFailure`. `meter` pays for each attempt."""
        if self._settings.api_key is None:
            raise ToolFailure(
                ErrorCode.CONFIG_ERROR,
                "OPENROUTER_API_KEY is not set; set it in the server's environment or .env "
                "and restart",
            )
        deadline_s = self._settings.upstream_timeout_s
        try:
            with anyio.fail_after(deadline_s) as scope:
                return await self._complete_with_retries(request, meter, scope)
        except TimeoutError:
            raise ToolFailure(
                ErrorCode.UPSTREAM_TIMEOUT,
                f"OpenRouter did not answer within {deadline_s:g} s; retry, pick a faster "
                "model, or raise IMAGE_MCP_UPSTREAM_TIMEOUT_S",
            ) from None

    async def models(self) -> bytes:
        """The raw body of GET /models (public; the key is sent anyway); raises on failure."""
        response = await self._http.get("models", timeout=MODELS_TIMEOUT_S)
        response.raise_for_status()
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _complete_with_retries(
        self, request: ChatRequest, meter: Meter, scope: anyio.CancelScope
    ) -> Completion:
        body = _encode(request)
        attempt = 1
        charge = await meter.reserve(request)
        while True:
            outcome = await self._attempt(body, request.model, attempt, charge, scope)
            if isinstance(outcome, Completion):
                return outcome
            failure = _without_secret(outcome.failure, self._settings.api_key or "")
            delay_s = self._retry_delay_s(outcome, attempt, scope.deadline - anyio.current_time())
            if delay_s is None:
                raise failure
            logger.info(
                "OpenRouter attempt %d failed (%s); retrying in %.2f s",
                attempt,
                outcome.failure.code,
                delay_s,
            )
            await anyio.sleep(delay_s)
            try:
                charge = await meter.reserve(request)
            except ToolFailure as refusal:
                logger.info("not retrying: %s", refusal.code)
                raise failure from None
            attempt += 1

    def _retry_delay_s(self, setback: _Setback, attempt: int, remaining_s: float) -> float | None:
        """How long to wait before the next attempt, or None to give up now."""
        if not setback.worth_retrying or attempt > self._settings.upstream_max_retries:
            return None
        delay_s = setback.failure.retry_after_s
        if delay_s is None:
            delay_s = self._backoff.delay_s(attempt)
        # Sleeping past the deadline would only turn a precise error into a timeout.
        return delay_s if delay_s < remaining_s else None

    async def _attempt(
        self, body: JsonBody, model: str, attempt: int, charge: Charge, deadline: anyio.CancelScope
    ) -> Completion | _Setback:
        """One request; `charge` is settled whatever happens, cancellation included."""
        try:
            outcome = await self._send(body, model, attempt, charge)
        except ToolFailure as failure:
            charge.report(failure.code)
            raise
        except anyio.get_cancelled_exc_class():
            if deadline.cancel_called:
                charge.report(ErrorCode.UPSTREAM_TIMEOUT)
            raise
        else:
            if isinstance(outcome, Completion):
                charge.report(OK, outcome.usage)
            else:
                charge.report(outcome.failure.code)
            return outcome
        finally:
            await charge.settle()

    async def _send(
        self, body: JsonBody, model: str, attempt: int, charge: Charge
    ) -> Completion | _Setback:
        started = time.perf_counter()
        try:
            response = await self._http.post("chat/completions", **_content(body))
        except httpx2.RequestError as exc:  # connection, protocol or body-decoding failure
            logger.debug("OpenRouter attempt %d: %s", attempt, type(exc).__name__)
            if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout):
                charge.record(0.0)  # nothing was sent
            return _Setback(self._unreachable(exc), worth_retrying=True)
        logger.debug(
            "OpenRouter attempt %d: HTTP %d in %.0f ms",
            attempt,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        payload = decode_json(response.content)
        charge.record(_billed_usd(response.status_code, payload))
        return _read_response(response, payload, model)

    def _unreachable(self, exc: httpx2.RequestError) -> ToolFailure:
        host = httpx2.URL(self._settings.openrouter_base_url).host
        return ToolFailure(
            ErrorCode.UPSTREAM_UNAVAILABLE,
            f"could not reach OpenRouter at {host} ({type(exc).__name__}); "
            "check the network and OPENROUTER_BASE_URL, then retry",
        )


def _headers(settings: Settings) -> dict[str, bytes]:
    headers = {
        "HTTP-Referer": settings.app_url,
        "X-OpenRouter-Title": settings.app_title,
        "X-Title": settings.app_title,  # older gateways read only this one
        "Content-Type": "application/json",
    }
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    # httpx2 would reject a non-ASCII title as str; UTF-8 bytes go through.
    return {name: value.encode() for name, value in headers.items()}


def _without_secret(failure: ToolFailure, secret: str) -> ToolFailure:
    """Upstream text is already scrubbed of key-like tokens; this also catches any key format."""
    if not secret or secret not in failure.message:
        return failure
    return ToolFailure(
        failure.code,
        failure.message.replace(secret, "[redacted]"),
        retryable=failure.retryable,
        retry_after_s=failure.retry_after_s,
        details=failure.details,
    )


def _encode(request: ChatRequest) -> JsonBody:
    """The body, encoded once for all attempts, streaming the image rather than copying it."""
    try:
        return JsonBody.encode(request.as_body())
    except ValueError:
        raise ToolFailure(
            ErrorCode.INVALID_INPUT,
            "the request holds a number JSON cannot carry (NaN or infinity); "
            "pass finite values such as temperature=0.2",
        ) from None


def _content(body: JsonBody) -> dict[str, Any]:
    """The request's content arguments for one attempt."""
    if body.length <= STREAM_BODIES_OVER_BYTES:
        return {"content": bytes(body)}
    return {"content": body.stream(), "headers": {"Content-Length": str(body.length)}}


def _billed_usd(status: int, payload: object) -> float | None:
    """What an answer says it cost, success or not; 0 if provably free, None if unknown."""
    usage = payload.get("usage") if isinstance(payload, dict) else None
    cost = parse_usage(usage).cost if usage is not None else None
    if cost is not None:
        return cost
    return 0.0 if status in NOT_BILLED_STATUSES and isinstance(payload, dict) else None


def _read_response(response: httpx2.Response, payload: object, model: str) -> Completion | _Setback:
    if response.is_success:
        outcome = parse_completion(
            payload,
            requested_model=model,
            header_generation_id=response.headers.get("x-generation-id"),
        )
        if isinstance(outcome, Completion):
            return outcome
        error = outcome
    else:
        error = read_error(payload, http_status=response.status_code)
    wait_s = retry_after_s(response.headers, error.status, time.time())
    return _Setback(
        to_failure(error, retry_after_s=wait_s),
        worth_retrying=error.status in RETRY_STATUSES,
    )
