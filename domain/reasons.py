"""The after-sales reason taxonomy and who is at fault for each reason."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class ReasonCode(StrEnum):
    no_longer_needed = "no_longer_needed"
    wrong_size_or_model = "wrong_size_or_model"
    quality_issue = "quality_issue"
    not_as_described = "not_as_described"
    wrong_item = "wrong_item"
    damaged_in_transit = "damaged_in_transit"
    lost_in_transit = "lost_in_transit"
    missing_parts = "missing_parts"
    other = "other"


class Fault(StrEnum):
    buyer = "buyer"
    merchant = "merchant"


REASON_FAULT: Mapping[ReasonCode, Fault] = MappingProxyType(
    {
        ReasonCode.no_longer_needed: Fault.buyer,
        ReasonCode.wrong_size_or_model: Fault.buyer,
        ReasonCode.other: Fault.buyer,
        ReasonCode.quality_issue: Fault.merchant,
        ReasonCode.not_as_described: Fault.merchant,
        ReasonCode.wrong_item: Fault.merchant,
        ReasonCode.damaged_in_transit: Fault.merchant,
        ReasonCode.lost_in_transit: Fault.merchant,
        ReasonCode.missing_parts: Fault.merchant,
    }
)

# Reasons where buyer and merchant usually disagree on the facts: they go to manual review.
DISPUTED_REASONS: frozenset[ReasonCode] = frozenset({ReasonCode.not_as_described})


def fault_of(code: ReasonCode | str) -> Fault:
    return REASON_FAULT[ReasonCode(code)]


def is_merchant_fault(code: ReasonCode | str) -> bool:
    return fault_of(code) is Fault.merchant
