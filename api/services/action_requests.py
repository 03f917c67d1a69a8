"""What each ticket action sends to the workflow, and the checks the API makes before sending it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.problems import Problem
from api.schemas.actions import ActionBody, ApproveBody, RetryRefundBody
from api.schemas.tickets import SecondApprovalBody
from api.services.destinations import check_balance_currency
from contracts import ActorAction
from domain.tickets import Actor
from persistence.models import Ticket, Warehouse
from settings import Settings

B_contra = TypeVar("B_contra", bound=BaseModel, contravariant=True)


@dataclass(frozen=True)
class Acting:
    """Who acts on which (visible) ticket, with what the checks need."""

    session: AsyncSession
    settings: Settings
    principal: Principal
    ticket: Ticket


# (contract model, request body, who acts) -> the Update's argument, or a Problem.
Build = Callable[[type[ActorAction], B_contra, Acting], Awaitable[ActorAction]]


def actor_request(
    model: type[ActorAction], fields: dict[str, Any], principal: Principal
) -> ActorAction:
    """The contract request, signed with who acts."""
    return model.model_validate(
        {**fields, "actor": Actor(principal.role), "actor_id": principal.subject_id}
    )


async def as_sent(model: type[ActorAction], payload: ActionBody, acting: Acting) -> ActorAction:
    """The body as it came, for actions whose body maps field for field onto the contract."""
    return actor_request(model, payload.model_dump(mode="json"), acting.principal)


async def check_warehouse(
    session: AsyncSession, warehouse_id: str | None, merchant_id: str | None
) -> None:
    """The goods can go back only to a warehouse of the approving merchant's shop."""
    if warehouse_id is not None:
        warehouse = await session.get(Warehouse, warehouse_id)
        if warehouse is None or warehouse.merchant_id != merchant_id:
            raise Problem(
                422,
                "unknown_warehouse",
                f"no warehouse {warehouse_id} of your shop",
                field="warehouse_id",
            )


async def approve(model: type[ActorAction], payload: ApproveBody, acting: Acting) -> ActorAction:
    await check_warehouse(acting.session, payload.warehouse_id, acting.principal.subject_id)
    return await as_sent(model, payload, acting)


async def second_approval(
    model: type[ActorAction], payload: SecondApprovalBody, acting: Acting
) -> ActorAction:
    """The body's `decision` is the contract's `approve` flag."""
    fields = {
        "approve": payload.decision == "approve",
        "note": payload.note,
        "expected_version": payload.expected_version,
    }
    return actor_request(model, fields, acting.principal)


async def retry_refund(
    model: type[ActorAction], payload: RetryRefundBody, acting: Acting
) -> ActorAction:
    """A balance in another currency needs a rate now; the destination's details travel along."""
    await check_balance_currency(acting.settings, acting.ticket.currency, payload)
    fields = {
        **payload.model_dump(mode="json"),
        "destination_details": payload.destination_details(),
    }
    return actor_request(model, fields, acting.principal)
