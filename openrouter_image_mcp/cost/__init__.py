"""Cost control: model prices, budgets and holds, rate limits, the answer cache, in-flight
sharing, the upstream cap.

`CostControls` is what the analysis pipeline calls; `open_cost_controls` opens it with the
server (state in this process, or in Redis shared by replicas); `add_usage_route` serves
the counters at GET /usage.
"""

from .cache import Reply, Served
from .controls import CostControls, open_cost_controls
from .keys import AnswerSpec, answer_key, image_digest
from .metering import CallMeter
from .usage_route import add_usage_route

__all__ = [
    "AnswerSpec",
    "CallMeter",
    "CostControls",
    "Reply",
    "Served",
    "add_usage_route",
    "answer_key",
    "image_digest",
    "open_cost_controls",
]
