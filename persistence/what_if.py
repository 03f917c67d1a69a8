"""What a what-if reads of a merchant's past tickets, and where it keeps its results.

A page of tickets in the period, in opening order, with what each really went through: its
timeline, refunds, return parcel, tracking and inspection, read in one query per table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from domain.events import TicketEvent
from domain.refund_terms import RefundQuote
from domain.rules import TicketFacts
from domain.ticket_facts import opening_facts, risk_facts
from domain.tickets import RefundStatus, TicketStatus, TicketType
from domain.what_if import Comparison, Happened, WhatIfTotals
from persistence.models import (
    Inspection,
    Order,
    Refund,
    Shipment,
    Ticket,
    TimelineEntry,
    TrackingEvent,
    WhatIfResult,
    WhatIfRun,
)
from persistence.orders import to_snapshot

AUTOMATIC_APPROVALS = (
    TicketEvent.approved_by_rule,
    TicketEvent.approved_by_merchant_rule,
    TicketEvent.approved_automatically,
)
SCANS = ("picked_up", "in_transit")


def _in_period(merchant_id: str, start: datetime, end: datetime) -> list[Any]:
    return [Ticket.merchant_id == merchant_id, Ticket.created_at >= start, Ticket.created_at < end]


async def count_tickets(
    session: AsyncSession, merchant_id: str, start: datetime, end: datetime
) -> int:
    found = await session.scalar(
        select(func.count()).select_from(Ticket).where(*_in_period(merchant_id, start, end))
    )
    return int(found or 0)


async def period_page(
    session: AsyncSession,
    merchant_id: str,
    start: datetime,
    end: datetime,
    offset: int,
    limit: int,
) -> list[Ticket]:
    """The tickets at `offset` of the period, in opening order: the merchant's list index
    (merchant_id, created_at, ticket_no) reads them in order."""
    rows = await session.scalars(
        select(Ticket)
        .where(*_in_period(merchant_id, start, end))
        .order_by(Ticket.created_at, Ticket.ticket_no)
        .offset(offset)
        .limit(limit)
        .options(raiseload(Ticket.lines))
    )
    return list(rows)


def _succeeded_at(refund: Refund) -> datetime | None:
    for entry in reversed(refund.status_history):
        if entry.get("status") == RefundStatus.succeeded:
            return datetime.fromisoformat(entry["at"])
    return None


def _rebuilt(ticket: Ticket, order: Order | None) -> dict[str, Any] | None:
    """The opening facts of a ticket that opened before tickets kept theirs, from its row and
    its order as stored now (a later change of the order shows); None if its quote is gone."""
    if order is None or not ticket.breakdown:
        return None
    try:
        quote = RefundQuote.model_validate(ticket.breakdown)
        facts = opening_facts(
            to_snapshot(order),
            quote,
            ticket_type=ticket.type,
            reason_code=ticket.reason_code,
            line_reasons={},
            requested_amount=ticket.requested_amount,
            channel=ticket.channel,
            opened_by=ticket.created_by_role,
            evidence_count=len(ticket.evidence),
            opened_at=ticket.created_at,
        )
    except (ValidationError, KeyError):
        return None
    return facts.model_dump(mode="json")


def _facts(
    ticket: Ticket, entries: list[TimelineEntry], order: Order | None
) -> tuple[TicketFacts | None, bool]:
    """The facts the ticket's rules read, and whether they had to be rebuilt: recorded whole by
    its rule decision, else its opening facts with the buyer's risk of its review step."""
    for entry in entries:
        if entry.event == TicketEvent.rule_decided and entry.data.get("facts"):
            return TicketFacts.model_validate(entry.data["facts"]), False
    opening = ticket.facts or _rebuilt(ticket, order)
    if opening is None:
        return None, False
    risk: dict[str, Any] = next(
        (
            e.data["risk"]
            for e in entries
            if e.event == TicketEvent.submitted_for_review and e.data.get("risk")
        ),
        {"level": ticket.risk_level or "low", "reasons": list(ticket.risk_reasons)},
    )
    facts = TicketFacts.model_validate(opening).model_copy(update=risk_facts(risk))
    return facts, ticket.facts is None


