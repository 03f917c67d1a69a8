"""A merchant's rules: read, replaced (each change a version) and tried on a ticket (SPEC §5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.auth import Principal, Role
from api.deps import IdempotencyKeyDep, SessionDep, SettingsDep, TemporalDep, require
from api.schemas.rules import (
    MerchantRulesView,
    RulesTrial,
    RulesUpdate,
    TrialResult,
    WhatIfStart,
    WhatIfView,
)
from api.services.merchants import known_merchant
from api.services.rule_trials import proposed, try_rules
from api.services.rule_what_if import read_what_if, start_what_if
from domain.rules import FACTS
from persistence.models import MerchantRuleSet
from persistence.rules import current_rules, rules_version, save_rules, to_rule_set

router = APIRouter(prefix="/v1/merchants", tags=["merchant rules"])
MerchantId = Annotated[str, Path(min_length=1, max_length=64)]
RulesEditor = Annotated[Principal, Depends(require(Role.merchant, Role.support))]


def _view(merchant_id: str, stored: MerchantRuleSet | None) -> MerchantRulesView:
    if stored is None:
        return MerchantRulesView(
            merchant_id=merchant_id,
            version=None,
            revision=0,
            rules=[],
            updated_by=None,
            updated_at=None,
            facts=dict(FACTS),
        )
    return MerchantRulesView(
        merchant_id=merchant_id,
        version=rules_version(merchant_id, stored.version),
        revision=stored.version,
        rules=to_rule_set(stored).rules,
        updated_by=stored.updated_by,
        updated_at=stored.created_at,
        facts=dict(FACTS),
    )


@router.get("/{merchant_id}/rules", response_model=MerchantRulesView)
async def read_rules(
    merchant_id: MerchantId, session: SessionDep, principal: RulesEditor
) -> MerchantRulesView:
    """The rules new tickets of this merchant are opened under, and the facts they may read."""
    await known_merchant(session, merchant_id, principal)
    return _view(merchant_id, await current_rules(session, merchant_id))


@router.put("/{merchant_id}/rules", response_model=MerchantRulesView)
async def replace_rules(
    merchant_id: MerchantId, body: RulesUpdate, session: SessionDep, principal: RulesEditor
) -> MerchantRulesView:
    """Replace the merchant's rules with a new version; tickets already open keep theirs."""
    await known_merchant(session, merchant_id, principal)
    rules = proposed(body.rules).rules
    stored = await save_rules(session, merchant_id, rules, principal.name)
    await session.commit()
    return _view(merchant_id, stored)


@router.post("/{merchant_id}/rules/test", response_model=TrialResult)
async def try_merchant_rules(
    merchant_id: MerchantId, body: RulesTrial, session: SessionDep, principal: RulesEditor
) -> TrialResult:
    """What the rules (sent, or the current ones) decide on one ticket; nothing is written."""
    await known_merchant(session, merchant_id, principal)
    return await try_rules(session, merchant_id, body)


@router.post("/{merchant_id}/rules/what-if", response_model=WhatIfView, status_code=202)
async def start_rules_what_if(
    merchant_id: MerchantId,
    body: WhatIfStart,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: RulesEditor,
    idempotency_key: IdempotencyKeyDep = None,
) -> WhatIfView:
    """Re-decide every ticket of the merchant opened in the period under the proposed rules, as
    a Temporal workflow; answers at once with the run, to be read with `GET …/what-if/{run_id}`
    until its status is `completed`. Nothing about the real tickets changes."""
    await known_merchant(session, merchant_id, principal)
    run_id = await start_what_if(
        session, temporal, settings, merchant_id, body, principal, idempotency_key
    )
    return await read_what_if(session, merchant_id, run_id, None)


@router.get("/{merchant_id}/rules/what-if/{run_id}", response_model=WhatIfView)
async def read_rules_what_if(
    merchant_id: MerchantId,
    run_id: Annotated[str, Path(min_length=1, max_length=80)],
    session: SessionDep,
    principal: RulesEditor,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    changed_only: bool = False,
) -> WhatIfView:
    """A what-if's progress (tickets done of total), its totals predicted and happened side by
    side so far, and a page of its tickets (`changed_only`: those the rules would change)."""
    await known_merchant(session, merchant_id, principal)
    return await read_what_if(session, merchant_id, run_id, cursor, limit, changed_only)
