"""Sending traces (FastMCP's spans and ours) to a collector, as the standard OTEL_* variables say.

FastMCP creates its spans with the OpenTelemetry API alone, so they go nowhere until someone
sets a tracer provider. `start_tracing` sets one when the environment asks for traces:
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (exported over OTLP/HTTP),
or OTEL_TRACES_EXPORTER (`otlp`, `console`, or `none`), unless OTEL_SDK_DISABLED is true.
Everything else is the SDK's own reading of the environment: OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
_COMPRESSION and _CERTIFICATE, OTEL_BSP_*. The SDK and the exporter come with the `otel`
extra and are imported only then: without those variables, starting costs nothing more.
Tracing that is asked for but cannot be set up is a warning, never a reason not to serve:
such variables are often set for a whole cluster.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .. import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

SERVICE_NAME = "openrouter-image-mcp"
ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
EXPORTERS = "OTEL_TRACES_EXPORTER"
SUPPORTED_EXPORTERS = ("otlp", "console")
DESTINATIONS = {
    "otlp": "the OTLP/HTTP collector OTEL_EXPORTER_OTLP_ENDPOINT names (default localhost:4318)",
    "console": "stderr",
}
OTLP_PROTOCOL = "http/protobuf"
INSTALL_HINT = "pip install 'openrouter-image-mcp[otel]'"


def requested_exporters(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for, in order; empty: no tracing."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    listed = environ.get(EXPORTERS, "").strip()
    if not listed:
        return ["otlp"] if any(environ.get(name, "").strip() for name in ENDPOINTS) else []
    names = [name.strip().lower() for name in listed.split(",") if name.strip()]
    for name in names:
        if name not in (*SUPPORTED_EXPORTERS, "none"):
            logger.warning(
                "%s=%s: no such trace exporter here, ignored; use otlp, console or none",
                EXPORTERS,
                name,
            )
    return [name for name in names if name in SUPPORTED_EXPORTERS]


def start_tracing() -> TracerProvider | None:
    """Set the process's tracer provider as the environment asks; None when it asks for no
    traces, or they cannot be sent (the `otel` extra missing, an unsupported protocol)."""
    names = requested_exporters(os.environ)
    if not names:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "traces are asked for (%s) but the OpenTelemetry SDK is not installed, so none are "
            "sent; install it with %s",
            ", ".join(names),
            INSTALL_HINT,
        )
        return None
    exporters = {name: exporter for name in names if (exporter := _exporter(name))}
    if not exporters:
        return None
    defaults = {"service.name": SERVICE_NAME, "service.version": __version__}
    provider = TracerProvider(
        resource=Resource.create({**defaults, **OTELResourceDetector().detect().attributes})
    )
    for exporter in exporters.values():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    logger.info("sending traces to %s", " and ".join(DESTINATIONS[name] for name in exporters))
    return provider


def _exporter(name: str) -> SpanExporter | None:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout carries MCP over stdio
    environ = os.environ
    protocol = next((environ[p].strip() for p in PROTOCOLS if environ.get(p, "").strip()), None)
    if protocol not in (None, OTLP_PROTOCOL):
        logger.warning(
            "OTLP protocol %s is not supported; traces are exported over %s only (port 4318 on "
            "a collector): set OTEL_EXPORTER_OTLP_PROTOCOL=%s",
            protocol,
            OTLP_PROTOCOL,
            OTLP_PROTOCOL,
        )
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
