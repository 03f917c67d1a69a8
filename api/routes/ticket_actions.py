"""Actor actions on a ticket: each one an Update of the ticket's workflow (SPEC §8)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel

import contracts as c
from api.auth import Principal
from api.deps import IdempotencyKeyDep, SessionDep, SettingsDep, TemporalDep, require_action
from api.problems import Problem
from api.schemas import actions as body
from api.schemas.tickets import SecondApprovalBody, TicketDetail
from api.services.destinations import check_balance_currency
from api.services.ticket_actions import take_action
from api.services.ticket_view import load_detail, visible_ticket
from domain.actions import Action
from domain.tickets import Actor
from persistence.models import Ticket, Warehouse
from workflows.ticket import TicketWorkflow

router = APIRouter(prefix="/v1/tickets", tags=["ticket actions"])
TicketNo = Annotated[str, Path(min_length=1, max_length=32)]
_ANSWER: dict[str, Any] = {
    "response_model": TicketDetail,
    "responses": {
        403: {"description": "your role cannot take this action"},
        404: {"description": "no such ticket of yours"},
        409: {"description": "not possible in the ticket's state, or `expected_version` stale"},
        422: {"description": "the request breaks a rule of the ticket (stable `code`)"},
    },
}


async def _act(
    action: Action,
    update: Any,
    request: c.ActorAction,
    ticket_no: str,
    session: SessionDep,
    temporal: TemporalDep,
    principal: Principal,
    idempotency_key: str | None,
    response: Response,
) -> TicketDetail:
    ticket = await visible_ticket(session, ticket_no, principal)
    taken = await take_action(
        session, temporal, principal, ticket, action, update, request, idempotency_key
    )
    if not taken:
        response.headers["Idempotent-Replayed"] = "true"
    # Forget what this session read before the action, so the answer shows the new state.
    await session.rollback()
    session.expire_all()
    return await load_detail(session, ticket_no, principal)


def _request(model: type[c.ActorAction], payload: BaseModel, principal: Principal) -> Any:
    return model.model_validate(
        {
            **payload.model_dump(mode="json"),
            "actor": Actor(principal.role),
            "actor_id": principal.subject_id,
        }
    )


@router.post(f"/{{ticket_no}}/{Action.approve}", **_ANSWER)
async def approve(
    ticket_no: TicketNo,
    payload: body.ApproveBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.approve))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The merchant approves, optionally with a service fee (buyer-fault reasons only) and the
    warehouse the goods go back to."""
    if payload.warehouse_id is not None:
        warehouse = await session.get(Warehouse, payload.warehouse_id)
        if warehouse is None or warehouse.merchant_id != principal.subject_id:
            raise Problem(
                422,
                "unknown_warehouse",
                f"no warehouse {payload.warehouse_id} of your shop",
                field="warehouse_id",
            )
    request = _request(c.Approve, payload, principal)
    return await _act(
        Action.approve,
        TicketWorkflow.approve,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.reject}", **_ANSWER)
async def reject(
    ticket_no: TicketNo,
    payload: body.RejectBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.reject))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The merchant rejects with a reason; the buyer may escalate or apply again."""
    request = _request(c.Reject, payload, principal)
    return await _act(
        Action.reject,
        TicketWorkflow.reject,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.return_shipment}", **_ANSWER)
async def return_shipment(
    ticket_no: TicketNo,
    payload: body.ShippingBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.return_shipment))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The buyer ships the goods back: carrier and tracking number."""
    request = _request(c.Shipping, payload, principal)
    return await _act(
        Action.return_shipment,
        TicketWorkflow.return_shipment,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.cancel}", **_ANSWER)
async def cancel(
    ticket_no: TicketNo,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.cancel))],
    payload: body.CancelBody | None = None,
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The buyer withdraws the ticket."""
    request = _request(c.Cancel, payload or body.CancelBody(), principal)
    return await _act(
        Action.cancel,
        TicketWorkflow.cancel,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.escalate}", **_ANSWER)
async def escalate(
    ticket_no: TicketNo,
    payload: body.EscalateBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.escalate))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The buyer or the merchant asks support to decide."""
    request = _request(c.Escalate, payload, principal)
    return await _act(
        Action.escalate,
        TicketWorkflow.escalate,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.inspection}", **_ANSWER)
async def inspection(
    ticket_no: TicketNo,
    payload: body.InspectionBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.inspection))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The warehouse records, per line, the accepted and rejected quantities."""
    request = _request(c.Inspection, payload, principal)
    return await _act(
        Action.inspection,
        TicketWorkflow.inspection,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.resolve_inspection}", **_ANSWER)
async def resolve_inspection(
    ticket_no: TicketNo,
    payload: body.ResolveInspectionBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.resolve_inspection))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """After a failed inspection the merchant offers a partial refund or returns the goods."""
    request = _request(c.ResolveInspection, payload, principal)
    return await _act(
        Action.resolve_inspection,
        TicketWorkflow.resolve_inspection,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.reship}", **_ANSWER)
async def reship(
    ticket_no: TicketNo,
    payload: body.ShippingBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.reship))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The merchant ships the replacement of an exchange."""
    request = _request(c.Shipping, payload, principal)
    return await _act(
        Action.reship,
        TicketWorkflow.reship,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.confirm_receipt}", **_ANSWER)
async def confirm_receipt(
    ticket_no: TicketNo,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.confirm_receipt))],
    payload: body.ConfirmReceiptBody | None = None,
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """The buyer confirms the replacement arrived."""
    request = _request(c.ConfirmReceipt, payload or body.ConfirmReceiptBody(), principal)
    return await _act(
        Action.confirm_receipt,
        TicketWorkflow.confirm_receipt,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.arbitrate}", **_ANSWER)
async def arbitrate(
    ticket_no: TicketNo,
    payload: body.ArbitrateBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.arbitrate))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """Support decides an escalated ticket: refund, partial refund, reject or return to buyer."""
    request = _request(c.Arbitration, payload, principal)
    return await _act(
        Action.arbitrate,
        TicketWorkflow.arbitrate,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.second_approval}", **_ANSWER)
async def second_approval(
    ticket_no: TicketNo,
    payload: SecondApprovalBody,
    session: SessionDep,
    temporal: TemporalDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.second_approval))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """Support approves or declines a refund above the second-approval threshold."""
    request = c.SecondApproval(
        approve=payload.decision == "approve",
        note=payload.note,
        actor=Actor.support,
        actor_id=principal.subject_id,
        expected_version=payload.expected_version,
    )
    return await _act(
        Action.second_approval,
        TicketWorkflow.second_approval,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )


@router.post(f"/{{ticket_no}}/{Action.retry_refund}", **_ANSWER)
async def retry_refund(
    ticket_no: TicketNo,
    payload: body.RetryRefundBody,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
    principal: Annotated[Principal, Depends(require_action(Action.retry_refund))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """Support sends a failed or reversed refund again, as a new attempt with a new key,
    optionally to another destination."""
    ticket = await session.get(Ticket, ticket_no)
    if ticket is not None:
        await check_balance_currency(settings, ticket.currency, payload)
    request = _request(c.RetryRefund, payload, principal).model_copy(
        update={"destination_details": payload.destination_details()}
    )
    return await _act(
        Action.retry_refund,
        TicketWorkflow.retry_refund,
        request,
        ticket_no,
        session,
        temporal,
        principal,
        idempotency_key,
        response,
    )
