"""`python -m bench [--quick] [--latency 0.2]`: the server's cost per call, against references.

Run from the repository root after `pip install -e '.[test]'`, with tesseract installed
(`apt-get install tesseract-ocr`; without it legibility is not measured). Draws the inputs
(cached under bench/results/inputs), starts the timed fake OpenRouter, our server and a bare
FastMCP server over stdio and over HTTP, and measures: for every input, the server process
tree's CPU time per call, what it sent and how legible or faithful that is, against a
reference (the bare server's no-op call plus decode, 800 px, JPEG q80 run in this process);
the HTTP call against the bare server; 50 HTTP clients; peak RSS under 10 concurrent 18 MB
PNGs; cold start to an initialised stdio session. Prints a table and a PASS/MISS line per
target; writes everything to bench/results/result-<time>.json and the servers' logs to
bench/results/logs/ (all git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .inputs import generate_inputs
from .legibility import ocr_available
from .processes import REPO_ROOT, running_upstream
from .report import result_json, table
from .run import FULL, QUICK, Bench, Measurements, Plan

RESULTS = REPO_ROOT / "bench" / "results"


async def measure(plan: Plan, latency_s: float, logs: Path) -> Measurements:
    images = generate_inputs(RESULTS / "inputs")
    with running_upstream(0.0, logs) as upstream:
        return await Bench(plan, images, upstream, latency_s, logs).run()


def environment() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": commit or None,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "packages": {name: version(name) for name in ("fastmcp", "mcp", "pillow", "httpx")},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls: under a minute")
    parser.add_argument("--latency", type=float, default=0.2, help="upstream latency, seconds")
    args = parser.parse_args(argv)
    if not ocr_available():
        print(
            "note: tesseract not found; legibility is not measured (apt-get install tesseract-ocr)"
        )
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    measured = asyncio.run(measure(QUICK if args.quick else FULL, args.latency, logs))
    context = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "quick": args.quick,
        "upstream_latency_s": args.latency,
        "environment": environment(),
    }
    out = RESULTS / f"result-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(started))}.json"
    out.write_text(json.dumps(result_json(measured, context), indent=2, default=str))
    print(table(measured, args.latency))
    print(f"\nfull results: {out.relative_to(REPO_ROOT)} ({context['duration_s']} s)")


if __name__ == "__main__":
    main()