async def what_happened(
    session: AsyncSession, tickets: Sequence[Ticket]
) -> list[tuple[Ticket, TicketFacts | None, bool, Happened]]:
    """Each ticket with its facts (and whether they were rebuilt) and what happened to it."""
    numbers = [ticket.ticket_no for ticket in tickets]
    without_facts = {ticket.order_id for ticket in tickets if ticket.facts is None}
    orders = (
        {
            order.order_id: order
            for order in await session.scalars(
                select(Order).where(Order.order_id.in_(without_facts))
            )
        }
        if without_facts
        else {}
    )
    timeline: dict[str, list[TimelineEntry]] = defaultdict(list)
    for entry in await session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.ticket_no.in_(numbers))
        .order_by(TimelineEntry.seq)
    ):
        timeline[entry.ticket_no].append(entry)
    refunds: dict[str, list[Refund]] = defaultdict(list)
    for refund in await session.scalars(select(Refund).where(Refund.ticket_no.in_(numbers))):
        refunds[refund.ticket_no].append(refund)
    parcels = {
        parcel.ticket_no: parcel
        for parcel in await session.scalars(
            select(Shipment).where(Shipment.ticket_no.in_(numbers), Shipment.direction == "return")
        )
    }
    scans: dict[tuple[str, str], datetime] = {}
    for ticket_no, tracking_no, first in await session.execute(
        select(
            TrackingEvent.ticket_no, TrackingEvent.tracking_no, func.min(TrackingEvent.occurred_at)
        )
        .where(TrackingEvent.ticket_no.in_(numbers), TrackingEvent.status.in_(SCANS))
        .group_by(TrackingEvent.ticket_no, TrackingEvent.tracking_no)
    ):
        scans[(str(ticket_no), tracking_no)] = first
    inspected = {
        row.ticket_no: row.at
        for row in await session.scalars(
            select(Inspection).where(Inspection.ticket_no.in_(numbers))
        )
    }
    read = []
    for ticket in tickets:
        entries = timeline[ticket.ticket_no]
        paid = [r for r in refunds[ticket.ticket_no] if r.status == RefundStatus.succeeded]
        parcel = parcels.get(ticket.ticket_no)
        decided = next(
            (e.data.get("rules") for e in entries if e.event == TicketEvent.rule_decided), None
        )
        decision = (decided or {}).get("decision") or {}
        refunded = sum(r.amount for r in paid)
        paid_at = [moment for r in paid if (moment := _succeeded_at(r)) is not None]
        happened = Happened(
            ticket_no=ticket.ticket_no,
            type=ticket.type,
            status=ticket.status,
            destination=ticket.destination,
            opened_at=ticket.created_at,
            rule_id=decision.get("rule_id"),
            auto_approved=any(e.event in AUTOMATIC_APPROVALS for e in entries),
            reviewed=any(e.to_status == TicketStatus.awaiting_merchant_review for e in entries),
            kept_item=bool(
                decision.get("outcome", {}).get("keep_item")
                and ticket.type == TicketType.return_refund
                and refunded
                and parcel is None
            ),
            refunded=refunded,
            bonus=sum(r.bonus_amount for r in paid),
            refunded_at=min(paid_at) if paid_at else None,
            first_scan_at=scans.get((ticket.ticket_no, parcel.tracking_no)) if parcel else None,
            delivered_at=parcel.delivered_at if parcel else None,
            inspected_at=inspected.get(ticket.ticket_no),
        )
        facts, rebuilt = _facts(ticket, entries, orders.get(ticket.order_id))
        read.append((ticket, facts, rebuilt, happened))
    return read


async def store_results(
    session: AsyncSession, run_id: str, offset: int, comparisons: Sequence[Comparison]
) -> None:
    """A page's results, under their place in the period: a retried page writes them again."""
    if not comparisons:
        return
    rows = [
        {
            "run_id": run_id,
            "position": offset + index,
            "ticket_no": comparison.ticket_no,
            "changed": comparison.changed,
            "comparison": comparison.model_dump(mode="json"),
        }
        for index, comparison in enumerate(comparisons)
    ]
    statement = insert(WhatIfResult).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[WhatIfResult.run_id, WhatIfResult.position],
            set_={
                "ticket_no": statement.excluded.ticket_no,
                "changed": statement.excluded.changed,
                "comparison": statement.excluded.comparison,
            },
        )
    )


async def record_progress(
    session: AsyncSession,
    run_id: str,
    *,
    done: int,
    totals: WhatIfTotals,
    total: int | None = None,
    finished_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"done": done, "totals": totals.model_dump(mode="json")}
    if total is not None:
        values["total"] = total
    if finished_at is not None:
        values["finished_at"] = finished_at
        values["status"] = "completed"
    await session.execute(update(WhatIfRun).where(WhatIfRun.run_id == run_id).values(values))


async def results_page(
    session: AsyncSession, run_id: str, after: int, limit: int, *, changed_only: bool = False
) -> list[WhatIfResult]:
    query = select(WhatIfResult).where(WhatIfResult.run_id == run_id, WhatIfResult.position > after)
    if changed_only:
        query = query.where(WhatIfResult.changed)
    rows = await session.scalars(query.order_by(WhatIfResult.position).limit(limit))
    return list(rows)
