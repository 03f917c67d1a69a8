"""Currency conversion of minor-unit amounts at a recorded rate (SPEC §4).

A refund to balance in another currency records the `Conversion` it used. A rate is a `Decimal`
of quote-currency major units per one base-currency major unit (USD→JPY 151.237), never a
float; in JSON it is a string, so no reader parses it as a binary float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, Inexact, localcontext
from typing import Annotated, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from domain.money import CurrencyCode, MinorUnits, check_currency, exponent


def _no_float(value: object) -> object:
    """Rates come as Decimal, int or decimal text; a float has already lost the rate."""
    if isinstance(value, bool | float):
        raise ValueError(f"a rate must be a Decimal or a decimal string, got {value!r}")
    return value


ExchangeRate = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(gt=0, allow_inf_nan=False),
    PlainSerializer(lambda rate: format(rate, "f"), return_type=str, when_used="json"),
]
"""A positive, finite Decimal rate; `"151.237"` in JSON."""


class Conversion(BaseModel):
    """`from_amount` of `from_currency` became `to_amount` of `to_currency` at `rate`."""

    model_config = ConfigDict(frozen=True)

    from_currency: CurrencyCode
    from_amount: MinorUnits
    to_currency: CurrencyCode
    to_amount: MinorUnits
    rate: ExchangeRate
    source: str = Field(min_length=1)
    as_of: AwareDatetime

    @model_validator(mode="after")
    def _same_currency_is_identity(self) -> Self:
        if self.from_currency == self.to_currency and (
            self.rate != 1 or self.from_amount != self.to_amount
        ):
            raise ValueError(f"a {self.from_currency} to {self.to_currency} conversion is 1:1")
        return self


def convert(
    amount: int,
    from_currency: str,
    to_currency: str,
    rate: Decimal,
    *,
    source: str,
    as_of: datetime,
) -> Conversion:
    """`amount` minor units of `from_currency` in minor units of `to_currency` at `rate`.

    Exact: amount / 10**exp(from) * rate * 10**exp(to), rounded once, half to even.
    `convert(1234, "USD", "JPY", Decimal("151.237"), ...)` is 1866 JPY.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int of minor units, got {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    if not isinstance(rate, Decimal):
        raise TypeError(f"rate must be a Decimal, got {type(rate).__name__}")
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate must be a positive finite number, got {rate}")
    check_currency(from_currency)
    check_currency(to_currency)
    if from_currency == to_currency and rate != 1:
        raise ValueError(f"{from_currency} to {to_currency} must be at rate 1, got {rate}")
    to_amount = _scaled_half_even(amount, rate, exponent(to_currency) - exponent(from_currency))
    return Conversion(
        from_currency=from_currency,
        from_amount=amount,
        to_currency=to_currency,
        to_amount=to_amount,
        rate=rate,
        source=source,
        as_of=as_of,
    )


def _scaled_half_even(amount: int, rate: Decimal, shift: int) -> int:
    """round_half_even(amount * rate * 10**shift), with no rounding before the last step."""
    rate_digits = rate.as_tuple()
    assert isinstance(rate_digits.exponent, int)  # finite, checked by the caller
    # Digits of the exact product, and of its integer part once the shift is applied.
    precision = (
        len(str(amount)) + len(rate_digits.digits) + max(rate_digits.exponent, 0) + abs(shift) + 2
    )
    with localcontext() as ctx:
        ctx.prec = precision
        # If the precision above were ever short, fail loudly rather than round twice.
        ctx.traps[Inexact] = True
        exact = Decimal(amount) * rate.scaleb(shift)
        ctx.traps[Inexact] = False
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
