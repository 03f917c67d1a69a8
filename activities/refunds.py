"""Refund decision, execution and reconciliation, kept apart (SPEC §4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import contracts as c
from adapters.payments.port import PaymentGateway, RefundCommand, RefundRefused
from domain.orders import after_sales_status
from domain.refund_terms import RefundPolicy, RefundRequest, RefundRuleError, RequestedLine
from domain.refunds import quote_refund
from persistence.models import Order, Refund, Ticket
from persistence.orders import get_order, prior_refunds, to_snapshot

_FINAL = ("succeeded", "failed")
# Heartbeats while waiting on a provider, so a worker that dies mid-call is noticed within the
# heartbeat timeout (see workflows/refund_steps.py) rather than the whole call's timeout.
HEARTBEAT_EVERY = 2.0
_IN_FLIGHT = ("granted", "pending")


def _state(refund: Refund) -> c.RefundState:
    return c.RefundState(
        idempotency_key=refund.idempotency_key,
        provider=refund.provider or "",
        provider_refund_id=refund.provider_refund_id,
        status=refund.status,
        failure_reason=refund.failure_reason,
    )


def _record_status(refund: Refund, status: str, source: str, reason: str | None = None) -> None:
    if refund.status == status:
        return
    refund.status = status
    if reason:
        refund.failure_reason = reason
    refund.status_history = [
        *refund.status_history,
        {"status": status, "at": datetime.now(UTC).isoformat(), "source": source, "reason": reason},
    ]


def _grant(refund: Refund) -> c.Grant:
    return c.Grant(
        ticket_no=refund.ticket_no,
        refund_seq=refund.seq,
        idempotency_key=refund.idempotency_key,
        currency=refund.currency,
        amount=refund.amount,
        shipping_amount=refund.shipping_amount,
        needs_second_approval=bool(refund.breakdown.get("needs_second_approval")),
        notes=list(refund.breakdown.get("notes", [])),
        breakdown=refund.breakdown,
    )


def _refunded_lines(ticket: Ticket, request: c.GrantRequest) -> dict[str, int]:
    """The ticket's quantities, unless the decision names others (units accepted at inspection)."""
    if request.lines is not None:
        return {line_id: qty for line_id, qty in request.lines.items() if qty > 0}
    return {line.line_id: line.quantity for line in ticket.lines}


