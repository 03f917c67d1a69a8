"""Refund decision and reconciliation (SPEC §4): the grant is recorded before any money moves,
and the final outcome is booked on the refund, the ticket and the order. Execution, the part that
moves money, is in `activities.refund_execution`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts as c
from activities.refund_records import IN_FLIGHT, record_status, refund_by_key
from adapters.rates.port import Rate, RatesSource, RateUnavailable
from domain.fx import Conversion, convert
from domain.orders import after_sales_status
from domain.refund_terms import RefundPolicy, RefundRequest, RefundRuleError, RequestedLine
from domain.refunds import quote_refund
from domain.tickets import Destination, RefundStatus
from persistence.models import Order, Refund, Ticket
from persistence.orders import get_order, prior_refunds, to_snapshot


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
        destination=refund.destination,
    )


def _refunded_lines(ticket: Ticket, request: c.GrantRequest) -> dict[str, int]:
    """The ticket's quantities, unless the decision names others (units accepted at inspection)."""
    if request.lines is not None:
        return {line_id: qty for line_id, qty in request.lines.items() if qty > 0}
    return {line.line_id: line.quantity for line in ticket.lines}


def _destination(ticket: Ticket, request: c.GrantRequest) -> c.RefundDestination:
    if request.destination is not None:
        return request.destination
    return c.RefundDestination(kind=ticket.destination, details=ticket.destination_details)


def _refused(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, code, type="RefundRuleError", non_retryable=True)


class RefundActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rates: RatesSource,
        payout_provider: str,
    ) -> None:
        self._sessions = sessions
        self._rates = rates
        self._payout_provider = payout_provider

    def _provider(self, destination: str, order: Order) -> str:
        if destination == Destination.original:
            return str(order.payment["provider"])
        if destination == Destination.bank_transfer:
            return self._payout_provider
        return destination  # our own ledger: `balance` or `coupon`

    async def _rate_for(self, ticket_no: str, request: c.GrantRequest) -> Rate | None:
        """The rate of a balance credit in another currency than the order's, fetched before
        the order is locked; None when no conversion is needed."""
        async with self._sessions() as session:
            ticket = await session.get(Ticket, ticket_no)
            if ticket is None:
                raise ApplicationError(f"ticket {ticket_no} is not stored")
            destination = _destination(ticket, request)
        target = (destination.details or {}).get("currency")
        if destination.kind != Destination.balance or not target or target == ticket.currency:
            return None
        try:
            return await self._rates.rate(ticket.currency, target)
        except RateUnavailable as missing:
            raise _refused("rate_unavailable", str(missing)) from missing

    @activity.defn(name=c.GRANT_REFUND)
    async def grant_refund(self, request: c.GrantRequest) -> c.Grant:
        """Decide what we owe and record it before any money moves."""
        rate = await self._rate_for(request.ticket_no, request)
        async with self._sessions.begin() as session:
            ticket = await session.get(Ticket, request.ticket_no)
            assert ticket is not None
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
                raise _refused(refused.code, str(refused)) from refused
            destination = _destination(ticket, request)
            conversion: Conversion | None = None
            if rate is not None:
                conversion = convert(
                    quote.total,
                    order.currency,
                    rate.quote,
                    rate.value,
                    source=rate.source,
                    as_of=rate.as_of,
                )
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
                destination=destination.kind,
                destination_details=destination.details,
                conversion=conversion.model_dump(mode="json") if conversion else None,
                provider=self._provider(destination.kind, order),
                status=RefundStatus.granted,
                status_history=[
                    {
                        "status": RefundStatus.granted,
                        "at": datetime.now(UTC).isoformat(),
                        "source": "grant",
                    }
                ],
            )
            session.add(refund)
            ticket.breakdown = breakdown
            order.after_sales_status = "refunding"
            await session.flush()
            return _grant(refund)

    @activity.defn(name=c.SETTLE_REFUND)
    async def settle_refund(self, settlement: c.Settlement) -> None:
        """Book the final outcome on the refund, the ticket and the order."""
        await self._book(settlement, settlement.status)

    @activity.defn(name=c.VOID_GRANT)
    async def void_grant(self, voiding: c.Settlement) -> None:
        """A grant that will never be paid stops counting against the order's caps."""
        await self._book(voiding, RefundStatus.voided, only_from=RefundStatus.granted)

    async def _book(
        self, event: c.Settlement, status: RefundStatus, only_from: RefundStatus | None = None
    ) -> None:
        async with self._sessions.begin() as session:
            refund = await refund_by_key(session, event.idempotency_key)
            order = await get_order(session, refund.order_id, lock=True)
            ticket = await session.get(Ticket, refund.ticket_no)
            assert order is not None and ticket is not None
            if only_from is None or refund.status == only_from:
                record_status(refund, status, event.source, event.failure_reason)
                await session.flush()
            ticket.refunded_amount = await _succeeded_total(
                session, Refund.ticket_no == ticket.ticket_no
            )
            await _book_on_order(session, order)


async def _succeeded_total(session: AsyncSession, which: ColumnElement[bool]) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            which, Refund.status == RefundStatus.succeeded
        )
    )
    return int(total or 0)


async def _book_on_order(session: AsyncSession, order: Order) -> None:
    order.refunded_total = await _succeeded_total(session, Refund.order_id == order.order_id)
    in_flight = await session.scalar(
        select(func.count()).where(Refund.order_id == order.order_id, Refund.status.in_(IN_FLIGHT))
    )
    status = after_sales_status(
        int(order.payment["paid_total"]), order.refunded_total, bool(in_flight)
    )
    order.after_sales_status = status
    if status == "refunded" and order.closed_at is None:
        order.closed_at = datetime.now(UTC)
    elif status != "refunded":
        order.closed_at = None  # money came back (a reversal): the order is open again
