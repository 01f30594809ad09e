"""What operators watch: Prometheus metrics at GET /metrics and OpenTelemetry spans.

`Metrics` (metrics.py) is one server's registry, recorded into by the pipeline, the cost
controls and the refusals before a tool runs; `metrics_route` (metrics_route.py) serves it.
calls.py records each finished tool call once, in the log, the metrics and the trace.
spans.py opens this server's own spans with the OpenTelemetry API, which FastMCP already
imports; export.py sends them, and FastMCP's, to an OTLP collector when the OTEL_* variables
ask for it and the `otel` extra is installed.
"""
