"""Cost control: rate limits, budgets, the answer cache, in-flight sharing, the upstream cap.

`CostControls` is what the analysis pipeline calls; `open_cost_controls` opens it with the
server (state in this process, or in Redis shared by replicas); `add_usage_route` serves
the counters at GET /usage.
"""

from .cache import Reply, Served
from .controls import CostControls, open_cost_controls
from .keys import AnswerSpec, answer_key
from .usage_route import add_usage_route

__all__ = [
    "AnswerSpec",
    "CostControls",
    "Reply",
    "Served",
    "add_usage_route",
    "answer_key",
    "open_cost_controls",
]
