"""The policy a new ticket is opened under: global settings, then the merchant's stored overrides.

A ticket freezes the result (its `TicketPolicy`) at opening, so a merchant changing its policy
affects new tickets only (SPEC §3).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import TicketPolicy
from domain.money import default_second_approval_threshold
from domain.policy import Policy
from domain.refund_terms import RefundPolicy
from domain.rules import RuleSet
from persistence.models import MerchantPolicy
from persistence.policies import get_policy, stored_overrides
from settings import Settings

log = logging.getLogger("aftersales.policy")


@dataclass(frozen=True)
class AppliedPolicy:
    """The policy in force for one merchant, and which version of it that is."""

    version: str
    values: Policy
    overrides: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    updated_by: str | None = None
    updated_at: datetime | None = None


def global_values(settings: Settings) -> Policy:
    """The settings' policy; its threshold is None, so the per-currency global ones apply."""
    return Policy.model_validate(settings.policy.model_dump())


def global_version(settings: Settings) -> str:
    """`global-<hash8>`: changes whenever any global value a ticket could freeze changes."""
    content = {
        **global_values(settings).model_dump(mode="json"),
        "second_approval_thresholds": settings.money.second_approval_thresholds,
        "refund_status_poll": settings.money.status_poll_interval.total_seconds(),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f"global-{digest[:8]}"


def applied_policy(
    settings: Settings, merchant_id: str, stored: MerchantPolicy | None
) -> AppliedPolicy:
    """Global values, then the stored overrides; without overrides the global version applies."""
    base = global_values(settings)
    if stored is None:
        return AppliedPolicy(version=global_version(settings), values=base)
    overrides = _within_bounds(merchant_id, base, stored_overrides(stored))
    values = Policy.model_validate(
        {name: overrides.get(name, getattr(base, name)) for name in Policy.model_fields}
    )
    return AppliedPolicy(
        version=f"{merchant_id}-v{stored.version}" if overrides else global_version(settings),
        values=values,
        overrides=overrides,
        revision=stored.version,
        updated_by=stored.updated_by,
        updated_at=stored.updated_at,
    )


def _within_bounds(merchant_id: str, base: Policy, overrides: dict[str, Any]) -> dict[str, Any]:
    """The stored overrides the policy's bounds admit: one stored before a bound existed (a
    review of years, say) is left out, so the global value applies instead of every new ticket
    failing on it."""
    try:
        Policy.model_validate({**base.model_dump(), **overrides})
    except ValidationError as error:
        refused = {str(problem["loc"][0]) for problem in error.errors() if problem["loc"]}
        log.warning("policy of %s: out-of-bounds overrides ignored: %s", merchant_id, refused)
        return {name: value for name, value in overrides.items() if name not in refused}
    return overrides


async def merchant_policy(
    session: AsyncSession, settings: Settings, merchant_id: str
) -> AppliedPolicy:
    return applied_policy(settings, merchant_id, await get_policy(session, merchant_id))


def _threshold(settings: Settings, currency: str, values: Policy) -> int:
    if values.second_approval_threshold is not None:
        return values.second_approval_threshold
    return settings.money.second_approval_thresholds.get(
        currency, default_second_approval_threshold(currency)
    )


def ticket_policy(
    settings: Settings,
    currency: str,
    applied: AppliedPolicy | None = None,
    rules: RuleSet | None = None,
) -> TicketPolicy:
    """What a ticket in `currency` freezes at opening; the global policy without `applied`,
    and the merchant's rules in force (None: it has none)."""
    applied = applied or applied_policy(settings, "", None)
    frozen = applied.values.model_dump(include=set(TicketPolicy.model_fields))
    return TicketPolicy.model_validate(
        {
            **frozen,
            "version": applied.version,
            "refund_status_poll": settings.money.status_poll_interval,
            "second_approval_threshold": _threshold(settings, currency, applied.values),
            "rules": rules,
        }
    )


def refund_policy(
    settings: Settings, currency: str, applied: AppliedPolicy | None = None
) -> RefundPolicy:
    policy = ticket_policy(settings, currency, applied)
    return RefundPolicy(
        refund_shipping_on_merchant_fault=policy.refund_shipping_on_merchant_fault,
        second_approval_thresholds={currency: policy.second_approval_threshold},
    )
