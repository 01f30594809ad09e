"""`python -m bench [--quick] [--latency 0.2]`: measure the server's own cost per call.

Starts the fake OpenRouter (fixed latency) and the server over HTTP and over stdio, sends the
generated inputs, and reports per input the overhead (client latency minus the upstream
wait the server measured) p50/p95 and the work inside the server, what was sent upstream and
the image tokens it would cost; then the protocol floor, throughput and server CPU per call
at 1, 10 and 50 concurrent clients, /healthz latency while large images are processed, and
peak RSS. Writes bench/results/result-<time>.json and prints a
table with a PASS/MISS line per target.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import statistics
import sys
import time
from typing import Any

import httpx
import psutil
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from bench.inputs import SCREENSHOT_FONT_PX, BenchImage, generate_inputs
from bench.processes import REPO, PeakRss, fake_openrouter, http_server, server_env
from openrouter_image_mcp.imaging import estimate_image_tokens, target_for_model
from openrouter_image_mcp.settings import Settings

RESULTS = REPO / "bench" / "results"
TOKEN_MODELS = {"openai-tile": "openai/gpt-4o", "claude": "anthropic/claude-sonnet-4.5"}
SCREENSHOT_MODELS = (
    ("openai/gpt-4o", "auto"),
    ("openai/gpt-5-mini", "auto"),
    ("anthropic/claude-sonnet-4.5", "auto"),
    ("anthropic/claude-opus-4.7", "high"),
    ("google/gemini-2.5-flash", "auto"),
)


CALLS = itertools.count()
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1)}


async def timed_call(client: Client, arguments: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await client.call_tool("analyze_image", arguments, raise_on_error=False)
    elapsed = (time.perf_counter() - started) * 1000
    if result.is_error:
        raise RuntimeError(f"benchmark call failed: {result.structured_content}")
    return elapsed, result


def overheads(elapsed_ms: float, meta: dict[str, Any]) -> tuple[float, float]:
    """(overhead seen by the client, work inside the server), both without the upstream wait.

    The upstream wait is what the server measured around its OpenRouter request, so the
    fake's own time (its fixed latency and its checks of the image) is not counted.
    """
    timings = meta["timings_ms"]
    return elapsed_ms - timings["upstream"], timings["total"] - timings["upstream"]


async def protocol_floor(client: Client, calls: int = 30) -> dict[str, float]:
    """Round trip of tools/list: what the MCP protocol and client cost before any tool work."""
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await client.list_tools()
        samples.append((time.perf_counter() - started) * 1000)
    return summary(samples)


async def per_input(
    client: Client, images: dict[str, BenchImage], calls: dict[str, int]
) -> dict[str, Any]:
    rows = {}
    for key, image in images.items():
        await timed_call(client, {"image_path": str(image.path)})  # warm-up
        seen, inside, result = [], [], None
        for _ in range(calls[key]):
            elapsed, result = await timed_call(client, {"image_path": str(image.path)})
            client_ms, server_ms = overheads(elapsed, result.meta)
            seen.append(client_ms)
            inside.append(server_ms)
        rows[key] = {
            "label": image.label,
            "received": {"width": image.width, "height": image.height, "bytes": image.size_bytes},
            "sent": result.meta["image"]["sent"],
            "overhead_ms": summary(seen),
            "in_server_ms": summary(inside),
            "tokens": estimated_tokens(image),
        }
    return rows


def estimated_tokens(image: BenchImage) -> dict[str, int]:
    settings = Settings(_env_file=None)
    tokens = {}
    for family, model in TOKEN_MODELS.items():
        target = target_for_model(model, "auto", settings)
        width, height = target.fitted_size(image.width, image.height)
        tokens[family] = estimate_image_tokens(width, height, family)
    return tokens


def tool_call(image_path: str, question: str | None = None) -> dict[str, Any]:
    """A tools/call request; distinct questions keep identical calls from being shared."""
    arguments = {"image_path": image_path, "question": question or f"call {next(CALLS)}"}
    params = {"name": "analyze_image", "arguments": arguments}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


def call_result(response: httpx.Response) -> dict[str, Any]:
    data = next(line for line in response.text.splitlines() if line.startswith("data:"))
    result = json.loads(data.removeprefix("data:"))["result"]
    if result.get("isError"):
        raise RuntimeError(f"benchmark call failed: {result.get('structuredContent')}")
    return result


async def throughput(
    base: str, image_path: str, clients: int, calls_each: int, server: psutil.Process
) -> dict[str, float]:
    """Calls/s with `clients` concurrent callers, and the server's CPU time per call.

    The load is plain JSON-RPC over httpx (a full MCP client costs more CPU than the server
    on this 2-core machine, and the fake upstream shares the same two cores).
    """
    seen: list[float] = []
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:

        async def one_client() -> None:
            for _ in range(calls_each):
                started = time.perf_counter()
                response = await http.post("/mcp", json=tool_call(image_path), headers=MCP_HEADERS)
                elapsed = (time.perf_counter() - started) * 1000
                seen.append(overheads(elapsed, call_result(response)["_meta"])[0])

        cpu_before = sum(server.cpu_times()[:2])
        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        cpu = sum(server.cpu_times()[:2]) - cpu_before
    calls = clients * calls_each
    return {
        "clients": clients,
        "calls_per_s": round(calls / elapsed, 1),
        "overhead_ms": summary(seen),
        "server_cpu_ms_per_call": round(cpu / calls * 1000, 2),
    }


async def concurrent_calls(base: str, image_path: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        responses = await asyncio.gather(
            *(
                http.post("/mcp", json=tool_call(image_path), headers=MCP_HEADERS)
                for _ in range(count)
            )
        )
    for response in responses:
        call_result(response)


async def health_under_load(base: str, image_path: str) -> dict[str, float]:
    """/healthz latency, polled every 20 ms while 10 large images are being processed."""
    samples: list[float] = []
    load = asyncio.ensure_future(concurrent_calls(base, image_path, 10))
    async with httpx.AsyncClient(base_url=base) as http:
        await asyncio.sleep(0.3)  # let the calls reach image preparation
        while not load.done():
            started = time.perf_counter()
            await http.get("/healthz")
            samples.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)
    await load
    return {"samples": len(samples), **summary(samples), "max": round(max(samples), 1)}


async def peak_rss_during(base: str, image_path: str, rss: PeakRss) -> float:
    rss.reset()
    await concurrent_calls(base, image_path, 10)
    return round(rss.peak_mb, 1)


async def screenshot_legibility(client: Client, image: BenchImage) -> list[dict[str, Any]]:
    rows = []
    for model, detail in SCREENSHOT_MODELS:
        arguments = {"image_path": str(image.path), "model": model, "detail": detail}
        _, result = await timed_call(client, arguments)
        sent = result.meta["image"]["sent"]
        rows.append(
            {
                "model": model,
                "detail": detail,
                "sent": sent,
                "smallest_text_px": round(SCREENSHOT_FONT_PX * sent["height"] / image.height, 1),
                "fewer_bytes_than_png": sent["bytes"] < image.size_bytes,
            }
        )
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call_counts(images: dict[str, BenchImage], quick: bool) -> dict[str, int]:
    large, small = (3, 10) if quick else (10, 40)
    return {key: large if image.large else small for key, image in images.items()}


async def measure_http(
    env: dict[str, str], images: dict[str, BenchImage], quick: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with http_server(env, free_port()) as (base, pid), PeakRss(pid) as rss:
        # First, on a fresh process: later workloads leave the allocator's arenas grown.
        noise = str(images["noise_png"].path)
        result["peak_rss_mb_10x_noise_png"] = await peak_rss_during(base, noise, rss)
        async with Client(StreamableHttpTransport(f"{base}/mcp")) as client:
            result["protocol_floor_ms"] = await protocol_floor(client)
            result["http"] = await per_input(client, images, call_counts(images, quick))
            result["screenshot"] = await screenshot_legibility(client, images["screenshot_png"])
        small = str(images["small_png"].path)
        server = psutil.Process(pid)
        loads = ((1, 20), (10, 10 if quick else 20), (50, 4 if quick else 10))
        result["throughput"] = [await throughput(base, small, n, each, server) for n, each in loads]
        result["health_under_load"] = await health_under_load(base, str(images["photo_png"].path))
        result["peak_rss_mb_10x_noise_png_after_run"] = await peak_rss_during(base, noise, rss)
    return result


async def measure_stdio(
    env: dict[str, str], images: dict[str, BenchImage], quick: bool
) -> dict[str, Any]:
    command = ["-m", "openrouter_image_mcp", "--transport", "stdio"]
    transport = StdioTransport(sys.executable, command, env=env, cwd=str(REPO))
    async with Client(transport) as client:
        return {"stdio": await per_input(client, images, call_counts(images, quick))}


async def run(quick: bool, latency: float) -> dict[str, Any]:
    images = generate_inputs(RESULTS / "inputs")
    result: dict[str, Any] = {"upstream_latency_s": latency, "quick": quick}
    with fake_openrouter(latency) as base_url:
        env = server_env(base_url, RESULTS / "inputs")
        result.update(await measure_http(env, images, quick))
        result.update(await measure_stdio(env, images, quick))
    return result


def screenshot_target(result: dict[str, Any]) -> bool:
    return any(
        row["smallest_text_px"] >= 8 and row["fewer_bytes_than_png"]
        for row in result["screenshot"]
        if row["model"].startswith(("openai/", "anthropic/"))
    )


TARGETS = (
    ("small PNG overhead p50 <= 5 ms", lambda r: r["http"]["small_png"]["overhead_ms"]["p50"] <= 5),
    (
        "12 MP JPEG overhead p50 <= 40 ms",
        lambda r: r["http"]["camera_jpeg"]["overhead_ms"]["p50"] <= 40,
    ),
    (
        "4000x3000 PNG overhead p50 <= 120 ms",
        lambda r: r["http"]["photo_png"]["overhead_ms"]["p50"] <= 120,
    ),
    ("50 clients: >= 150 calls/s", lambda r: r["throughput"][2]["calls_per_s"] >= 150),
    ("50 clients: overhead p95 <= 50 ms", lambda r: r["throughput"][2]["overhead_ms"]["p95"] <= 50),
    ("/healthz p95 <= 20 ms during 10 large PNGs", lambda r: r["health_under_load"]["p95"] <= 20),
    (
        "peak RSS, 10 concurrent 18 MB PNGs <= 300 MB",
        lambda r: r["peak_rss_mb_10x_noise_png"] <= 300,
    ),
    ("screenshot: text >= 8 px in fewer bytes than PNG (OpenAI/Claude)", screenshot_target),
)


def input_rows(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{'input':22} {'http ms p50/p95':>16} {'in-server p50':>13} {'stdio p50/p95':>15}"
        f" {'sent upstream':>24} {'tokens oai/claude':>17}"
    ]
    for key, row in result["http"].items():
        http, inside, stdio = (
            row["overhead_ms"],
            row["in_server_ms"],
            result["stdio"][key]["overhead_ms"],
        )
        sent = row["sent"]
        lines.append(
            f"{row['label']:22} {http['p50']:>7.1f}/{http['p95']:<8.1f} {inside['p50']:>13.1f}"
            f" {stdio['p50']:>7.1f}/{stdio['p95']:<7.1f}"
            f" {sent['format']:>5} {sent['width']:>4}x{sent['height']:<4}"
            f" {sent['bytes'] // 1024:>6} KiB"
            f" {row['tokens']['openai-tile']:>8}/{row['tokens']['claude']:<8}"
        )
    return lines


def table(result: dict[str, Any]) -> str:
    floor = result["protocol_floor_ms"]
    lines = [
        f"upstream latency {result['upstream_latency_s'] * 1000:.0f} ms; overhead = client latency"
        " - the server's measured upstream wait",
        f"MCP protocol floor (tools/list round trip): p50 {floor['p50']} ms, p95 {floor['p95']} ms",
        *input_rows(result),
    ]
    for t in result["throughput"]:
        lines.append(
            f"small PNG, {t['clients']:>2} clients: {t['calls_per_s']:>6} calls/s, overhead p95"
            f" {t['overhead_ms']['p95']} ms, server CPU {t['server_cpu_ms_per_call']} ms/call"
        )
    h = result["health_under_load"]
    lines.append(
        f"/healthz during 10 large PNGs: p50 {h['p50']} ms, p95 {h['p95']} ms, max {h['max']} ms"
    )
    lines.append(
        "peak RSS during 10 concurrent 18 MB PNGs: fresh server"
        f" {result['peak_rss_mb_10x_noise_png']} MB, after the rest of the run"
        f" {result['peak_rss_mb_10x_noise_png_after_run']} MB"
    )
    for row in result["screenshot"]:
        s = row["sent"]
        lines.append(
            f"screenshot -> {row['model']} ({row['detail']}): {s['format']}"
            f" {s['width']}x{s['height']} {s['bytes'] // 1024} KiB,"
            f" smallest text {row['smallest_text_px']} px"
        )
    lines.extend(f"{'PASS' if check(result) else 'MISS'} {name}" for name, check in TARGETS)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (about a minute)")
    parser.add_argument("--latency", type=float, default=0.2, help="upstream latency, seconds")
    args = parser.parse_args()
    result = asyncio.run(run(args.quick, args.latency))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"result-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(table(result))
    print(f"written: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
