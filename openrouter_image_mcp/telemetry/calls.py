"""One finished tool call, recorded the same way wherever it ended (refused before its tool
ran, or run through the pipeline): a log line, the metrics and the trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..logs import CALL_LOGGER
from . import spans
from .metrics import TOTAL, Metrics

call_logger = logging.getLogger(CALL_LOGGER)


def record_call(
    metrics: Metrics,
    outcome: Mapping[str, Any],
    timings_ms: Mapping[str, float],
    meta: Mapping[str, Any] | None = None,
) -> None:
    """`outcome`: the log line's fields, at least client, tool and code; `timings_ms` as
    `_meta.timings_ms` has them (at least the total); `meta`: the result's `_meta`, if any."""
    call_logger.info("tool call", extra={**outcome, "latency_ms": timings_ms[TOTAL]})
    metrics.observe_call(outcome["tool"], outcome["code"], outcome["client"], timings_ms)
    spans.annotate_call(outcome["code"], meta)
