"""Refund decision and reconciliation (SPEC §4): the grant is recorded before any money moves,
and the final outcome is booked on the refund, the ticket and the order. Execution, the part that
moves money, is in `activities.refund_execution`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Insert, Row, Select, Update, bindparam, func, insert, literal, select
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts as c
from activities.refund_records import IN_FLIGHT, no_refund, status_change
from adapters.rates.port import Rate, RatesSource, RateUnavailable
from domain.exchanges import ExchangeTerms, quote_difference
from domain.fx import Conversion, convert
from domain.money import format_minor
from domain.orders import OrderLine, OrderSnapshot, after_sales_status
from domain.refund_terms import (
    RefundPolicy,
    RefundQuote,
    RefundRequest,
    RefundRuleError,
    RequestedLine,
)
from domain.refunds import quote_refund
from domain.rules import percent_of
from domain.tickets import FINAL_REFUND_STATUSES, Destination, RefundStatus
from observability import metrics
from persistence.models import Refund
from persistence.orders import counted_refunds, snapshot_of
from persistence.tables import ORDER_LINES, ORDERS, REFUNDS, TICKET_LINES, TICKETS, change, changed


@dataclass(frozen=True)
class GrantedLine:
    line_id: str
    quantity: int
    reason_code: str | None


@dataclass(frozen=True)
class GrantedTicket:
    """What a grant reads of its ticket (`_ticket_terms`)."""

    ticket_no: str
    order_id: str
    currency: str
    policy: dict[str, Any]
    requested_amount: int | None
    reason_code: str
    destination: str
    destination_details: dict[str, Any] | None
    exchange: dict[str, Any] | None
    breakdown: dict[str, Any] | None
    lines: tuple[GrantedLine, ...]

    @classmethod
    def of(cls, row: Row[*tuple[Any, ...]]) -> GrantedTicket:
        fields = row._asdict()
        lines = tuple(GrantedLine(**line) for line in fields.pop("lines"))
        return cls(**fields, lines=lines)


@cache
def _ticket_terms() -> Select[*tuple[Any, ...]]:
    """The ticket's `GrantedTicket` in one statement, its lines by line id."""
    tickets, lines = TICKETS.c, TICKET_LINES.c
    its_lines = (
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_object(
                            "line_id",
                            lines.line_id,
                            "quantity",
                            lines.quantity,
                            "reason_code",
                            lines.reason_code,
                        ),
                        lines.line_id,
                    )
                ),
                literal([], JSONB),
            )
        )
        .where(lines.ticket_no == tickets.ticket_no)
        .scalar_subquery()
    )
    return select(
        tickets.ticket_no,
        tickets.order_id,
        tickets.currency,
        tickets.policy,
        tickets.requested_amount,
        tickets.reason_code,
        tickets.destination,
        tickets.destination_details,
        tickets.exchange,
        tickets.breakdown,
        its_lines.label("lines"),
    ).where(tickets.ticket_no == bindparam("ticket_no"))


# What a grant reads of each of the order's refunds, by column.
_REFUND_FIELDS = (
    "ticket_no",
    "seq",
    "idempotency_key",
    "currency",
    "amount",
    "line_quantities",
    "line_amounts",
    "shipping_amount",
    "bonus_amount",
    "breakdown",
    "destination",
    "conversion",
    "status",
)
_LINE_FIELDS = ("line_id", "sku", "title", "quantity", "unit_price", "discount", "tags")


@dataclass(frozen=True)
class LockedOrder:
    """What a grant reads of its order once it holds the order's lock: its snapshot, how far
    its after-sales has come, and every refund of it (counted or not), oldest first."""

    snapshot: OrderSnapshot
    after_sales_status: str
    refunds: list[Refund]

    @classmethod
    def of(cls, order: Row[*tuple[Any, ...]], contents: Row[*tuple[Any, ...]]) -> LockedOrder:
        lines = [OrderLine(**line) for line in contents.lines]
        return cls(
            snapshot=snapshot_of(order, lines),
            after_sales_status=order.after_sales_status,
            refunds=[Refund(**refund) for refund in contents.refunds],
        )


