"""Daily spend budgets, one per client and one for all clients together, over the UTC day.

They are hard ceilings. Every upstream request first holds its worst-case cost (pricing.py)
against both budgets beside what is already spent and held (reservations.py); a request that
does not fit is not sent. After it, the hold is settled to what the request was billed, so the
total charged to a client in a UTC day never exceeds its budget, whatever the concurrency,
the failures or the number of replicas.

`admit` is an early, cheaper check before any work: a call is refused at once when nothing is
left. A refusal says when to retry: in a few seconds when requests under way hold the room
(their holds settle soon, usually for less), otherwise at 00:00 UTC.
"""

from __future__ import annotations

import logging

import anyio

from ..errors import ErrorCode, ToolFailure
from .ledger import UtcDay, dollars, nano_usd, usd
from .reservations import BudgetLimits, Hold, Reservations, Shortfall, shortfall

logger = logging.getLogger(__name__)

HELD_RETRY_AFTER_S = 5.0


class Budget:
    def __init__(
        self,
        reservations: Reservations,
        *,
        per_client_usd: float | None,
        global_usd: float | None,
        hold_ttl_s: float,
    ) -> None:
        self._reservations = reservations
        self.limits = BudgetLimits(
            client=None if per_client_usd is None else round(per_client_usd * 1e9),
            server=None if global_usd is None else round(global_usd * 1e9),
        )
        self._hold_ttl_s = hold_ttl_s

    async def admit(self, client: str, day: UtcDay) -> None:
        """Raise BUDGET_EXCEEDED when `client`'s budget or the global one has nothing left."""
        if not self.limits.any:
            return
        standing = await self._reservations.standing(day, client)
        missing = shortfall(standing, 1, self.limits)
        if missing is not None:
            raise exceeded(client, missing, day)

    async def hold(self, client: str, amount_usd: float) -> Hold:
        """Hold `amount_usd` for one request, or raise BUDGET_EXCEEDED (StoreUnavailable)."""
        day = UtcDay.now()
        placed = await self._reservations.hold(
            day, client, nano_usd(amount_usd), self.limits, self._hold_ttl_s
        )
        if isinstance(placed, Shortfall):
            raise exceeded(client, placed, day)
        return placed

    async def settle(self, hold: Hold, billed_usd: float | None) -> float:
        """Settle `hold` to what was billed (None: unknown, so the whole hold); what was charged.

        Never raises: if the store cannot be reached, the hold expires into spend by itself.
        """
        charged = hold.amount if billed_usd is None else nano_usd(billed_usd)
        if charged > hold.amount:
            logger.warning(
                "an upstream request cost $%.6f, above its worst-case estimate of $%.6f",
                usd(charged),
                usd(hold.amount),
            )
        with anyio.CancelScope(shield=True):
            try:
                await self._reservations.settle(hold, charged)
            except Exception:
                logger.exception("could not settle a spend hold; it will expire into spend")
        return usd(charged)


def exceeded(client: str, missing: Shortfall, day: UtcDay) -> ToolFailure:
    who = f"Client '{client}'" if missing.scope == "client" else "This server"
    budget = f"its {dollars(usd(missing.limit))} daily budget"
    cost = (
        f"; this request may cost up to {dollars(usd(missing.amount))}"
        if missing.amount > 1
        else ""
    )
    if missing.spent + missing.amount <= missing.limit:
        # Requests under way hold the room; their holds settle within seconds.
        return ToolFailure(
            ErrorCode.BUDGET_EXCEEDED,
            f"{who} has spent {dollars(usd(missing.spent))} of {budget} and calls under way hold "
            f"{dollars(usd(missing.held))} more{cost}; retry in {HELD_RETRY_AFTER_S:g} s.",
            retry_after_s=HELD_RETRY_AFTER_S,
        )
    wait_s = day.seconds_left()
    hours, minutes = divmod(int(wait_s) // 60, 60)
    return ToolFailure(
        ErrorCode.BUDGET_EXCEEDED,
        f"{who} has spent {dollars(usd(missing.spent))} of {budget}{cost}; calls resume at "
        f"00:00 UTC (in {hours} h {minutes} min), or ask the operator to raise the budget.",
        retry_after_s=wait_s,
    )
