"""Order snapshots from the platform, and refund previews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import ValidationError

from api.auth import Principal, Role
from api.deps import SessionDep, SettingsDep, require
from api.presenters import order_view
from api.problems import Problem
from api.schemas.orders import OrderUpsert, OrderView, QuoteRequest, QuoteView
from api.scopes import sees_order
from api.services.policy import merchant_policy, refund_policy
from api.visibility import ORDER_READERS, QUOTE_READERS
from domain.orders import OrderSnapshot
from domain.refund_terms import RefundRequest, RefundRuleError, RequestedLine
from domain.refunds import quote_refund
from persistence.orders import (
    OrderVersionConflict,
    StaleOrderVersion,
    get_order,
    prior_refunds,
    to_snapshot,
    upsert_order,
)

router = APIRouter(prefix="/v1/orders", tags=["orders"])
OrderId = Annotated[str, Path(min_length=1, max_length=64)]


@router.put("/{order_id}", response_model=OrderView, status_code=200)
async def put_order(
    order_id: OrderId,
    body: OrderUpsert,
    session: SessionDep,
    response: Response,
    _: Annotated[Principal, Depends(require(Role.platform))],
) -> OrderView:
    """Insert or replace an order snapshot (idempotent per version; older versions refused)."""
    try:
        snapshot = OrderSnapshot(order_id=order_id, **body.model_dump())
    except ValidationError as error:
        first = error.errors()[0]
        raise Problem(
            422, "invalid_order", first["msg"], field=".".join(map(str, first["loc"])) or "body"
        ) from error
    try:
        order, outcome = await upsert_order(session, snapshot)
    except StaleOrderVersion as stale:
        raise Problem(409, "stale_order_version", str(stale), field="version") from stale
    except OrderVersionConflict as conflict:
        raise Problem(409, "order_version_conflict", str(conflict), field="version") from conflict
    await session.commit()
    if outcome == "created":
        response.status_code = 201
    return order_view(order)


@router.get("/{order_id}", response_model=OrderView)
async def get_order_view(
    order_id: OrderId,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*ORDER_READERS))],
) -> OrderView:
    order = await get_order(session, order_id)
    if order is None or not sees_order(principal, order):
        raise Problem(404, "order_not_found", f"no order {order_id}")
    return order_view(order)


@router.post("/{order_id}/refund-quote", response_model=QuoteView)
async def refund_quote(
    order_id: OrderId,
    body: QuoteRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(*QUOTE_READERS))],
) -> QuoteView:
    """Preview what a ticket on these lines would refund, with its breakdown; nothing is stored."""
    order = await get_order(session, order_id)
    if order is None or not sees_order(principal, order):
        raise Problem(404, "order_not_found", f"no order {order_id}")
    try:
        quote = quote_refund(
            to_snapshot(order),
            await prior_refunds(session, order_id),
            RefundRequest(
                lines=[
                    RequestedLine(line_id=x.line_id, quantity=x.quantity, reason_code=x.reason_code)
                    for x in body.lines
                ],
                reason_code=body.reason_code,
                service_fee=body.service_fee,
                requested_amount=body.requested_amount,
            ),
            refund_policy(
                settings,
                order.currency,
                await merchant_policy(session, settings, order.merchant_id),
            ),
        )
    except RefundRuleError as refused:
        raise Problem(422, refused.code, refused.message, field=refused.field) from refused
    return QuoteView.model_validate(quote.model_dump())
