"""Conversion of minor-unit amounts between currencies, and the sandbox's reference rates."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.rates.port import Rate, RateUnavailable
from adapters.rates.sandbox import REFERENCE_AS_OF, SOURCE_NAME, SandboxRates, parse_table
from domain.fx import Conversion, convert
from domain.money import CURRENCY_EXPONENTS, UnknownCurrency
from settings import RatesSettings, Settings

AS_OF = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _convert(amount: int, source: str, target: str, rate: str | Decimal) -> int:
    return convert(amount, source, target, Decimal(rate), source="test", as_of=AS_OF).to_amount


@pytest.mark.parametrize(
    ("amount", "source", "target", "rate", "expected"),
    [
        (1234, "USD", "JPY", "151.237", 1866),  # 1866.26458 yen
        (1000, "JPY", "USD", "0.0066", 660),  # 6.60 dollars
        (10000, "USD", "KWD", "0.30705", 30705),  # 100.00 USD -> 30.705 KWD
        (1, "USD", "KWD", "0.30705", 3),  # 3.0705 fils
        (1000, "KWD", "USD", "3.2568", 326),  # 325.68 cents
        (123456, "CNY", "EUR", "0.1271", 15691),  # 156.912576 EUR
        (0, "USD", "JPY", "151.237", 0),
    ],
)
def test_converts_through_major_units(
    amount: int, source: str, target: str, rate: str, expected: int
) -> None:
    assert _convert(amount, source, target, rate) == expected


@pytest.mark.parametrize(
    ("amount", "source", "target", "rate", "expected"),
    [
        (1, "USD", "JPY", "50", 0),  # 0.5 yen
        (1, "USD", "JPY", "150", 2),  # 1.5 yen
        (1, "USD", "JPY", "250", 2),  # 2.5 yen
        (1, "USD", "JPY", "350", 4),  # 3.5 yen
        (1, "JPY", "USD", "0.005", 0),  # 0.5 cent
        (3, "JPY", "USD", "0.005", 2),  # 1.5 cents
        (1, "USD", "KWD", "0.05", 0),  # 0.5 fils
        (1, "USD", "KWD", "0.15", 2),  # 1.5 fils
        (5, "KWD", "USD", "1", 0),  # 0.5 cent
        (15, "KWD", "USD", "1", 2),  # 1.5 cents
    ],
)
def test_ties_round_half_to_even(
    amount: int, source: str, target: str, rate: str, expected: int
) -> None:
    assert _convert(amount, source, target, rate) == expected


def test_just_above_a_tie_rounds_up() -> None:
    assert _convert(1, "USD", "JPY", "50.0000000000000000000000000000001") == 1


def test_large_amounts_and_long_rates_stay_exact() -> None:
    # 10**30 cents at a 40-digit rate: more digits than the default decimal context keeps.
    rate = "1." + "0" * 38 + "1"
    assert _convert(10**30, "USD", "EUR", rate) == 10**30
    assert _convert(10**39, "USD", "EUR", rate) == 10**39 + 1
    assert _convert(5 * 10**38, "USD", "EUR", rate) == 5 * 10**38  # + 0.5: tie to even
    assert _convert(15 * 10**38, "USD", "EUR", rate) == 15 * 10**38 + 2  # + 1.5
    assert _convert(10**40 + 5 * 10**39, "USD", "EUR", "1E+5") == (10**40 + 5 * 10**39) * 10**5


def test_conversion_records_what_was_used() -> None:
    conversion = convert(
        1234, "USD", "JPY", Decimal("151.237"), source="sandbox-reference-rates", as_of=AS_OF
    )
    assert conversion == Conversion(
        from_currency="USD",
        from_amount=1234,
        to_currency="JPY",
        to_amount=1866,
        rate=Decimal("151.237"),
        source="sandbox-reference-rates",
        as_of=AS_OF,
    )


def test_rate_is_a_string_in_json() -> None:
    conversion = convert(1000, "JPY", "USD", Decimal("0.0066"), source="s", as_of=AS_OF)
    dumped = conversion.model_dump(mode="json")
    assert dumped["rate"] == "0.0066"
    assert json.loads(conversion.model_dump_json())["rate"] == "0.0066"
    assert Conversion.model_validate_json(conversion.model_dump_json()) == conversion
    assert Conversion.model_validate(dumped) == conversion


def test_tiny_rate_is_written_without_an_exponent() -> None:
    conversion = convert(10**9, "KWD", "JPY", Decimal("1E-7"), source="s", as_of=AS_OF)
    assert conversion.model_dump(mode="json")["rate"] == "0.0000001"


def test_a_float_rate_is_refused_everywhere() -> None:
    with pytest.raises(TypeError):
        convert(100, "USD", "JPY", 151.2, source="s", as_of=AS_OF)  # type: ignore[arg-type]
    good = convert(100, "USD", "JPY", Decimal("151.2"), source="s", as_of=AS_OF)
    with pytest.raises(ValidationError):
        Conversion.model_validate({**good.model_dump(), "rate": 151.2})
    with pytest.raises(ValidationError):
        Conversion.model_validate_json(good.model_dump_json().replace('"151.2"', "151.2"))


def test_same_currency_is_one_to_one() -> None:
    conversion = convert(1234, "USD", "USD", Decimal("1.000"), source="s", as_of=AS_OF)
    assert conversion.to_amount == 1234
    with pytest.raises(ValueError, match="rate 1"):
        convert(1234, "USD", "USD", Decimal("1.01"), source="s", as_of=AS_OF)
    with pytest.raises(ValidationError):
        Conversion.model_validate({**conversion.model_dump(), "to_amount": 1235})


@pytest.mark.parametrize("rate", ["0", "-1.5", "NaN", "Infinity", "-Infinity", "sNaN"])
def test_rate_must_be_positive_and_finite(rate: str) -> None:
    with pytest.raises(ValueError):
        convert(100, "USD", "JPY", Decimal(rate), source="s", as_of=AS_OF)


@pytest.mark.parametrize("amount", [True, 1.0, "100", Decimal(100)])
def test_amount_must_be_an_int(amount: object) -> None:
    with pytest.raises(TypeError):
        convert(amount, "USD", "JPY", Decimal("151"), source="s", as_of=AS_OF)  # type: ignore[arg-type]


def test_amount_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        convert(-1, "USD", "JPY", Decimal("151"), source="s", as_of=AS_OF)


@pytest.mark.parametrize(("source", "target"), [("XYZ", "USD"), ("USD", "jpy"), ("USD", "")])
def test_unknown_currency_is_refused(source: str, target: str) -> None:
    with pytest.raises(UnknownCurrency):
        convert(100, source, target, Decimal("1.5"), source="s", as_of=AS_OF)


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(ValidationError):
        convert(100, "USD", "JPY", Decimal("151"), source="s", as_of=datetime(2026, 1, 1))


currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minor_amounts = st.one_of(st.integers(0, 1_000), st.integers(0, 10**15))
rates = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=6, allow_nan=False
).filter(lambda rate: rate > 0)


@given(minor_amounts, currencies, currencies, rates)
def test_round_trip_comes_back_within_the_rounding_bound(
    amount: int, source: str, target: str, rate: Decimal
) -> None:
    if source == target:
        rate = Decimal(1)
    with localcontext() as ctx:
        ctx.prec = 34
        inverse = 1 / rate
    there = _convert(amount, source, target, rate)
    back = _convert(there, target, source, inverse)
    scale = Fraction(10) ** (CURRENCY_EXPONENTS[target] - CURRENCY_EXPONENTS[source])
    r, r_inv = Fraction(rate), Fraction(inverse)
    # there = a·r·s + e1 with |e1| ≤ ½, and back = there·r⁻¹/s + e2 with |e2| ≤ ½.
    bound = Fraction(1, 2) + Fraction(1, 2) * r_inv / scale + amount * abs(r * r_inv - 1)
    assert abs(back - amount) <= bound


@given(minor_amounts, currencies, currencies, rates)
def test_result_is_never_negative_and_within_half_a_minor_unit(
    amount: int, source: str, target: str, rate: Decimal
) -> None:
    if source == target:
        rate = Decimal(1)
    result = _convert(amount, source, target, rate)
    exact = (
        amount
        * Fraction(rate)
        * Fraction(10) ** (CURRENCY_EXPONENTS[target] - CURRENCY_EXPONENTS[source])
    )
    assert result >= 0
    assert abs(result - exact) <= Fraction(1, 2)


@given(minor_amounts, minor_amounts, currencies, currencies, rates)
def test_more_money_never_converts_to_less(
    a: int, b: int, source: str, target: str, rate: Decimal
) -> None:
    if source == target:
        rate = Decimal(1)
    low, high = sorted((a, b))
    assert _convert(low, source, target, rate) <= _convert(high, source, target, rate)


def test_parse_table() -> None:
    assert parse_table("EUR=0.92,JPY=151.2") == {"EUR": "0.92", "JPY": "151.2"}
    assert parse_table(" eur = 0.92 , , jpy=151.2 ,") == {"EUR": "0.92", "JPY": "151.2"}
    assert parse_table("") == {}


@pytest.mark.parametrize("text", ["EUR", "EUR=", "=0.92", "EUR=0.92,EUR=0.93"])
def test_parse_table_refuses_malformed_entries(text: str) -> None:
    with pytest.raises(ValueError):
        parse_table(text)


async def test_sandbox_publishes_pivot_and_cross_rates() -> None:
    rates = SandboxRates()
    assert {"USD", "EUR", "GBP", "CNY", "JPY", "HKD", "SGD", "KWD", "BHD"} <= rates.currencies
    usd_jpy = await rates.rate("USD", "JPY")
    assert usd_jpy == Rate(
        base="USD",
        quote="JPY",
        value=Decimal("151.2"),
        source=SOURCE_NAME,
        as_of=REFERENCE_AS_OF,
    )
    assert (await rates.rate("USD", "USD")).value == 1
    assert (await rates.rate("JPY", "JPY")).value == 1
    assert (await rates.rate("EUR", "USD")).value == Decimal("1.0869565")  # 1 / 0.92
    assert (await rates.rate("EUR", "JPY")).value == Decimal("164.34783")  # 151.2 / 0.92
    assert (await rates.rate("JPY", "KWD")).value == Decimal("0.0020337302")  # 0.3075 / 151.2


async def test_sandbox_rate_feeds_convert_and_is_a_string_in_json() -> None:
    rate = await SandboxRates().rate("EUR", "JPY")
    assert rate.model_dump(mode="json")["value"] == "164.34783"
    conversion = convert(
        1000, rate.base, rate.quote, rate.value, source=rate.source, as_of=rate.as_of
    )
    assert conversion.to_amount == 1643  # 10.00 EUR is 1643.4783 yen


@pytest.mark.parametrize(("base", "quote"), [("USD", "TND"), ("XYZ", "USD"), ("jpy", "USD")])
async def test_sandbox_without_the_pair_says_so(base: str, quote: str) -> None:
    with pytest.raises(RateUnavailable) as raised:
        await SandboxRates().rate(base, quote)
    assert raised.value.source == SOURCE_NAME


async def test_a_deployment_replaces_the_table_and_its_date() -> None:
    rates = SandboxRates(parse_table("EUR=0.9,JPY=150"), as_of=date(2026, 6, 30))
    assert rates.currencies == {"USD", "EUR", "JPY"}
    rate = await rates.rate("EUR", "JPY")
    assert rate.value == Decimal("166.66667")
    assert rate.as_of == datetime(2026, 6, 30, tzinfo=UTC)
    with pytest.raises(RateUnavailable):
        await rates.rate("USD", "GBP")


@pytest.mark.parametrize(
    "table",
    [{"EUR": "abc"}, {"EUR": "0"}, {"EUR": "-1"}, {"EUR": "NaN"}, {"XYZ": "1"}, {"USD": "2"}],
)
def test_a_bad_table_is_refused_when_built(table: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        SandboxRates(table)


def test_naive_table_date_is_refused() -> None:
    with pytest.raises(ValueError):
        SandboxRates(as_of=datetime(2026, 1, 1))


def test_rates_settings_come_from_rates_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RatesSettings(_env_file=None).sandbox_table == ""
    monkeypatch.setenv("RATES_SANDBOX_TABLE", "EUR=0.92,JPY=151.2")
    monkeypatch.setenv("RATES_SANDBOX_AS_OF", "2026-06-30")
    rates = Settings(_env_file=None).rates
    assert parse_table(rates.sandbox_table) == {"EUR": "0.92", "JPY": "151.2"}
    assert rates.sandbox_as_of == date(2026, 6, 30)
