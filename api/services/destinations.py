"""Checks on where a refund goes that the API can make before anything is recorded."""

from __future__ import annotations

from adapters.rates.port import RateUnavailable
from adapters.rates.sandbox import SandboxRates
from api.problems import Problem
from api.schemas.tickets import DestinationChoice
from settings import Settings


async def check_balance_currency(
    settings: Settings, order_currency: str, choice: DestinationChoice
) -> None:
    """A balance credit in another currency needs a rate for it: refused now (422), rather than
    a refund that fails once the money is due."""
    wanted = choice.balance_currency
    if wanted is None or wanted == order_currency:
        return
    rates = SandboxRates.configured(settings.rates.sandbox_table, settings.rates.sandbox_as_of)
    try:
        await rates.rate(order_currency, wanted)
    except RateUnavailable as missing:
        raise Problem(
            422,
            "balance_currency_not_available",
            f"no exchange rate from {order_currency} to {wanted}: {missing}",
            field="balance_currency",
        ) from missing