async def _refund_by_key(session: AsyncSession, key: str) -> Refund:
    refund = (
        await session.execute(select(Refund).where(Refund.idempotency_key == key))
    ).scalar_one_or_none()
    if refund is None:
        raise ApplicationError(f"no refund granted under {key}", non_retryable=True)
    return refund


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class RefundActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        gateways: Mapping[str, PaymentGateway],
    ) -> None:
        self._sessions = sessions
        self._gateways = gateways

    @activity.defn(name=c.GRANT_REFUND)
    async def grant_refund(self, request: c.GrantRequest) -> c.Grant:
        """Decide what we owe and record it before any money moves."""
        async with self._sessions.begin() as session:
            ticket = await session.get(Ticket, request.ticket_no)
            if ticket is None:
                raise ApplicationError(f"ticket {request.ticket_no} is not stored")
            order = await get_order(session, ticket.order_id, lock=True)
            assert order is not None
            existing = (
                await session.execute(
                    select(Refund).where(
                        Refund.ticket_no == request.ticket_no, Refund.seq == request.refund_seq
                    )
                )
            ).scalar_one_or_none()
            if existing is not None:
                return _grant(existing)
            try:
                quote = quote_refund(
                    to_snapshot(order),
                    await prior_refunds(session, order.order_id),
                    RefundRequest(
                        lines=[
                            RequestedLine(line_id=line_id, quantity=quantity)
                            for line_id, quantity in _refunded_lines(ticket, request).items()
                        ],
                        reason_code=ticket.reason_code,
                        service_fee=request.service_fee,
                        requested_amount=(
                            request.requested_amount
                            if request.requested_amount is not None
                            else ticket.requested_amount
                        ),
                    ),
                    RefundPolicy(
                        refund_shipping_on_merchant_fault=ticket.policy[
                            "refund_shipping_on_merchant_fault"
                        ],
                        second_approval_thresholds={
                            order.currency: ticket.policy["second_approval_threshold"]
                        },
                    ),
                )
            except RefundRuleError as refused:
                raise ApplicationError(
                    str(refused), refused.code, type="RefundRuleError", non_retryable=True
                ) from refused
            breakdown = quote.model_dump(mode="json")
            refund = Refund(
                ticket_no=ticket.ticket_no,
                order_id=order.order_id,
                seq=request.refund_seq,
                idempotency_key=request.idempotency_key,
                currency=quote.currency,
                amount=quote.total,
                line_quantities={line.line_id: line.quantity for line in quote.lines},
                line_amounts={line.line_id: line.amount for line in quote.lines},
                shipping_amount=quote.shipping_amount,
                breakdown=breakdown,
                destination=ticket.destination,
                provider=order.payment["provider"],
                status="granted",
                status_history=[
                    {"status": "granted", "at": datetime.now(UTC).isoformat(), "source": "grant"}
                ],
            )
            session.add(refund)
            ticket.breakdown = breakdown
            order.after_sales_status = "refunding"
            await session.flush()
            return _grant(refund)

    @activity.defn(name=c.EXECUTE_REFUND)
    async def execute_refund(self, execution: c.RefundExecution) -> c.RefundState:
        """Send the refund under its stored key; a retry asks the provider for the same refund."""
        async with self._sessions() as session:
            refund = await _refund_by_key(session, execution.idempotency_key)
            order = await get_order(session, refund.order_id)
            assert order is not None
        if refund.status in _FINAL:
            return _state(refund)
        gateway = self._gateways.get(order.payment["provider"])
        if gateway is None:
            return await self._store(
                refund.idempotency_key,
                "failed",
                "execute",
                f"no payment gateway is configured for {order.payment['provider']}",
            )
        command = RefundCommand(
            idempotency_key=refund.idempotency_key,
            payment_reference=order.payment["reference"],
            payment_method=order.payment["method"],
            amount=refund.amount,
            currency=refund.currency,
            reason=f"after-sales ticket {refund.ticket_no}",
            metadata={"ticket_no": refund.ticket_no, "order_id": refund.order_id},
        )
        try:
            async with _heartbeating():
                accepted = await gateway.create_refund(command)
        except RefundRefused as refused:
            return await self._store(refund.idempotency_key, "failed", "execute", str(refused))
        return await self._store(
            refund.idempotency_key,
            accepted.status.value,
            "execute",
            accepted.failure_reason,
            provider_refund_id=accepted.provider_refund_id,
        )

    @activity.defn(name=c.CHECK_REFUND)
    async def check_refund(self, execution: c.RefundExecution) -> c.RefundState:
        """Polling fallback for when the provider's webhook does not arrive."""
        async with self._sessions() as session:
            refund = await _refund_by_key(session, execution.idempotency_key)
        gateway = self._gateways.get(refund.provider or "")
        if refund.status in _FINAL or refund.provider_refund_id is None or gateway is None:
            return _state(refund)
        async with _heartbeating():
            seen = await gateway.get_refund(refund.provider_refund_id)
        return await self._store(
            refund.idempotency_key, seen.status.value, "poll", seen.failure_reason
        )

    @activity.defn(name=c.SETTLE_REFUND)
    async def settle_refund(self, settlement: c.Settlement) -> None:
        """Book the final outcome on the refund, the ticket and the order."""
        await self._book(settlement, settlement.status)

    @activity.defn(name=c.VOID_GRANT)
    async def void_grant(self, voiding: c.Settlement) -> None:
        """A grant that will never be paid stops counting against the order's caps."""
        await self._book(voiding, "voided", only_from="granted")

    async def _book(self, event: c.Settlement, status: str, only_from: str | None = None) -> None:
        async with self._sessions.begin() as session:
            refund = await _refund_by_key(session, event.idempotency_key)
            order = await get_order(session, refund.order_id, lock=True)
            ticket = await session.get(Ticket, refund.ticket_no)
            assert order is not None and ticket is not None
            if only_from is None or refund.status == only_from:
                _record_status(refund, status, event.source, event.failure_reason)
                await session.flush()
            ticket.refunded_amount = await _succeeded_total(
                session, Refund.ticket_no == ticket.ticket_no
            )
            await _book_on_order(session, order)

    async def _store(
        self,
        key: str,
        status: str,
        source: str,
        reason: str | None,
        *,
        provider_refund_id: str | None = None,
    ) -> c.RefundState:
        async with self._sessions.begin() as session:
            refund = await _refund_by_key(session, key)
            if provider_refund_id:
                refund.provider_refund_id = provider_refund_id
            if refund.status not in _FINAL:
                _record_status(refund, status, source, reason)
            return _state(refund)


async def _succeeded_total(session: AsyncSession, which: ColumnElement[bool]) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(which, Refund.status == "succeeded")
    )
    return int(total or 0)


async def _book_on_order(session: AsyncSession, order: Order) -> None:
    order.refunded_total = await _succeeded_total(session, Refund.order_id == order.order_id)
    in_flight = await session.scalar(
        select(func.count()).where(Refund.order_id == order.order_id, Refund.status.in_(_IN_FLIGHT))
    )
    status = after_sales_status(
        int(order.payment["paid_total"]), order.refunded_total, bool(in_flight)
    )
    order.after_sales_status = status
    if status == "refunded" and order.closed_at is None:
        order.closed_at = datetime.now(UTC)
