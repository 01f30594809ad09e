"""`python -m bench.upstream_clients [--requests 150]`: CPU per OpenRouter request, by client.

The upstream request is the largest piece of a small image's CPU per call. This sends the
chat-completion body the server would send (the benchmark's small PNG and screenshot, as
data URLs) to the timed fake, one request after another, and prints the median CPU time per
request (body encoding, the HTTP exchange, parsing the answer) for: httpx (the server's
client today), httpx2 (FastMCP's own client, already loaded by every server), each with the
body streamed (as the server sends it, so a 27 MB body is never copied) or as bytes, and a
bare asyncio HTTP/1.1 exchange as the floor no client library can beat.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2

from openrouter_image_mcp.openrouter.body import JsonBody
from tests.fake_openrouter import FAKE_API_KEY

from .inputs import generate_inputs
from .processes import REPO_ROOT, running_upstream

HEADERS = {"Authorization": f"Bearer {FAKE_API_KEY}", "Content-Type": "application/json"}


def body(image: bytes, serial: int) -> JsonBody:
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    content = [
        {"type": "text", "text": f"Describe it (#{serial})."},
        {"type": "image_url", "image_url": {"url": url, "detail": "auto"}},
    ]
    request = {
        "model": "google/gemini-2.5-flash",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": content}],
    }
    return JsonBody.encode(request)


async def median_cpu_ms(send: Callable[[int], Awaitable[None]], requests: int) -> float:
    await send(0)
    samples = []
    for serial in range(1, requests + 1):
        started = time.process_time()
        await send(serial)
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


async def library(module: Any, base_url: str, image: bytes, streamed: bool, requests: int) -> float:
    client = module.AsyncClient(
        base_url=base_url, headers=HEADERS, timeout=module.Timeout(None, connect=10)
    )

    async def send(serial: int) -> None:
        encoded = body(image, serial)
        if streamed:
            length = {"Content-Length": str(encoded.length)}
            answer = await client.post("chat/completions", content=encoded.stream(), headers=length)
        else:
            answer = await client.post("chat/completions", content=bytes(encoded))
        answer.raise_for_status()
        json.loads(answer.content)

    try:
        return await median_cpu_ms(send, requests)
    finally:
        await client.aclose()


async def bare_asyncio(base_url: str, image: bytes, requests: int) -> float:
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)

    async def send(serial: int) -> None:
        payload = bytes(body(image, serial))
        head = "".join(
            [
                f"POST {address.path}chat/completions HTTP/1.1\r\nHost: {address.netloc}\r\n",
                *(f"{name}: {value}\r\n" for name, value in HEADERS.items()),
                f"Content-Length: {len(payload)}\r\n\r\n",
            ]
        )
        writer.write(head.encode() + payload)
        await writer.drain()
        await reader.readline()  # status line
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        json.loads(await reader.readexactly(length))

    try:
        return await median_cpu_ms(send, requests)
    finally:
        writer.close()


async def compare(base_url: str, images: dict[str, bytes], requests: int) -> None:
    for label, image in images.items():
        for module in (httpx, httpx2):
            for streamed in (True, False):
                ms = await library(module, base_url, image, streamed, requests)
                how = "streamed body" if streamed else "bytes body"
                print(f"{label:22} {module.__name__:7} {how:14} {ms:6.2f} ms CPU/request")
        ms = await bare_asyncio(base_url, image, requests)
        print(f"{label:22} {'asyncio':7} {'bytes body':14} {ms:6.2f} ms CPU/request")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream_clients", description=__doc__)
    parser.add_argument("--requests", type=int, default=150)
    args = parser.parse_args()
    results = REPO_ROOT / "bench" / "results"
    inputs = generate_inputs(results / "inputs")
    images = {
        f"{inputs[key].label} ({inputs[key].size_bytes // 1000} kB)": inputs[key].path.read_bytes()
        for key in ("small_png", "screenshot_png")
    }
    (results / "logs").mkdir(parents=True, exist_ok=True)
    with running_upstream(0.0, results / "logs") as upstream:
        asyncio.run(compare(upstream.base_url + "/", images, args.requests))


if __name__ == "__main__":
    main()
