"""The buyer's risk, as the workflow writes it into reasons and deadlines, taken out of the text
for roles that do not see risk; the rest of the text is left as it was."""

from __future__ import annotations

import pytest

from domain.risk_words import without_risk

WATCHED = "on the support watchlist: resells refunded goods; twice"
RECENT = "3 refunds in the last 90 days (30% of orders)"


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            f"waiting for the merchant's review; buyer risk high; {WATCHED}; {RECENT}; "
            "disputed reason: an evidence summary is attached for manual review",
            "waiting for the merchant's review; "
            "disputed reason: an evidence summary is attached for manual review",
        ),
        (
            "escalate to support instead of auto-approval: buyer on the watchlist; "
            f"buyer risk high: {WATCHED}; {RECENT}; "
            "CNY 60.00 is above the second-approval threshold of CNY 50.00",
            "escalate to support instead of auto-approval: "
            "CNY 60.00 is above the second-approval threshold of CNY 50.00",
        ),
        (
            "escalate to support instead of auto-approval: buyer on the watchlist; "
            f"buyer risk high: {WATCHED}",
            "escalate to support instead of auto-approval",
        ),
        (
            "approved automatically: the merchant did not answer within 2 days; buyer risk low",
            "approved automatically: the merchant did not answer within 2 days",
        ),
        ("the merchant approved: see you", "the merchant approved: see you"),
    ],
)
def test_risk_said_in_words_is_taken_out_and_nothing_else(said: str, shown: str) -> None:
    assert without_risk(said, [WATCHED, RECENT]) == shown
