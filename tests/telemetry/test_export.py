"""Sending traces as the standard OTEL_* variables say: a real server process exports FastMCP's
spans and ours to an OTLP/HTTP collector, and without those variables nothing of the SDK is
even imported."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openrouter_image_mcp.telemetry.export import requested_exporters, start_tracing
from tests.app.helpers import ALICE_TOKEN, mcp_client, small_png_data_url
from tests.app.processes import clean_env, running_server
from tests.fake_openrouter import FakeOpenRouter

QUESTION = "What does the note say? It holds the passphrase tangerine-7741."


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP collector on 127.0.0.1 that keeps the bodies posted to /v1/traces."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        super().__init__(("127.0.0.1", 0), CollectorHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def received(self) -> bytes:
        return b"".join(self.bodies)


class CollectorHandler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_a_server_sends_its_spans_to_the_otlp_endpoint(
    fake: FakeOpenRouter, collector: Collector, tmp_path: Path
) -> None:
    with running_server(
        fake,
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_SERVICE_NAME="image-mcp-under-test",
        OTEL_BSP_SCHEDULE_DELAY="50",
    ) as server:
        async with mcp_client(server.url) as client:
            result = await client.call_tool(
                "analyze_image",
                {"image_path": small_png_data_url(), "question": QUESTION},
                raise_on_error=False,
            )
        for _ in range(500):
            if b"image_mcp.upstream" in collector.received():
                break
            time.sleep(0.02)

    assert not result.is_error
    exported = collector.received()
    for expected in (
        b"image-mcp-under-test",
        b"tools/call analyze_image",
        b"image_mcp.load",
        b"image_mcp.prepare",
        b"image_mcp.upstream",
        b"chat google/gemini-2.5-flash",
    ):
        assert expected in exported, expected
    for private in (fake.api_key, ALICE_TOKEN, QUESTION, "tangerine"):
        assert private.encode() not in exported, private
    assert any("sending traces to the OTLP/HTTP collector" in line for line in server.stderr_lines)


def test_without_otel_variables_the_sdk_is_never_imported() -> None:
    check = (
        "import sys; from openrouter_image_mcp.telemetry.export import start_tracing; "
        "assert start_tracing() is None; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_TRACES_EXPORTER": "zipkin,console"}, ["console"]),
    ],
)
def test_the_environment_decides_which_exporters(
    environ: dict[str, str], exporters: list[str]
) -> None:
    assert requested_exporters(environ) == exporters


def test_tracing_asked_for_without_the_sdk_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # not installed
    with caplog.at_level(logging.WARNING):
        assert start_tracing() is None
    assert "pip install 'openrouter-image-mcp[otel]'" in caplog.text


def test_an_unsupported_otlp_protocol_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with caplog.at_level(logging.WARNING):
        assert start_tracing() is None
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in caplog.text
