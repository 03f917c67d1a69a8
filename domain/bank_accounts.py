"""A buyer's bank account for refunds paid by bank transfer, identified by its IBAN.

An IBAN is checked the way banks check it (ISO 13616): a known country, that country's length and
account-number layout, and check digits that make the whole number equal 1 modulo 97. A typo in a
single digit, or two neighbouring digits swapped, never passes. A refund to a mistyped account is
money that comes back weeks later, if at all, so the account is refused when it is entered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

# The account-number layout (BBAN) of each country, as the SWIFT IBAN registry writes it:
# `n` digits, `a` upper-case letters, `c` letters or digits, each preceded by its count.
# The SEPA countries, plus the other countries buyers are refunded in.
BBAN_FORMATS: Mapping[str, str] = MappingProxyType(
    {
        "AD": "4n4n12c",
        "AE": "3n16n",
        "AL": "8n16c",
        "AT": "5n11n",
        "BE": "3n7n2n",
        "BG": "4a4n2n8c",
        "BR": "8n5n10n1a1c",
        "CH": "5n12c",
        "CY": "3n5n16c",
        "CZ": "4n6n10n",
        "DE": "8n10n",
        "DK": "4n9n1n",
        "EE": "2n2n11n1n",
        "ES": "4n4n1n1n10n",
        "FI": "3n11n",
        "FR": "5n5n11c2n",
        "GB": "4a6n8n",
        "GI": "4a15c",
        "GR": "3n4n16c",
        "HR": "7n10n",
        "HU": "3n4n1n15n1n",
        "IE": "4a6n8n",
        "IS": "4n2n6n10n",
        "IT": "1a5n5n12c",
        "LI": "5n12c",
        "LT": "5n11n",
        "LU": "3n13c",
        "LV": "4a13c",
        "MC": "5n5n11c2n",
        "MD": "2c18c",
        "ME": "3n13n2n",
        "MK": "3n10c2n",
        "MT": "4a5n18c",
        "NL": "4a10n",
        "NO": "4n6n1n",
        "PL": "8n16n",
        "PT": "4n4n11n2n",
        "RO": "4a16c",
        "RS": "3n13n2n",
        "SA": "2n18c",
        "SE": "3n16n1n",
        "SI": "5n8n2n",
        "SK": "4n6n10n",
        "SM": "1a5n5n12c",
        "TR": "5n1n16c",
        "VA": "3n15n",
    }
)

_CLASSES = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}


def _pattern(bban_format: str) -> re.Pattern[str]:
    parts = re.findall(r"(\d+)([nac])", bban_format)
    return re.compile("".join(f"{_CLASSES[kind]}{{{count}}}" for count, kind in parts))


_BBAN_PATTERNS = {country: _pattern(layout) for country, layout in BBAN_FORMATS.items()}

IBAN_LENGTHS: Mapping[str, int] = MappingProxyType(
    {
        country: 4 + sum(int(count) for count in re.findall(r"\d+", layout))
        for country, layout in BBAN_FORMATS.items()
    }
)


def normalised(iban: str) -> str:
    """The IBAN as banks store it: no spaces, upper case (`de89 3704 ...` → `DE893704...`)."""
    return "".join(iban.split()).upper()


def checksum(iban: str) -> int:
    """ISO 13616 mod-97 of a normalised IBAN; 1 for a valid one."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97


def iban_problem(iban: str) -> str | None:
    """Why a normalised IBAN is not valid, in words a buyer can act on; None when it is valid."""
    if not re.fullmatch(r"[A-Z0-9]+", iban):
        return "an IBAN has only letters and digits"
    country = iban[:2]
    if not re.fullmatch(r"[A-Z]{2}", country):
        return "an IBAN starts with a two-letter country code"
    if country not in BBAN_FORMATS:
        return f"IBANs from {country} are not accepted: unknown country code"
    if len(iban) != IBAN_LENGTHS[country]:
        return f"{country} IBANs have {IBAN_LENGTHS[country]} characters, not {len(iban)}"
    if not iban[2:4].isdigit():
        return "the two characters after the country code are the IBAN's check digits"
    if not _BBAN_PATTERNS[country].fullmatch(iban[4:]):
        return f"the account number does not follow the {country} layout {BBAN_FORMATS[country]}"
    # 00, 01, 97 and 99 can pass mod-97 but are never issued: 98 - (n mod 97) is always 02..98.
    if not 2 <= int(iban[2:4]) <= 98 or checksum(iban) != 1:
        return "IBAN check digits do not match"
    return None


def masked(iban: str) -> str:
    """The IBAN as shown on screens and in messages: `DE89 **** **** **** 3000`."""
    iban = normalised(iban)
    if len(iban) < 8:
        return "**** ****"
    return f"{iban[:4]} **** **** **** {iban[-4:]}"


def _valid_iban(value: object) -> object:
    if not isinstance(value, str):
        return value
    iban = normalised(value)
    problem = iban_problem(iban)
    if problem is not None:
        raise ValueError(problem)
    return iban


Iban = Annotated[str, BeforeValidator(_valid_iban)]


class BankAccount(BaseModel):
    """Where a refund by bank transfer is sent: the account holder's name and the IBAN."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holder_name: str = Field(min_length=1, max_length=140)
    iban: Iban

    @field_validator("holder_name", mode="before")
    @classmethod
    def _stripped_name(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        name = value.strip()
        if not name:
            raise ValueError("the account holder's name is blank")
        return name

    @property
    def last4(self) -> str:
        return self.iban[-4:]

    @property
    def masked_iban(self) -> str:
        return masked(self.iban)
