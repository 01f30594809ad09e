"""What happens when the shared store (Redis) cannot be reached.

Each control picks its side: the rate limit and the budgets fail closed (a call that cannot
be counted is refused, with a retryable error), the cache and the usage counters fail open
(a call is served without them and the outage is logged).
"""

from __future__ import annotations

from ..errors import ErrorCode, ToolFailure

OUTAGE_RETRY_AFTER_S = 5.0


class StoreUnavailable(Exception):
    """The shared store did not answer; `what` names the state it holds, for messages."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the shared store for {what} is unreachable")
        self.what = what


def refusal(outage: StoreUnavailable) -> ToolFailure:
    """The error a caller gets when a fail-closed control cannot reach its store."""
    return ToolFailure(
        ErrorCode.RATE_LIMITED,
        f"This server cannot reach the shared store for its {outage.what} (Redis), so it "
        "refused the call rather than risk going over its limits; retry in a few seconds.",
        retry_after_s=OUTAGE_RETRY_AFTER_S,
    )
