"""Bulk actions: a merchant approves or rejects, a warehouse passes the inspection of, up to
1,000 tickets with one body. Registered before the single-ticket actions, whose paths
(`/v1/tickets/{ticket_no}/{action}`) would otherwise read `bulk` as a ticket number."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Principal, Role
from api.deps import SessionDep, SettingsDep, TemporalDep, require
from api.schemas.bulk import (
    BULK_ID,
    BulkApproveBody,
    BulkBody,
    BulkInspectionPassBody,
    BulkRejectBody,
    BulkView,
)
from api.services.bulk_actions import read_bulk, start_bulk
from contracts.bulk import BulkAction, BulkOutcome

router = APIRouter(prefix="/v1/tickets/bulk", tags=["bulk actions"])
Merchant = Annotated[Principal, Depends(require(Role.merchant))]
Warehouse = Annotated[Principal, Depends(require(Role.warehouse))]
BulkReader = Annotated[Principal, Depends(require(Role.merchant, Role.warehouse))]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "sent again with the same bulk id and body: the run as it stands"},
    403: {"description": "your role cannot take this action"},
    409: {"description": "the bulk id was sent before with another body (`bulk_id_reused`)"},
    422: {"description": "more than 1,000 tickets, one listed twice, or a field out of bounds"},
}


async def _started(
    action: BulkAction,
    body: BulkBody,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: Principal,
    response: Response,
) -> BulkView:
    bulk_id, replayed = await start_bulk(session, temporal, settings, principal, action, body)
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/tickets/bulk/{bulk_id}"
    await session.rollback()
    return await read_bulk(session, principal, bulk_id, None)


@router.post("/approve", response_model=BulkView, status_code=202, responses=_RESPONSES)
async def bulk_approve(
    body: BulkApproveBody,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: Merchant,
    response: Response,
) -> BulkView:
    """Approve each ticket, as its own Update with its own key; a ticket that is not yours or
    not awaiting your review fails alone, with the problem code a single approve answers.
    Answers at once with the run, to be read with `GET /v1/tickets/bulk/{bulk_id}`."""
    return await _started(
        BulkAction.approve, body, session, temporal, settings, principal, response
    )


@router.post("/reject", response_model=BulkView, status_code=202, responses=_RESPONSES)
async def bulk_reject(
    body: BulkRejectBody,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: Merchant,
    response: Response,
) -> BulkView:
    """Reject each ticket with the one reason; each ticket fails or succeeds alone."""
    return await _started(BulkAction.reject, body, session, temporal, settings, principal, response)


@router.post("/inspection-pass", response_model=BulkView, status_code=202, responses=_RESPONSES)
async def bulk_inspection_pass(
    body: BulkInspectionPassBody,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: Warehouse,
    response: Response,
) -> BulkView:
    """Record the inspection of each return sent to your warehouse, every line accepted in
    full; each ticket fails or succeeds alone."""
    return await _started(
        BulkAction.inspection_pass, body, session, temporal, settings, principal, response
    )


@router.get(
    "/{bulk_id}",
    response_model=BulkView,
    responses={404: {"description": "no bulk run of that id of yours (`bulk_not_found`)"}},
)
async def read_bulk_run(
    bulk_id: Annotated[str, Path(min_length=1, max_length=64, pattern=BULK_ID)],
    session: SessionDep,
    principal: BulkReader,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    outcome: BulkOutcome | None = None,
) -> BulkView:
    """The run's progress (done, failed and pending of total) and a page of its tickets, each
    with its new state or the problem it was refused with; readable while it runs."""
    return await read_bulk(session, principal, bulk_id, cursor, limit, outcome)
