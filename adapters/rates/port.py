"""Reference exchange rates behind one port: how many `quote` units one `base` unit buys.

A refund to balance in another currency asks for the rate once and records it with the
conversion (SPEC §4); the rate is a Decimal, a string in JSON.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.fx import ExchangeRate
from domain.money import CurrencyCode


class Rate(BaseModel):
    """One `base` major unit is worth `value` `quote` major units, per `source` at `as_of`."""

    model_config = ConfigDict(frozen=True)

    base: CurrencyCode
    quote: CurrencyCode
    value: ExchangeRate
    source: str = Field(min_length=1)
    as_of: AwareDatetime


class RateUnavailable(Exception):
    """Final: the source publishes no rate for this pair. Asking again cannot help."""

    def __init__(self, base: str, quote: str, source: str) -> None:
        super().__init__(base, quote, source)
        self.base = base
        self.quote = quote
        self.source = source

    def __str__(self) -> str:
        return f"{self.source} has no {self.base}/{self.quote} rate"


class RatesSource(Protocol):
    name: str

    async def rate(self, base: str, quote: str) -> Rate:
        """The rate from `base` to `quote`; raises RateUnavailable for a pair it does not know."""
        ...