def _rows_as_json(table: Any, fields: tuple[str, ...], order_by: Any) -> Any:
    """The rows of `table` of the order `order_id`, as one JSON array of `fields`."""
    pairs = [part for name in fields for part in (name, table.c[name])]
    return (
        select(
            func.coalesce(
                func.jsonb_agg(aggregate_order_by(func.jsonb_build_object(*pairs), order_by)),
                literal([], JSONB),
            )
        )
        .where(table.c.order_id == bindparam("order_id"))
        .scalar_subquery()
    )


@cache
def _lock_order() -> Select[*tuple[Any, ...]]:
    """The order `order_id`, locked: the lock serialises every grant on the order (SPEC §4
    caps). Its lines and refunds are read by the next statement (`_order_contents`), whose
    snapshot begins once the lock is held and so sees what the grant before it committed."""
    orders = ORDERS.c
    return (
        select(
            orders.order_id,
            orders.buyer_id,
            orders.merchant_id,
            orders.currency,
            orders.shipping_fee,
            orders.payment,
            orders.status,
            orders.shipped_at,
            orders.delivered_at,
            orders.shipping_address,
            orders.version,
            orders.after_sales_status,
        )
        .where(orders.order_id == bindparam("order_id"))
        .with_for_update()
    )


@cache
def _order_contents() -> Select[*tuple[Any, ...]]:
    """The lines and the refunds of the order `order_id`, in one statement."""
    return select(
        _rows_as_json(ORDER_LINES, _LINE_FIELDS, ORDER_LINES.c.position).label("lines"),
        _rows_as_json(REFUNDS, _REFUND_FIELDS, REFUNDS.c.refund_id).label("refunds"),
    )


@cache
def _insert_refund() -> Insert:
    return insert(REFUNDS)


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
        bonus_amount=refund.bonus_amount,
        bonus_currency=(
            (refund.conversion["to_currency"] if refund.conversion else refund.currency)
            if refund.bonus_amount
            else None
        ),
    )


def _refunded_lines(ticket: GrantedTicket, request: c.GrantRequest) -> dict[str, int]:
    """The ticket's quantities, unless the decision names others (units accepted at inspection)."""
    if request.lines is not None:
        return {line_id: qty for line_id, qty in request.lines.items() if qty > 0}
    return {line.line_id: line.quantity for line in ticket.lines}


def _bonus(
    request: c.GrantRequest,
    destination: c.RefundDestination,
    total: int,
    conversion: Conversion | None,
) -> int:
    """A rule's store-credit bonus: a share of what the balance is credited, in its currency,
    when the buyer chose the balance for the ticket (not on a fallback or support's redirect)."""
    chosen = request.destination is None and destination.kind == Destination.balance
    if not request.bonus_percent or not chosen:
        return 0
    credited = conversion.to_amount if conversion else total
    return percent_of(credited, request.bonus_percent)


def _destination(ticket: GrantedTicket, request: c.GrantRequest) -> c.RefundDestination:
    if request.destination is not None:
        return request.destination
    return c.RefundDestination(kind=ticket.destination, details=ticket.destination_details)


