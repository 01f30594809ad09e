"""Daily spend budgets: one per client and one for all clients together, over the UTC day.

Spend is what OpenRouter reports in `usage.cost`, added to the ledger after each answer.
Once a budget is reached, calls are refused before any upstream request until 00:00 UTC.
Calls already under way when the budget is reached still finish, so the spend can end a
little above the budget (by at most the cost of the calls in flight at that moment).
"""

from __future__ import annotations

from ..errors import ErrorCode, ToolFailure
from .ledger import Ledger, Tally, UtcDay


class Budget:
    def __init__(
        self, ledger: Ledger, *, per_client_usd: float | None, global_usd: float | None
    ) -> None:
        self._ledger = ledger
        self._per_client_usd = per_client_usd
        self._global_usd = global_usd

    async def check(self, client: str, day: UtcDay) -> None:
        """Raise BUDGET_EXCEEDED when `client`'s budget or the global one is spent."""
        if self._per_client_usd is None and self._global_usd is None:
            return
        tallies = await self._ledger.read(day)
        spent = tallies.get(client, Tally()).spend_usd
        if self._per_client_usd is not None and spent >= self._per_client_usd:
            raise _exceeded(f"Client '{client}'", spent, self._per_client_usd, day)
        total = Tally.total(tallies.values()).spend_usd
        if self._global_usd is not None and total >= self._global_usd:
            raise _exceeded("This server", total, self._global_usd, day)


def _exceeded(who: str, spent: float, budget: float, day: UtcDay) -> ToolFailure:
    wait_s = day.seconds_left()
    hours, minutes = divmod(int(wait_s) // 60, 60)
    return ToolFailure(
        ErrorCode.BUDGET_EXCEEDED,
        f"{who} has spent ${spent:.4f} of its ${budget:.4f} daily budget; calls resume at "
        f"00:00 UTC (in {hours} h {minutes} min), or ask the operator to raise the budget.",
        retry_after_s=wait_s,
    )
