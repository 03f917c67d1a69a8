"""The sandbox's reference rates behind the RatesSource port.

One table of units per US dollar, published at one `as_of`; every other pair is a cross rate
through the dollar. A deployment may replace the table (`RATES_SANDBOX_TABLE`, `parse_table`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from types import MappingProxyType

from adapters.rates.port import Rate, RateUnavailable
from domain.money import check_currency

SOURCE_NAME = "sandbox-reference-rates"
PIVOT = "USD"
# Cross rates keep this many significant digits, like published reference rates.
SIGNIFICANT_DIGITS = 8
REFERENCE_AS_OF = datetime(2026, 1, 2, tzinfo=UTC)

# Units of each currency per one US dollar. Made-up sandbox figures, not market data.
REFERENCE_TABLE: Mapping[str, str] = MappingProxyType(
    {
        "USD": "1",
        "EUR": "0.92",
        "GBP": "0.79",
        "CHF": "0.88",
        "CNY": "7.24",
        "HKD": "7.82",
        "SGD": "1.35",
        "JPY": "151.2",
        "KRW": "1380",
        "AUD": "1.52",
        "CAD": "1.36",
        "KWD": "0.3075",
        "BHD": "0.376",
    }
)

_CROSS = Context(prec=SIGNIFICANT_DIGITS, rounding=ROUND_HALF_EVEN)


def parse_table(text: str) -> dict[str, str]:
    """`"EUR=0.92, jpy=151.2"` -> {"EUR": "0.92", "JPY": "151.2"}; `""` -> {}.

    Only the shape is checked here; `SandboxRates` checks the codes and the numbers."""
    table: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        code, sep, value = part.partition("=")
        code, value = code.strip().upper(), value.strip()
        if not sep or not code or not value:
            raise ValueError(f"rate table entry must be CODE=units_per_USD, got {part.strip()!r}")
        if code in table:
            raise ValueError(f"rate table lists {code} twice")
        table[code] = value
    return table


def _units_per_pivot(currency: str, text: str) -> Decimal:
    check_currency(currency)
    try:
        units = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{currency} rate must be a decimal number, got {text!r}") from None
    if not units.is_finite() or units <= 0:
        raise ValueError(f"{currency} rate must be positive, got {text!r}")
    if currency == PIVOT and units != 1:
        raise ValueError(f"{PIVOT} is the pivot: its rate is 1, got {text!r}")
    return units


class SandboxRates:
    """Reference rates for every currency in one table, cross rates through USD."""

    name = SOURCE_NAME

    def __init__(
        self,
        table: Mapping[str, str] | None = None,
        *,
        as_of: datetime | date = REFERENCE_AS_OF,
    ) -> None:
        """`table` replaces the built-in one whole (its rates share one `as_of`); a date means
        midnight UTC."""
        source = REFERENCE_TABLE if table is None else {PIVOT: "1", **table}
        self._units = {code: _units_per_pivot(code, text) for code, text in source.items()}
        if not isinstance(as_of, datetime):
            as_of = datetime.combine(as_of, time(), UTC)
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        self.as_of = as_of

    @classmethod
    def configured(cls, table: str, as_of: date | None) -> SandboxRates:
        """From the settings' text form (`EUR=0.92,JPY=151.2`; empty: the built-in table)."""
        override = parse_table(table) or None
        return cls(override) if as_of is None else cls(override, as_of=as_of)

    @property
    def currencies(self) -> frozenset[str]:
        return frozenset(self._units)

    async def rate(self, base: str, quote: str) -> Rate:
        try:
            base_units, quote_units = self._units[base], self._units[quote]
        except KeyError:
            raise RateUnavailable(base, quote, self.name) from None
        if base == quote:
            value = Decimal(1)
        elif base == PIVOT:
            value = quote_units
        else:
            value = _CROSS.divide(quote_units, base_units)
        return Rate(base=base, quote=quote, value=value, source=self.name, as_of=self.as_of)
