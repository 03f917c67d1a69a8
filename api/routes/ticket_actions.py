"""Actor actions on a ticket: each one an Update of the ticket's workflow (SPEC §8).

The endpoints differ only by data, so they are declared once, in `ROUTES`, and built from it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel

import contracts as c
from api.auth import Principal
from api.deps import IdempotencyKeyDep, SessionDep, SettingsDep, TemporalDep, require_action
from api.schemas import actions as body
from api.schemas.tickets import SecondApprovalBody, TicketDetail
from api.services import action_requests
from api.services.action_requests import Acting, Build
from api.services.ticket_actions import take_action
from api.services.ticket_view import load_detail, visible_ticket
from domain.actions import Action

router = APIRouter(prefix="/v1/tickets", tags=["ticket actions"])
TicketNo = Annotated[str, Path(min_length=1, max_length=32)]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "your role cannot take this action"},
    404: {"description": "no such ticket of yours"},
    409: {"description": "not possible in the ticket's state, or `expected_version` stale"},
    422: {"description": "the request breaks a rule of the ticket (stable `code`)"},
}

B = TypeVar("B", bound=BaseModel)


@dataclass(frozen=True)
class ActionRoute(Generic[B]):
    """`POST /v1/tickets/{ticket_no}/<action>`: its body, the contract and how the body becomes
    it, and the endpoint's text."""

    action: Action
    body: type[B]
    contract: type[c.ActorAction]
    build: Build[B]
    doc: str
    optional_body: bool = False

    @property
    def update(self) -> str:
        """The workflow's Update, named as the action in Python."""
        return self.action.replace("-", "_")


ROUTES: tuple[ActionRoute[Any], ...] = (
    ActionRoute(
        Action.approve,
        body.ApproveBody,
        c.Approve,
        action_requests.approve,
        """The merchant approves, optionally with a service fee (buyer-fault reasons only) and the
        warehouse the goods go back to.""",
    ),
    ActionRoute(
        Action.reject,
        body.RejectBody,
        c.Reject,
        action_requests.as_sent,
        "The merchant rejects with a reason; the buyer may escalate or apply again.",
    ),
    ActionRoute(
        Action.return_shipment,
        body.ShippingBody,
        c.Shipping,
        action_requests.as_sent,
        "The buyer ships the goods back: carrier and tracking number.",
    ),
    ActionRoute(
        Action.cancel,
        body.CancelBody,
        c.Cancel,
        action_requests.as_sent,
        "The buyer withdraws the ticket.",
        optional_body=True,
    ),
    ActionRoute(
        Action.escalate,
        body.EscalateBody,
        c.Escalate,
        action_requests.as_sent,
        "The buyer or the merchant asks support to decide.",
    ),
    ActionRoute(
        Action.inspection,
        body.InspectionBody,
        c.Inspection,
        action_requests.as_sent,
        "The warehouse records, per line, the accepted and rejected quantities.",
    ),
    ActionRoute(
        Action.resolve_inspection,
        body.ResolveInspectionBody,
        c.ResolveInspection,
        action_requests.as_sent,
        "After a failed inspection the merchant offers a partial refund or returns the goods.",
    ),
    ActionRoute(
        Action.reship,
        body.ShippingBody,
        c.Shipping,
        action_requests.as_sent,
        "The merchant ships the replacement of an exchange.",
    ),
    ActionRoute(
        Action.confirm_receipt,
        body.ConfirmReceiptBody,
        c.ConfirmReceipt,
        action_requests.as_sent,
        "The buyer confirms the replacement arrived.",
        optional_body=True,
    ),
    ActionRoute(
        Action.arbitrate,
        body.ArbitrateBody,
        c.Arbitration,
        action_requests.as_sent,
        "Support decides an escalated ticket: refund, partial refund, reject or return to buyer.",
    ),
    ActionRoute(
        Action.evidence,
        body.EvidenceBody,
        c.Evidence,
        action_requests.as_sent,
        "The buyer adds the evidence photos the merchant's rules ask for before review.",
    ),
    ActionRoute(
        Action.second_approval,
        SecondApprovalBody,
        c.SecondApproval,
        action_requests.second_approval,
        "Support approves or declines a refund above the second-approval threshold.",
    ),
    ActionRoute(
        Action.retry_refund,
        body.RetryRefundBody,
        c.RetryRefund,
        action_requests.retry_refund,
        """Support sends a failed or reversed refund again, as a new attempt with a new key,
        optionally to another destination.""",
    ),
)


def _endpoint(route: ActionRoute[Any]) -> Callable[..., Awaitable[TicketDetail]]:
    """The one handler of every action: find the ticket, build the request, send the Update."""

    async def act(
        *,
        ticket_no: TicketNo,
        payload: Any,
        session: SessionDep,
        temporal: TemporalDep,
        settings: SettingsDep,
        response: Response,
        principal: Principal,
        idempotency_key: IdempotencyKeyDep = None,
    ) -> TicketDetail:
        ticket = await visible_ticket(session, ticket_no, principal)
        acting = Acting(session, settings, principal, ticket)
        sent = payload if payload is not None else route.body()
        request = await route.build(route.contract, sent, acting)
        taken = await take_action(
            session,
            temporal,
            principal,
            ticket,
            action=route.action,
            update=route.update,
            request=request,
            idempotency_key=idempotency_key,
        )
        if not taken:
            response.headers["Idempotent-Replayed"] = "true"
        # Forget what this session read before the action, so the answer shows the new state.
        await session.rollback()
        session.expire_all()
        return await load_detail(session, ticket_no, principal)

    # FastAPI reads the body's schema and the roles' check from the signature: set them per action.
    signature = inspect.signature(act, eval_str=True)
    per_action = {
        "payload": signature.parameters["payload"].replace(
            annotation=route.body | None if route.optional_body else route.body,
            default=None if route.optional_body else inspect.Parameter.empty,
        ),
        "principal": signature.parameters["principal"].replace(
            annotation=Annotated[Principal, Depends(require_action(route.action))]
        ),
    }
    act.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[per_action.get(name, p) for name, p in signature.parameters.items()]
    )
    return act


def _register(route: ActionRoute[Any]) -> None:
    router.add_api_route(
        f"/{{ticket_no}}/{route.action}",
        _endpoint(route),
        methods=["POST"],
        name=route.action.name,
        description=inspect.cleandoc(route.doc),
        response_model=TicketDetail,
        responses=_RESPONSES,
    )


for _route in ROUTES:
    _register(_route)
