"""Tests of the benchmark's own arithmetic and plumbing (`pytest bench`).

A benchmark that mis-pairs calls, misses a worker process's CPU or misreads legibility
reports wrong numbers with full confidence, so the pieces that turn measurements into
figures are checked here.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image, ImageDraw, ImageFont

from bench.clients import Call, result_of
from bench.inputs import BenchImage, TextLine, photo_like
from bench.legibility import fidelity_db, legibility, ocr_available
from bench.reference import EDGE, reference_pipeline
from bench.report import Target
from bench.run import Series
from bench.sampling import TreeWatch, tree_pss, tree_rss
from bench.stats import percentile, spread
from bench.upstream import KEEP_IMAGE, LATENCY_PATH, RECORDS_PATH, TimedFakeOpenRouter


def test_percentiles_are_measured_values_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.5) == 10
    assert percentile(values, 0.95) == 19
    assert percentile([7.0], 0.95) == 7
    summary = spread(values)
    assert summary is not None
    assert (summary.count, summary.p50, summary.p95, summary.max) == (20, 10, 19, 20)
    assert spread([]) is None


@pytest.mark.parametrize(
    ("target", "passed"),
    [
        (Target("latency", 5.0, 5), True),
        (Target("latency", 5.1, 5), False),
        (Target("rate", 150.0, 150, higher_is_better=True), True),
        (Target("rate", 149.9, 150, higher_is_better=True), False),
        (Target("unmeasured", None, 5), False),
    ],
)
def test_target_verdicts(target: Target, passed: bool) -> None:
    assert target.passed is passed
    assert target.line().startswith("PASS" if passed else "MISS")


def _call(generation_id: str, latency_s: float) -> Call:
    return Call(latency_s, {"content": [], "_meta": {"generation_id": generation_id}})


def test_overhead_subtracts_the_upstreams_time_for_that_very_completion() -> None:
    series = Series(
        calls=[_call("gen-a", 0.230), _call("gen-b", 0.260), _call("gen-lost", 0.5)],
        cpu_s=0.012,
        elapsed_s=0.5,
        upstream=[
            {"generation_id": "gen-b", "spent_s": 0.200},
            {"generation_id": "gen-a", "spent_s": 0.210},
        ],
    )
    overhead = series.overhead_ms()
    assert overhead is not None
    assert overhead.count == 2  # the call without an upstream record is not guessed at
    assert (overhead.p50, overhead.max) == (20.0, 60.0)
    assert series.cpu_ms_per_call == pytest.approx(4.0)


def test_stages_are_the_servers_own_timings_and_the_rest_is_outside_the_tool() -> None:
    def timed(latency_s: float, **timings_ms: float) -> Call:
        return Call(latency_s, {"content": [], "_meta": {"timings_ms": timings_ms}})

    series = Series(
        calls=[
            timed(0.012, load=1.0, prepare=2.0, upstream=5.0, total=9.0),
            timed(0.020, load=3.0, prepare=4.0, upstream=7.0, total=15.0),
            timed(0.016, load=2.0, prepare=3.0, upstream=6.0, total=12.0),
            Call(0.5, {"content": [], "isError": True}),  # refused before any stage: skipped
        ],
        cpu_s=0.04,
        elapsed_s=0.6,
    )
    assert series.stages_ms() == {
        "load": 2.0,
        "prepare": 3.0,
        "upstream": 6.0,
        "total": 12.0,
        "outside": 4.0,
    }


def test_cpu_of_a_process_tree_includes_its_children() -> None:
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    parent = (
        "import subprocess, sys, time\n"
        "time.sleep(0.2)\n"
        f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
        "print('done', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", parent], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    assert process.stdout is not None
    with TreeWatch(process.pid) as watch:
        assert process.stdout.readline().strip() == "done"  # the child has come and gone
    process.stdin.close()
    process.wait(timeout=30)
    # The parent itself only sleeps and waits: the time is its exited child's.
    assert watch.usage().cpu_s >= 0.25


def test_memory_of_a_tree_in_rss_and_pss() -> None:
    holder = (
        "import sys\ndata = b'x' * 80_000_000\nprint('ready', flush=True)\nsys.stdin.readline()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "ready"
        root = psutil.Process(process.pid)
        pss, rss = tree_pss(root), tree_rss(root)
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    # PSS never counts more than RSS: shared pages are split between their users.
    assert 80_000_000 <= pss <= rss


def test_lean_caller_reads_the_result_after_progress_notifications() -> None:
    progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}
    result = {"jsonrpc": "2.0", "id": 7, "result": {"content": [], "isError": False}}
    stream = "".join(f"event: message\ndata: {json.dumps(m)}\n\n" for m in (progress, result))
    assert result_of(stream, 7) == {"content": [], "isError": False}
    assert result_of(json.dumps(result), 7)["isError"] is False
    with pytest.raises(RuntimeError, match="no result for request 8"):
        result_of(stream, 8)


def test_reference_pipeline_shrinks_to_800_px_jpeg_and_ignores_exif() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown upright by viewers
    buffer = io.BytesIO()
    photo_like((1600, 1200), seed=1, grain=0.05).save(buffer, "JPEG", exif=exif)

    sent = Image.open(io.BytesIO(reference_pipeline(buffer.getvalue())))

    assert sent.format == "JPEG"
    assert sent.size == (EDGE, 600)  # as stored: the peer it stands for sends photos sideways


def test_generated_images_are_the_same_on_every_run() -> None:
    first = photo_like((64, 48), seed=9, grain=0.1).tobytes()
    assert photo_like((64, 48), seed=9, grain=0.1).tobytes() == first
    assert photo_like((64, 48), seed=10, grain=0.1).tobytes() != first


def test_fidelity_is_infinite_for_the_ideal_resize_and_none_for_a_sideways_copy() -> None:
    original = photo_like((400, 300), seed=3, grain=0.05)
    ideal = original.resize((200, 150), Image.Resampling.LANCZOS, reducing_gap=3.0)
    blurred = original.resize((20, 15)).resize((200, 150))

    assert fidelity_db(ideal, original) == float("inf")
    assert 10 < (fidelity_db(blurred, original) or 0) < 40
    assert fidelity_db(ideal.transpose(Image.Transpose.ROTATE_90), original) is None


@pytest.mark.skipif(not ocr_available(), reason="tesseract is not installed")
def test_legibility_counts_the_words_read_back_exactly(tmp_path: Path) -> None:
    font = ImageFont.load_default(size=24)
    page = Image.new("RGB", (900, 200), "white")
    draw = ImageDraw.Draw(page)
    lines = []
    for row, text in enumerate(("account billing 1234", "refund settings 5678")):
        draw.text((20, 20 + row * 60), text, font=font, fill="black")
        box = draw.textbbox((20, 20 + row * 60), text, font=font)
        lines.append(TextLine(text, (int(box[0]), int(box[1]), int(box[2]), int(box[3]))))
    path = tmp_path / "page.png"
    page.save(path)
    # Read as a whole page: the chart's region is all of it.
    source = BenchImage("chart_png", "page", "line art", path, 900, 200, 0, False, tuple(lines))

    sharp = legibility(page, source)
    smeared = legibility(page.resize((90, 20)), source)

    assert sharp is not None
    assert smeared is not None
    assert (sharp.words, sharp.read) == (6, 6)
    assert smeared.read < 3


def test_timed_upstream_keeps_images_when_asked_pairs_by_id_and_changes_latency() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(buffer, "PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    def body(text: str) -> dict[str, object]:
        content = [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": data_url}},
        ]
        return {
            "model": "google/gemini-2.5-flash",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": content}],
        }

    with TimedFakeOpenRouter(latency_s=0.05) as fake:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        url = f"{fake.base_url}/chat/completions"
        root = fake.base_url.removesuffix("/api/v1")
        plain = httpx.post(url, json=body("what is it?"), headers=headers)
        kept = httpx.post(url, json=body(f"what is it? {KEEP_IMAGE}"), headers=headers)
        records = httpx.get(root + RECORDS_PATH).json()
        again = httpx.get(root + RECORDS_PATH).json()
        httpx.put(root + LATENCY_PATH, json={"latency_s": 0.3})
        httpx.post(url, json=body("and now?"), headers=headers)
        [slower] = httpx.get(root + RECORDS_PATH).json()

    assert [r["generation_id"] for r in records] == [
        plain.headers["x-generation-id"],
        kept.headers["x-generation-id"],
    ]
    assert all(r["spent_s"] >= 0.05 for r in records)
    sent = {"format": "PNG", "width": 32, "height": 24, "bytes": len(buffer.getvalue())}
    assert records[0]["images"][0] == sent
    assert (records[0]["kept"], records[1]["kept"]) == ([], [data_url])
    assert again == []
    assert slower["spent_s"] >= 0.3
