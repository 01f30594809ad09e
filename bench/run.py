"""The whole benchmark: which series run, in which order, over which transport.

Every tool call asks a distinct question and the server runs with its cache off, so no figure
is flattered by the answer cache or by identical calls sharing one preparation: every series
is made of distinct calls.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

from openrouter_image_mcp.telemetry.metrics import TOTAL

from .clients import Call, HttpCaller, StdioSession
from .inputs import BenchImage
from .legibility import Legibility, fidelity_db, legibility, upright_original
from .processes import (
    FLOOR,
    OURS,
    HttpServer,
    Upstream,
    running_http,
    server_environment,
    stdio_session,
)
from .reference import measure_reference
from .sampling import TreeWatch, Usage
from .stats import Spread, spread
from .tall_page import TallPage, drawn, judged, whole_image
from .upstream import KEEP_IMAGE

SMALL = "small_png"
OUTSIDE = "outside"
NOISE = "noise_png"
SCREENSHOT = "screenshot_png"
DEFAULT_MODEL = "google/gemini-2.5-flash"
SCREENSHOT_MODELS = (
    ("openai/gpt-4o", "auto"),
    ("openai/gpt-5-mini", "auto"),
    ("anthropic/claude-sonnet-4.5", "auto"),
    ("anthropic/claude-opus-4.7", "high"),
    ("google/gemini-2.5-flash", "auto"),
    ("google/gemini-3-flash-preview", "auto"),
)
FAITHFUL = ("photo", "animation")  # kinds judged by PSNR against the original
_SERIAL = itertools.count()


@dataclass(frozen=True, slots=True)
class Plan:
    calls_small: int  # sequential calls per small input
    calls_large: int  # sequential calls per large input
    floor_calls: int  # no-op calls to the floor servers
    reference_repeats: int
    cold_starts: int
    load_clients: int
    load_calls_each: int
    rss_concurrency: int
    models: tuple[tuple[str, str], ...]  # (model, detail) the screenshot is also sent to


FULL = Plan(60, 10, 100, 7, 5, 50, 8, 10, SCREENSHOT_MODELS)
# An OpenAI-class and a Claude-class size besides the default model's.
QUICK = Plan(20, 3, 30, 2, 1, 50, 2, 10, SCREENSHOT_MODELS[1:3])


@dataclass(frozen=True, slots=True)
class Judged:
    """What one image became: its size and bytes, and how good it is where that is known."""

    format: str
    width: int
    height: int
    bytes: int
    legibility: Legibility | None
    fidelity_db: float | None  # None: not a photo, or not the picture's shape (sideways)


@dataclass(frozen=True, slots=True)
class Series:
    """Calls of one kind, with the server tree's CPU time over them."""

    calls: list[Call]
    cpu_s: float
    elapsed_s: float
    upstream: list[dict[str, Any]] = field(default_factory=list)  # records, by completion

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu_s * 1000 / len(self.calls)

    @property
    def calls_per_s(self) -> float:
        return len(self.calls) / self.elapsed_s

    def overhead_ms(self) -> Spread | None:
        """Client latency minus the upstream's own time for that very completion."""
        spent = {r["generation_id"]: r["spent_s"] for r in self.upstream}
        return spread(
            [
                (call.latency_s - spent[call.meta["generation_id"]]) * 1000
                for call in self.calls
                if call.meta.get("generation_id") in spent
            ]
        )

    def latency_ms(self) -> Spread | None:
        return spread([call.latency_s * 1000 for call in self.calls])

    def stages_ms(self) -> dict[str, float]:
        """Median wall milliseconds of each stage the server reports in `_meta.timings_ms`
        (load, prepare, upstream, total), and `outside`: the client's latency beyond the
        tool's total (JSON-RPC, FastMCP's dispatch and middleware, the transport)."""
        timed = [(call, call.meta.get("timings_ms") or {}) for call in self.calls]
        timed = [(call, timings) for call, timings in timed if TOTAL in timings]
        if not timed:
            return {}
        stages = {name: [t[name] for _, t in timed if name in t] for name in timed[0][1]}
        stages[OUTSIDE] = [call.latency_s * 1000 - t[TOTAL] for call, t in timed]
        return {name: round(statistics.median(values), 1) for name, values in stages.items()}


@dataclass(frozen=True, slots=True)
class ImageRow:
    image: BenchImage
    ours: Series
    sent: Judged
    reference_cpu_ms: float
    reference: Judged


@dataclass(frozen=True, slots=True)
class ColdStart:
    wall_s: list[float]
    cpu_s: list[float]

    @property
    def wall_median_s(self) -> float:
        return statistics.median(self.wall_s)

    @property
    def cpu_median_s(self) -> float:
        return statistics.median(self.cpu_s)


