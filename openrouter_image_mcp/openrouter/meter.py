"""The seam through which every upstream attempt is paid for: reserve before, settle after.

The client asks its `Meter` for a `Charge` before each attempt (first tries, retries and
repair requests alike); the meter may refuse by raising a `ToolFailure`, and then no request
is sent. After the attempt the client records what it knows was billed, and the charge is
settled: the reported cost, 0 when the request provably was not billed, or `None` (unknown:
the meter charges its reservation) when the attempt ended any other way, cancellation
included. The client also reports how the attempt ended (its code, and the usage of an
answer), which the meter passes on to metrics and traces.
"""

from __future__ import annotations

from typing import Protocol

from openrouter_image_mcp.openrouter.completion import Usage
from openrouter_image_mcp.openrouter.request import ChatRequest

CANCELLED = "CANCELLED"
"""The code of an attempt cut off before its answer by anything but the call's deadline (that
is UPSTREAM_TIMEOUT): the server stopping. The default until the client reports."""


class Charge(Protocol):
    def record(self, billed_usd: float | None) -> None:
        """What the attempt was billed; None if unknown (the default until recorded)."""

    def report(self, code: str, usage: Usage | None = None) -> None:
        """How the attempt ended: OK or the error code, and the usage its answer reported."""

    async def settle(self) -> None:
        """Settle the reservation to what was recorded; must not raise or be cancelled."""


class Meter(Protocol):
    async def reserve(self, request: ChatRequest) -> Charge:
        """A charge for one attempt at `request`, or a ToolFailure saying why not."""


class _FreeCharge:
    def record(self, billed_usd: float | None) -> None:
        pass

    def report(self, code: str, usage: Usage | None = None) -> None:
        pass

    async def settle(self) -> None:
        pass


class Unmetered:
    """A meter that reserves nothing and refuses nothing."""

    async def reserve(self, request: ChatRequest) -> Charge:
        return _FreeCharge()


UNMETERED = Unmetered()
