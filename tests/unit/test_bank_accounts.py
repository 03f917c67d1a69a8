"""Bank accounts for refunds by transfer: only an IBAN a bank would accept is taken."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.bank_accounts import BBAN_FORMATS, IBAN_LENGTHS, BankAccount, checksum, masked

# Examples published in the SWIFT IBAN registry and by the countries' banks, one per country.
VALID_IBANS = [
    "AD1200012030200359100100",
    "AE070331234567890123456",
    "AL47212110090000000235698741",
    "AT611904300234573201",
    "BE68539007547034",
    "BG80BNBG96611020345678",
    "BR1800360305000010009795493C1",
    "CH9300762011623852957",
    "CY17002001280000001200527600",
    "CZ6508000000192000145399",
    "DE89370400440532013000",
    "DK5000400440116243",
    "EE382200221020145685",
    "ES9121000418450200051332",
    "FI2112345600000785",
    "FR1420041010050500013M02606",
    "GB82WEST12345698765432",
    "GI75NWBK000000007099453",
    "GR1601101250000000012300695",
    "HR1210010051863000160",
    "HU42117730161111101800000000",
    "IE29AIBK93115212345678",
    "IS140159260076545510730339",
    "IT60X0542811101000000123456",
    "LI21088100002324013AA",
    "LT121000011101001000",
    "LU280019400644750000",
    "LV80BANK0000435195001",
    "MC5811222000010123456789030",
    "MD24AG000225100013104168",
    "ME25505000012345678951",
    "MK07250120000058984",
    "MT84MALT011000012345MTLCAST001S",
    "NL91ABNA0417164300",
    "NO9386011117947",
    "PL61109010140000071219812874",
    "PT50000201231234567890154",
    "RO49AAAA1B31007593840000",
    "RS35260005601001611379",
    "SA0380000000608010167519",
    "SE4550000000058398257466",
    "SI56263300012039086",
    "SK3112000000198742637541",
    "SM86U0322509800000000270100",
    "TR330006100519786457841326",
    "VA59001123000012345678",
]


def account(iban: str, holder_name: str = "Anna Schmidt") -> BankAccount:
    return BankAccount(holder_name=holder_name, iban=iban)


def refusal(iban: str) -> str:
    with pytest.raises(ValidationError) as error:
        account(iban)
    return str(error.value)


def test_every_accepted_country_has_a_registry_example() -> None:
    assert {iban[:2] for iban in VALID_IBANS} == set(BBAN_FORMATS)
    assert {"GB", "CH", "NO", "SA", "AE", "TR", "BR", "DE", "FR", "NL", "IT"} <= set(IBAN_LENGTHS)


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_a_published_iban_is_accepted(iban: str) -> None:
    assert account(iban).iban == iban
    assert len(iban) == IBAN_LENGTHS[iban[:2]]


def test_an_iban_typed_in_groups_and_lower_case_is_stored_as_banks_write_it() -> None:
    typed = account(" de89 3704 0044 0532 0130 00 ")

    assert typed.iban == "DE89370400440532013000"
    assert typed.last4 == "3000"
    assert typed == account("DE89370400440532013000")


def test_the_holder_name_is_stripped_and_must_not_be_blank() -> None:
    assert account(VALID_IBANS[0], "  Jean Dupont ").holder_name == "Jean Dupont"

    with pytest.raises(ValidationError, match="holder's name is blank"):
        account(VALID_IBANS[0], "   ")
    with pytest.raises(ValidationError, match="at most 140 characters"):
        account(VALID_IBANS[0], "A" * 141)
    assert len(account(VALID_IBANS[0], "A" * 140).holder_name) == 140


@pytest.mark.parametrize(
    ("iban", "message"),
    [
        ("DE88370400440532013000", "IBAN check digits do not match"),
        ("GB82WEST12345698765433", "IBAN check digits do not match"),
        ("DE89370400440532031000", "IBAN check digits do not match"),  # two digits swapped
        ("DE8937040044053201300", "DE IBANs have 22 characters, not 21"),
        ("DE8937040044053201300000", "DE IBANs have 22 characters, not 24"),
        ("NO93860111179470", "NO IBANs have 15 characters, not 16"),
        ("XX89370400440532013000", "IBANs from XX are not accepted: unknown country code"),
        ("US64SVBKUS6S3300958879", "IBANs from US are not accepted"),
        ("1289370400440532013000", "starts with a two-letter country code"),
        ("DEAB370400440532013000", "after the country code are the IBAN's check digits"),
        ("DE8937040044053201300O", "does not follow the DE layout 8n10n"),
        ("GB821234123456987654321", "GB IBANs have 22 characters"),
        ("GB82123412345698765432", "does not follow the GB layout 4a6n8n"),
        ("DE89-3704-0044-0532-0130-00", "only letters and digits"),
        ("", "only letters and digits"),
    ],
)
def test_a_mistyped_iban_is_refused_with_a_reason(iban: str, message: str) -> None:
    assert message in refusal(iban)


def test_check_digits_that_are_never_issued_are_refused() -> None:
    # 01 is congruent to 98 modulo 97, so the sum matches, but banks only issue 02..98.
    assert checksum("DE01370400440532013000") == checksum("DE98370400440532013000")
    for check in ("00", "01", "99"):
        assert "IBAN check digits do not match" in refusal(f"DE{check}370400440532013000")


def test_an_account_takes_no_other_fields_and_cannot_be_changed() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        BankAccount.model_validate(
            {"holder_name": "Anna", "iban": VALID_IBANS[0], "bic": "COBADEFFXXX"}
        )
    with pytest.raises(ValidationError, match="frozen"):
        account(VALID_IBANS[0]).iban = "DE89370400440532013000"  # type: ignore[misc]


def test_the_masked_iban_shows_only_the_country_check_digits_and_last_four() -> None:
    assert masked("DE89370400440532013000") == "DE89 **** **** **** 3000"
    assert masked("gb82 west 1234 5698 7654 32") == "GB82 **** **** **** 5432"
    assert account("NO9386011117947").masked_iban == "NO93 **** **** **** 7947"
    assert masked("DE89") == "**** ****"


_CHARACTERS = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_CHARACTERS["c"] = _CHARACTERS["n"] + _CHARACTERS["a"]


@st.composite
def generated_ibans(draw: st.DrawFn) -> str:
    """Any IBAN a bank of an accepted country could issue, check digits computed by ISO 13616."""
    country = draw(st.sampled_from(sorted(BBAN_FORMATS)))
    layout = BBAN_FORMATS[country]
    bban = "".join(
        draw(st.text(_CHARACTERS[kind], min_size=int(size), max_size=int(size)))
        for size, kind in re.findall(r"(\d+)([nac])", layout)
    )
    check = 98 - checksum(f"{country}00{bban}")
    return f"{country}{check:02d}{bban}"


valid_ibans = st.one_of(st.sampled_from(VALID_IBANS), generated_ibans())


@given(valid_ibans)
def test_any_correctly_built_iban_is_accepted(iban: str) -> None:
    assert account(iban).iban == iban
    assert account(" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)).lower()).iban == iban


@given(valid_ibans, st.data())
def test_a_valid_iban_with_any_one_digit_changed_is_refused(iban: str, data: st.DataObject) -> None:
    position = data.draw(st.sampled_from([i for i, char in enumerate(iban) if char.isdigit()]))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != iban[position]]))
    changed = iban[:position] + digit + iban[position + 1 :]

    assert "IBAN check digits do not match" in refusal(changed)
