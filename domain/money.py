"""Money in minor units: ISO 4217 exponents, conversion, formatting and a `Money` value.

Every amount in the engine is an `int` of the currency's minor unit (fen, cents, yen, fils).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        "CNY": 2,
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "HKD": 2,
        "SGD": 2,
        "AUD": 2,
        "CAD": 2,
        "TWD": 2,
        "CHF": 2,
        "NZD": 2,
        "MYR": 2,
        "THB": 2,
        "INR": 2,
        "JPY": 0,
        "KRW": 0,
        "VND": 0,
        "KWD": 3,
        "BHD": 3,
        "JOD": 3,
        "OMR": 3,
        "TND": 3,
    }
)

DEFAULT_SECOND_APPROVAL_MAJOR = 5000

# The largest amount the engine takes, in major units: an order, a line's price, a fee or a refund.
# Each is worth at least USD 10 million, far above any marketplace order, and every sum of them an
# order can hold stays inside PostgreSQL's BIGINT.
MAX_AMOUNT_MAJOR: Mapping[str, int] = MappingProxyType(
    {
        "CNY": 10**9,
        "USD": 10**8,
        "EUR": 10**8,
        "GBP": 10**8,
        "HKD": 10**9,
        "SGD": 10**8,
        "AUD": 10**8,
        "CAD": 10**8,
        "TWD": 10**9,
        "CHF": 10**8,
        "NZD": 10**8,
        "MYR": 10**9,
        "THB": 10**9,
        "INR": 10**10,
        "JPY": 10**10,
        "KRW": 10**11,
        "VND": 10**12,
        "KWD": 10**7,
        "BHD": 10**7,
        "JOD": 10**7,
        "OMR": 10**7,
        "TND": 10**8,
    }
)

_CODE = re.compile(r"[A-Z]{3}")


class UnknownCurrency(ValueError):
    """The currency is not an upper-case ISO 4217 code this engine knows."""


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


def exponent(currency: str) -> int:
    """Number of minor-unit digits of `currency` (CNY 2, JPY 0, KWD 3)."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(f"unknown currency {currency!r}") from None


def check_currency(currency: str) -> str:
    """Return `currency` unchanged if it is a known upper-case code, else raise UnknownCurrency."""
    if not isinstance(currency, str) or not _CODE.fullmatch(currency):
        raise UnknownCurrency(f"currency must be 3 upper-case letters, got {currency!r}")
    exponent(currency)
    return currency


CurrencyCode = Annotated[str, AfterValidator(check_currency)]
"""A validated ISO 4217 code, for pydantic fields."""

MinorUnits = Annotated[int, Field(strict=True, ge=0)]
"""A non-negative integer amount in minor units; floats and numeric strings are refused."""


def major_to_minor(major: int, currency: str) -> int:
    """Whole major units to minor units: 5000 CNY -> 500000, 5000 JPY -> 5000."""
    if isinstance(major, bool) or not isinstance(major, int):
        raise TypeError(f"major amount must be an int, got {type(major).__name__}")
    return major * 10 ** exponent(currency)


def max_amount(currency: str) -> int:
    """The largest amount the engine takes in `currency`, in minor units."""
    return major_to_minor(MAX_AMOUNT_MAJOR[check_currency(currency)], currency)


def _largest_of_all() -> int:
    return max(MAX_AMOUNT_MAJOR[code] * 10 ** CURRENCY_EXPONENTS[code] for code in MAX_AMOUNT_MAJOR)


MAX_ANY_AMOUNT = _largest_of_all()
"""The largest amount in any currency, in minor units: the bound of a field without a currency."""


def format_minor(amount: int, currency: str) -> str:
    """Human-readable amount: `format_minor(123456, "CNY") == "CNY 1,234.56"`."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**digits)
    text = f"{major:,}"
    if digits:
        text += f".{minor:0{digits}d}"
    return f"{currency} {sign}{text}"


def default_second_approval_threshold(currency: str) -> int:
    """Default amount, in minor units, above which a refund needs a second approver."""
    return major_to_minor(DEFAULT_SECOND_APPROVAL_MAJOR, currency)


class Money(BaseModel):
    """A non-negative amount in minor units with its currency."""

    model_config = ConfigDict(frozen=True)

    amount: MinorUnits
    currency: CurrencyCode

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(amount=0, currency=currency)

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        if other.amount > self.amount:
            raise ValueError(f"{self} - {other} would be negative")
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __str__(self) -> str:
        return format_minor(self.amount, self.currency)
