"""The benchmark's upstream: the project's fake OpenRouter, timing every answer it gives.

Runs `tests.fake_openrouter.FakeOpenRouter` in its own process (so its work is neither the
client's nor the server's) and adds `GET /bench/records`, which hands over and forgets, for
every chat completion since the last read: the generation id (the server returns it in
`_meta`, so each record pairs with exactly one tool call, even under concurrency), the
seconds the fake spent on the request (reading the body, decoding the image, the configured
latency), and the image as received when the prompt asked for it with KEEP_IMAGE (request
bodies are otherwise never kept: they hold whole images). `PUT /bench/latency` with
`{"latency_s": 0.2}` changes the latency added to every later answer.

    python -m bench.upstream --latency 0.2   # prints the base URL on its first line
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_openrouter import FakeOpenRouter, ReceivedImage

RECORDS_PATH = "/bench/records"
LATENCY_PATH = "/bench/latency"
KEEP_IMAGE = "[bench: keep the image]"


class TimedFakeOpenRouter(FakeOpenRouter):
    """The fake, plus a drainable per-completion record of time spent and images received."""

    def __init__(self, **options: Any) -> None:
        self._records: list[dict[str, Any]] = []
        self._records_lock = threading.Lock()
        super().__init__(record=False, **options)

    def _app(self) -> Any:
        app = super()._app()
        app.router.routes.append(Route(RECORDS_PATH, self._drain, methods=["GET"]))
        app.router.routes.append(Route(LATENCY_PATH, self._set_latency, methods=["PUT"]))
        return app

    async def _set_latency(self, request: Request) -> JSONResponse:
        self.latency_s = float((await request.json())["latency_s"])
        return JSONResponse({"latency_s": self.latency_s})

    def _record(self, request: Request, body: Any, images: list[ReceivedImage]) -> None:
        request.state.bench_images = [_summary(image) for image in images]
        request.state.bench_kept = _kept_urls(body)
        super()._record(request, body, images)

    async def _chat(self, request: Request) -> Response:
        started = time.perf_counter()
        response = await super()._chat(request)
        record = {
            "generation_id": response.headers.get("x-generation-id"),
            "status": response.status_code,
            "spent_s": time.perf_counter() - started,
            "images": getattr(request.state, "bench_images", []),
            "kept": getattr(request.state, "bench_kept", []),
        }
        with self._records_lock:
            self._records.append(record)
        return response

    async def _drain(self, request: Request) -> JSONResponse:
        with self._records_lock:
            records, self._records = self._records, []
        return JSONResponse(records)


def _summary(image: ReceivedImage) -> dict[str, Any]:
    return {
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "bytes": image.byte_length,
    }


def _kept_urls(body: Any) -> list[str]:
    """The image data URLs of a request whose text asks for them to be kept."""
    try:
        parts = [part for message in body["messages"] for part in message["content"]]
    except (KeyError, TypeError):
        return []
    texts = [part.get("text", "") for part in parts if isinstance(part, dict)]
    if not any(KEEP_IMAGE in text for text in texts if isinstance(text, str)):
        return []
    return [
        part["image_url"]["url"]
        for part in parts
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Timed fake OpenRouter for the benchmark.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added per answer")
    args = parser.parse_args(argv)
    fake = TimedFakeOpenRouter(latency_s=args.latency, port=args.port)
    fake.serve_forever(on_ready=lambda base_url: print(base_url, flush=True))


if __name__ == "__main__":
    main()
