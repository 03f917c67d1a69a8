"""The buyer's risk as the workflow says it in words, taken out of the texts read by roles that
do not see risk (api.visibility).

The workflow writes risk into prose: a timeline reason ("waiting for the merchant's review; buyer
risk high; on the support watchlist: ...") and the ticket's `on_timeout` ("escalate to support
instead of auto-approval: buyer on the watchlist"). Recorded timelines keep those words forever,
so the API removes them when it shows the text, whatever the workflow writes from now on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# The phrases the workflow's automation adds around the reasons (workflows/automation.py,
# workflows/review_steps.py) and the shapes of reasons that carry a support agent's words.
_SHAPES = (
    re.compile(r"buyer risk (?:low|medium|high)"),
    re.compile(r"buyer on the watchlist"),
    re.compile(r"on the support watchlist: [^;]*"),
)
_GONE = "\x00"
_SEPARATOR = re.compile(r"(; |: )")


def risk_reasons(*assessments: dict[str, Any] | None) -> list[str]:
    """The reasons of each risk assessment (a timeline entry's `data["risk"]`)."""
    return [
        str(reason)
        for assessment in assessments
        if assessment
        for reason in assessment.get("reasons") or []
    ]


def without_risk(text: str, reasons: Iterable[str]) -> str:
    """`text` without any risk reason or risk phrase, and without the separators they leave."""
    for reason in sorted({r for r in reasons if r}, key=len, reverse=True):
        text = text.replace(reason, _GONE)
    for shape in _SHAPES:
        text = shape.sub(_GONE, text)
    if _GONE not in text:
        return text
    return _joined(_SEPARATOR.split(text))


def _joined(pieces: list[str]) -> str:
    """Pieces alternate text and separator; a removed piece takes its separator with it, and the
    first separator after the last kept piece joins it to the next one (": " before "; ")."""
    kept: list[str] = []
    pending = ""
    for index, piece in enumerate(pieces[0::2]):
        if index and not pending:
            pending = pieces[2 * index - 1]
        clean = piece.replace(_GONE, "")
        if clean.strip():
            kept.append((pending if kept else "") + clean)
            pending = ""
    return "".join(kept)