def _difference_quote(
    ticket: GrantedTicket,
    order: OrderSnapshot,
    refunds: list[Refund],
    request: c.GrantRequest,
    policy: RefundPolicy,
) -> RefundQuote:
    """The refund of a cheaper replacement's price difference (an exchange for another item)."""
    if ticket.exchange is None:
        raise _refused("no_price_difference", f"ticket {ticket.ticket_no} exchanges no item")
    return quote_difference(
        order,
        counted_refunds(refunds),
        ExchangeTerms.model_validate(ticket.exchange),
        request.service_fee,
        policy,
    )


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

    def _provider(self, destination: str, order: OrderSnapshot) -> str:
        if destination == Destination.original:
            return order.payment.provider
        if destination == Destination.bank_transfer:
            return self._payout_provider
        return destination  # our own ledger: `balance` or `coupon`

    async def _rate_for(self, currency: str, destination: c.RefundDestination) -> Rate | None:
        """The rate of a balance credit in another currency than the order's; None when no
        conversion is needed."""
        target = (destination.details or {}).get("currency")
        if destination.kind != Destination.balance or not target or target == currency:
            return None
        try:
            return await self._rates.rate(currency, target)
        except RateUnavailable as missing:
            raise _refused("rate_unavailable", str(missing)) from missing

    @activity.defn(name=c.GRANT_REFUND)
    async def grant_refund(self, request: c.GrantRequest) -> c.Grant:
        """Decide what we owe and record it before any money moves."""
        async with self._sessions.begin() as session:
            found = (
                await session.execute(_ticket_terms(), {"ticket_no": request.ticket_no})
            ).one_or_none()
            if found is None:
                raise ApplicationError(f"ticket {request.ticket_no} is not stored")
            ticket = GrantedTicket.of(found)
            destination = _destination(ticket, request)
            # Asked before the order is locked: no other grant waits on the rate source.
            rate = await self._rate_for(ticket.currency, destination)
            which = {"order_id": ticket.order_id}
            stored = (await session.execute(_lock_order(), which)).one_or_none()
            assert stored is not None  # a ticket's order is never deleted
            locked = LockedOrder.of(stored, (await session.execute(_order_contents(), which)).one())
            order, refunds = locked.snapshot, locked.refunds
            reasons = {line.line_id: line.reason_code for line in ticket.lines if line.reason_code}
            for existing in refunds:
                if existing.ticket_no == request.ticket_no and existing.seq == request.refund_seq:
                    return _grant(existing)
            policy = RefundPolicy(
                refund_shipping_on_merchant_fault=ticket.policy[
                    "refund_shipping_on_merchant_fault"
                ],
                second_approval_thresholds={
                    order.currency: ticket.policy["second_approval_threshold"]
                },
            )
            try:
                if request.price_difference:
                    quote = _difference_quote(ticket, order, refunds, request, policy)
                else:
                    quote = quote_refund(
                        order,
                        counted_refunds(refunds),
                        RefundRequest(
                            lines=[
                                RequestedLine(
                                    line_id=line_id,
                                    quantity=quantity,
                                    reason_code=reasons.get(line_id),
                                )
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
                        policy,
                    )
            except RefundRuleError as refused:
                raise _refused(refused.code, str(refused)) from refused
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
            if request.price_difference:
                breakdown["price_difference"] = True
            bonus = _bonus(request, destination, quote.total, conversion)
            if bonus:
                credited = conversion.to_currency if conversion else quote.currency
                breakdown["bonus_amount"] = bonus
                breakdown["notes"].append(
                    f"store credit bonus {format_minor(bonus, credited)}: "
                    f"{request.bonus_percent} % of the credit, rounded down"
                )
            refund = dict(
                ticket_no=ticket.ticket_no,
                order_id=order.order_id,
                seq=request.refund_seq,
                idempotency_key=request.idempotency_key,
                currency=quote.currency,
                amount=quote.total,
                line_quantities={line.line_id: line.quantity for line in quote.lines},
                line_amounts={line.line_id: line.amount for line in quote.lines},
                shipping_amount=quote.shipping_amount,
                bonus_amount=bonus,
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
            await session.execute(_insert_refund(), refund)
            if breakdown != ticket.breakdown:
                await session.execute(
                    change(TICKETS, "ticket_no", ("breakdown",)),
                    changed(ticket.ticket_no, {"breakdown": breakdown}),
                )
            if locked.after_sales_status != "refunding":
                await session.execute(
                    change(ORDERS, "order_id", ("after_sales_status",)),
                    changed(order.order_id, {"after_sales_status": "refunding"}),
                )
            grant = _grant(Refund(**refund))
        # A retry returns the refund it finds above: only the attempt that wrote it counts it.
        metrics.refund_reached(RefundStatus.granted, grant.destination)
        return grant

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
            booked = await book_refund(session, event, status, only_from)
            await session.execute(*set_refunded(booked.ticket_no, booked.ticket_refunded))
        if booked.reached is not None:
            metrics.refund_reached(booked.reached, booked.destination, booked.since_grant)


@dataclass(frozen=True)
class BookedRefund:
    """Whose refund was booked, and what that ticket has been refunded in all since; the status
    this booking wrote (None: the refund had it already), and for a final one how long after
    the grant."""

    ticket_no: str
    ticket_refunded: int
    destination: str = Destination.original
    reached: RefundStatus | None = None
    since_grant: timedelta | None = None


async def book_refund(
    session: AsyncSession,
    event: c.Settlement,
    status: RefundStatus,
    only_from: RefundStatus | None = None,
) -> BookedRefund:
    """Book a refund's status on the refund and the order, in at most four statements (this
    runs with the step of every refund that settles); the caller writes the ticket's refunded
    amount with its own change of the ticket."""
    refund = (
        await session.execute(_refund_and_order(), {"key": event.idempotency_key})
    ).one_or_none()
    if refund is None:
        raise no_refund(event.idempotency_key)
    status_changed = status_change(
        refund.status, refund.status_history, status, event.source, event.failure_reason
    )
    reached: RefundStatus | None = None
    if status_changed is not None and (only_from is None or refund.status == only_from):
        await session.execute(
            change(REFUNDS, "idempotency_key", tuple(sorted(status_changed))),
            changed(event.idempotency_key, status_changed),
        )
        reached = status
    ticket_total, order_total, in_flight = (
        await session.execute(
            _refunded_totals(), {"ticket_no": refund.ticket_no, "order_id": refund.order_id}
        )
    ).one()
    after_sales = after_sales_status(
        int(refund.payment["paid_total"]), int(order_total), bool(in_flight)
    )
    booked: dict[str, object] = {
        "refunded_total": int(order_total),
        "after_sales_status": after_sales,
    }
    if after_sales == "refunded":
        if refund.closed_at is None:
            booked["closed_at"] = datetime.now(UTC)
    else:
        booked["closed_at"] = None  # money came back (a reversal): the order is open again
    await session.execute(
        change(ORDERS, "order_id", tuple(sorted(booked))), changed(refund.order_id, booked)
    )
    return BookedRefund(
        ticket_no=refund.ticket_no,
        ticket_refunded=int(ticket_total),
        destination=refund.destination,
        reached=reached,
        since_grant=since_grant(refund.status_history)
        if reached in FINAL_REFUND_STATUSES
        else None,
    )


@cache
def _refund_and_order() -> Select[*tuple[Any, ...]]:
    refunds, orders = REFUNDS.c, ORDERS.c
    return (
        select(
            refunds.ticket_no,
            refunds.order_id,
            refunds.status,
            refunds.status_history,
            refunds.destination,
            orders.payment,
            orders.closed_at,
        )
        .join(ORDERS, orders.order_id == refunds.order_id)
        .where(refunds.idempotency_key == bindparam("key"))
        # Serialises everything that touches one order's money (SPEC §4 caps).
        .with_for_update(of=ORDERS)
    )


@cache
def _refunded_totals() -> Select[int, int, int]:
    """What one ticket and its whole order have been refunded, and the order's refunds still
    under way."""
    refunds = REFUNDS.c
    succeeded = refunds.status == RefundStatus.succeeded
    return select(
        func.coalesce(
            func.sum(refunds.amount).filter(succeeded, refunds.ticket_no == bindparam("ticket_no")),
            0,
        ),
        func.coalesce(func.sum(refunds.amount).filter(succeeded), 0),
        func.count().filter(refunds.status.in_(IN_FLIGHT)),
    ).where(refunds.order_id == bindparam("order_id"))


def since_grant(history: list[Any]) -> timedelta | None:
    """From the grant, the history's first entry, to now (the entry just written)."""
    granted = next(
        (entry for entry in history if entry.get("status") == RefundStatus.granted), None
    )
    if granted is None:
        return None
    return datetime.now(UTC) - datetime.fromisoformat(granted["at"])


def set_refunded(ticket_no: str, refunded: int) -> tuple[Update, dict[str, object]]:
    """The statement and parameters that write a ticket's refunded amount."""
    return change(TICKETS, "ticket_no", ("refunded_amount",)), changed(
        ticket_no, {"refunded_amount": refunded}
    )