@dataclass(slots=True)
class Measurements:
    images: list[ImageRow] = field(default_factory=list)
    stdio_floor: Series | None = None
    by_model: list[tuple[str, str, Judged]] = field(default_factory=list)
    http_small: Series | None = None
    http_floor: Series | None = None
    load: Series | None = None
    peak_memory: Usage | None = None  # during 10 concurrent 18 MB PNGs
    tall_page: TallPage | None = None
    cold_start: dict[str, ColdStart] = field(default_factory=dict)
    durations_s: dict[str, float] = field(default_factory=dict)  # where the run's time went


@dataclass(frozen=True, slots=True)
class _Unjudged:
    """An input's series and what was sent, before OCR and PSNR (done after all servers)."""

    image: BenchImage
    ours: Series
    sent: bytes
    reference_cpu_ms: float
    reference: bytes


def arguments(image: BenchImage | Path, *, keep: bool = False, **extra: str) -> dict[str, Any]:
    question = f"Describe it (#{next(_SERIAL)}).{' ' + KEEP_IMAGE if keep else ''}"
    path = image if isinstance(image, Path) else image.path
    return {"image_path": str(path), "question": question, **extra}


class Bench:
    def __init__(
        self,
        plan: Plan,
        images: dict[str, BenchImage],
        upstream: Upstream,
        latency_s: float,
        out: Path,
    ) -> None:
        self.plan, self.images, self.upstream, self.out = plan, images, upstream, out
        self.latency_s = latency_s
        self.env = server_environment(upstream, images[SMALL].path.parent)
        self.measured = Measurements()

    async def run(self) -> Measurements:
        # The sequential series run without upstream latency (as issue 14's comparison did),
        # so they can afford enough calls to average out the 10 ms granularity of the kernel's
        # CPU accounting, and no call's CPU includes what waiting costs (see http_series).
        self.upstream.set_latency(0.0)
        with self.timed("cold starts"):
            await self.cold_starts()
        with self.timed("stdio series"):
            unjudged, by_model, tiles = await self.stdio_series()
        with self.timed("http series"):
            await self.http_series()
        with self.timed("OCR and PSNR"):
            self.judge_all(unjudged, by_model, tiles)
        return self.measured

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.measured.durations_s[name] = round(time.monotonic() - started, 1)

    def judge_all(
        self,
        unjudged: list[_Unjudged],
        by_model: list[tuple[str, str, bytes]],
        tiles: list[bytes],
    ) -> None:
        """Tesseract on two threads, once no server is running to be disturbed."""
        screenshot = self.images[SCREENSHOT]
        page, path = drawn(self.images[SMALL].path.parent)
        with ThreadPoolExecutor(max_workers=2) as pool:
            whole = pool.submit(judged, page, [whole_image(path, DEFAULT_MODEL)])
            tiled = pool.submit(judged, page, tiles)
            rows = [
                (
                    row,
                    pool.submit(judge, row.sent, row.image),
                    pool.submit(judge, row.reference, row.image),
                )
                for row in unjudged
            ]
            models = [(m, d, pool.submit(judge, sent, screenshot)) for m, d, sent in by_model]
            self.measured.images = [
                ImageRow(row.image, row.ours, sent.result(), row.reference_cpu_ms, ref.result())
                for row, sent, ref in rows
            ]
            self.measured.by_model = [(m, d, judged.result()) for m, d, judged in models]
            self.measured.tall_page = TallPage(DEFAULT_MODEL, whole.result(), tiled.result())

    async def cold_starts(self) -> None:
        for name, module in (("ours", OURS), ("floor", FLOOR)):
            wall, cpu = [], []
            for _ in range(self.plan.cold_starts):
                with (self.out / f"stdio-{name}.log").open("ab") as log:
                    async with stdio_session(module, self.env, self.out, log) as session:
                        wall.append(session.ready_s - session.started_s)
                        times = psutil.Process(session.pid).cpu_times()
                        cpu.append(times.user + times.system)
            self.measured.cold_start[name] = ColdStart(wall, cpu)

    async def stdio_series(
        self,
    ) -> tuple[list[_Unjudged], list[tuple[str, str, bytes]], list[bytes]]:
        by_model = []
        _, tall = drawn(self.images[SMALL].path.parent)
        with (self.out / "stdio-ours.log").open("ab") as log:
            async with stdio_session(OURS, self.env, self.out, log) as session:
                await session.call(arguments(self.images[SMALL]))  # imports, pools warm up
                rows = [await self.image_row(session, image) for image in self.images.values()]
                for model, detail in self.plan.models:
                    [sent] = await self.kept(session, self.images[SCREENSHOT].path, model, detail)
                    by_model.append((model, detail, sent))
                tiles = await self.kept(session, tall)
        with (self.out / "stdio-floor.log").open("ab") as log:
            async with stdio_session(FLOOR, self.env, self.out, log) as floor:
                small = self.images[SMALL]
                await floor.call(arguments(small))
                self.measured.stdio_floor = await self.series(
                    floor.pid, [floor.call] * self.plan.floor_calls, lambda: arguments(small)
                )
        return rows, by_model, tiles

    async def image_row(self, session: StdioSession, image: BenchImage) -> _Unjudged:
        # The kept call also warms up: a worker process starts on the first image it gets.
        [sent] = await self.kept(session, image.path)
        calls = self.plan.calls_large if image.large else self.plan.calls_small
        ours = await self.series(session.pid, [session.call] * calls, lambda: arguments(image))
        raw = image.path.read_bytes()
        reference = measure_reference(raw, self.plan.reference_repeats)
        return _Unjudged(image, ours, sent, reference.cpu_ms, reference.sent)

    async def kept(
        self, session: StdioSession, path: Path, model: str | None = None, detail: str = ""
    ) -> list[bytes]:
        """One more call, whose images the upstream keeps: the bytes the model received (the
        image, or its tiles in order)."""
        extra = {"model": model} if model else {}
        if detail:
            extra["detail"] = detail
        call = await session.call(arguments(path, keep=True, **extra))
        _check(call)
        [record] = [r for r in self.upstream.drain() if r["kept"]]
        return [base64.b64decode(url.partition(",")[2]) for url in record["kept"]]

    async def series(
        self,
        pid: int,
        callers: Sequence[Callable[[dict[str, Any]], Awaitable[Call]]],
        make_arguments: Callable[[], dict[str, Any]],
    ) -> Series:
        """One call per entry of `callers`, one after another, under a CPU watch."""
        self.upstream.drain()
        loop = asyncio.get_running_loop()
        with TreeWatch(pid, sample_rss=False) as watch:
            started = loop.time()
            calls = [await caller(make_arguments()) for caller in callers]
            elapsed = loop.time() - started
        for call in calls:
            _check(call)
        return Series(calls, watch.usage().cpu_s, elapsed, self.upstream.drain())

    async def http_series(self) -> None:
        # One client's calls run without upstream latency, as over stdio and as the floor's
        # no-op calls: a call that waits 200 ms costs more CPU whoever serves it (timers
        # that tick meanwhile, caches other processes cooled), which is not the transport.
        small = self.images[SMALL]
        with running_http(OURS, self.env, self.out, self.out / "http-ours.log") as server:
            self.upstream.set_latency(self.latency_s)
            self.measured.peak_memory = await self.peak_memory(server)
            self.measured.load = await self.load(server)
            self.upstream.set_latency(0.0)
            async with HttpCaller(server.mcp_url) as caller:
                await caller.call(arguments(small))
                self.measured.http_small = await self.series(
                    server.pid, [caller.call] * self.plan.floor_calls, lambda: arguments(small)
                )
        with running_http(FLOOR, self.env, self.out, self.out / "http-floor.log") as floor:
            async with HttpCaller(floor.mcp_url) as caller:
                await caller.call(arguments(small))
                self.measured.http_floor = await self.series(
                    floor.pid, [caller.call] * self.plan.floor_calls, lambda: arguments(small)
                )

    async def peak_memory(self, server: HttpServer) -> Usage:
        """Peak RSS and PSS of a fresh server's tree while it prepares 10 18 MB PNGs at once."""
        noise = self.images[NOISE]
        async with HttpCaller(server.mcp_url) as caller:
            await caller.call(arguments(self.images[SMALL]))
        callers = [HttpCaller(server.mcp_url) for _ in range(self.plan.rss_concurrency)]
        with TreeWatch(server.pid, sample_pss=True) as watch:
            calls = await asyncio.gather(*(c.call(arguments(noise)) for c in callers))
        for caller in callers:
            await caller.__aexit__(None, None, None)
        for call in calls:
            _check(call)
        self.upstream.drain()
        return watch.usage()

    async def load(self, server: HttpServer) -> Series:
        """`load_clients` callers, each with its own connection, small PNGs back to back."""
        small = self.images[SMALL]
        callers = [HttpCaller(server.mcp_url) for _ in range(self.plan.load_clients)]
        await asyncio.gather(*(c.call(arguments(small)) for c in callers))
        self.upstream.drain()

        async def one_client(caller: HttpCaller) -> list[Call]:
            return [await caller.call(arguments(small)) for _ in range(self.plan.load_calls_each)]

        loop = asyncio.get_running_loop()
        with TreeWatch(server.pid, sample_rss=False) as watch:
            started = loop.time()
            per_client = await asyncio.gather(*(one_client(c) for c in callers))
            elapsed = loop.time() - started
        for caller in callers:
            await caller.__aexit__(None, None, None)
        calls = [call for calls in per_client for call in calls]
        for call in calls:
            _check(call)
        return Series(calls, watch.usage().cpu_s, elapsed, self.upstream.drain())


def judge(data: bytes, source: BenchImage) -> Judged:
    with Image.open(io.BytesIO(data)) as received:
        received.load()
        fmt, (width, height) = str(received.format), received.size
        rgb = received.convert("RGB")
    read = legibility(rgb, source)
    faithful = fidelity_db(rgb, upright_original(source)) if source.kind in FAITHFUL else None
    return Judged(fmt, width, height, len(data), read, faithful)


def _check(call: Call) -> None:
    if call.error_code is not None:
        raise RuntimeError(f"a benchmark call failed: {call.result.get('content')}")
