import pytest
from pydantic import ValidationError

from domain.money import (
    CURRENCY_EXPONENTS,
    DEFAULT_SECOND_APPROVAL_MAJOR,
    CurrencyMismatch,
    Money,
    UnknownCurrency,
    default_second_approval_threshold,
    exponent,
    format_minor,
    major_to_minor,
)


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        *[(c, 2) for c in ("CNY", "USD", "EUR", "GBP", "HKD", "SGD", "AUD", "CAD", "TWD")],
        *[(c, 0) for c in ("JPY", "KRW", "VND")],
        *[(c, 3) for c in ("KWD", "BHD", "JOD", "OMR", "TND")],
    ],
)
def test_exponents_follow_iso_4217(currency: str, digits: int) -> None:
    assert CURRENCY_EXPONENTS[currency] == digits
    assert exponent(currency) == digits


@pytest.mark.parametrize("currency", ["XYZ", "cny", "", "CN"])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(UnknownCurrency):
        exponent(currency)


def test_unknown_currency_is_a_value_error() -> None:
    assert issubclass(UnknownCurrency, ValueError)
    assert issubclass(CurrencyMismatch, ValueError)


def test_exponent_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        CURRENCY_EXPONENTS["CNY"] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("currency", "minor"), [("CNY", 500_000), ("JPY", 5_000), ("KWD", 5_000_000)]
)
def test_major_to_minor(currency: str, minor: int) -> None:
    assert major_to_minor(5000, currency) == minor


def test_major_to_minor_refuses_floats() -> None:
    with pytest.raises(TypeError):
        major_to_minor(12.5, "CNY")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123456, "CNY", "CNY 1,234.56"),
        (1500, "JPY", "JPY 1,500"),
        (1234567, "KWD", "KWD 1,234.567"),
        (5, "USD", "USD 0.05"),
        (0, "EUR", "EUR 0.00"),
        (7, "KWD", "KWD 0.007"),
        (100_000_000, "USD", "USD 1,000,000.00"),
        (999, "KRW", "KRW 999"),
        (-150, "USD", "USD -1.50"),
    ],
)
def test_format_minor(amount: int, currency: str, text: str) -> None:
    assert format_minor(amount, currency) == text


def test_second_approval_threshold_is_5000_major_units_per_currency() -> None:
    assert DEFAULT_SECOND_APPROVAL_MAJOR == 5000
    assert default_second_approval_threshold("CNY") == 500_000
    assert default_second_approval_threshold("JPY") == 5_000
    assert default_second_approval_threshold("KWD") == 5_000_000


def test_money_adds_and_subtracts_within_a_currency() -> None:
    a = Money(amount=1250, currency="CNY")
    b = Money(amount=250, currency="CNY")
    assert a + b == Money(amount=1500, currency="CNY")
    assert a - b == Money(amount=1000, currency="CNY")
    assert a - a == Money.zero("CNY")


def test_money_refuses_to_mix_currencies() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(amount=1, currency="CNY") + Money(amount=1, currency="USD")
    with pytest.raises(CurrencyMismatch):
        Money(amount=1, currency="CNY") - Money(amount=1, currency="JPY")


def test_money_never_goes_below_zero() -> None:
    with pytest.raises(ValueError, match="negative"):
        Money(amount=100, currency="USD") - Money(amount=101, currency="USD")
    with pytest.raises(ValidationError):
        Money(amount=-1, currency="USD")


@pytest.mark.parametrize("amount", [12.5, 12.0, "1200", True])
def test_money_amount_must_be_an_integer(amount: object) -> None:
    with pytest.raises(ValidationError):
        Money(amount=amount, currency="USD")


@pytest.mark.parametrize("currency", ["usd", "US", "XXX", "USDT"])
def test_money_currency_must_be_a_known_upper_case_code(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=1, currency=currency)


def test_money_is_frozen_and_prints_in_major_units() -> None:
    money = Money(amount=123456, currency="CNY")
    with pytest.raises(ValidationError):
        money.amount = 1  # type: ignore[misc]
    assert str(money) == "CNY 1,234.56"
    assert str(Money.zero("JPY")) == "JPY 0"


def test_money_round_trips_through_json() -> None:
    money = Money(amount=1050, currency="KWD")
    assert Money.model_validate_json(money.model_dump_json()) == money
