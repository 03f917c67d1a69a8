"""A warehouse inbound scan: find the parcel's ticket, say what to do, check the parcel in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import faults
from api.problems import Problem
from api.schemas.scans import ScanAnswer, ScanLine, ScanOutcome, ScanTicket
from contracts import TrackingSignal
from domain.tickets import TicketStatus
from persistence import scans as repo
from persistence.models import Ticket
from workflows.ticket import TicketWorkflow

log = logging.getLogger("aftersales.warehouse")

S = TicketStatus
# The parcel is expected: the workflow takes an inspection in these states.
_TO_INSPECT = frozenset({S.return_in_transit, S.awaiting_inspection})
# The ticket will never take the goods: they go back where they came from.
_TO_SENDER = frozenset({S.cancelled, S.closed, S.rejected})


def outcome_for(status: TicketStatus, inspected: bool) -> ScanOutcome:
    if status in _TO_SENDER:
        return ScanOutcome.return_to_sender
    if status in _TO_INSPECT and not inspected:
        return ScanOutcome.inspect
    # Inspected, accepted at the check-in deadline, or otherwise past the inspection.
    return ScanOutcome.already_received


def _message(outcome: ScanOutcome, ticket: Ticket, inspected: bool, checked_in: bool) -> str:
    no, status = ticket.ticket_no, ticket.status
    match outcome:
        case ScanOutcome.inspect:
            arrived = " (checked in now)" if checked_in else ""
            return f"inspect for ticket {no}{arrived}"
        case ScanOutcome.return_to_sender:
            return f"ticket {no} is {status}: return to sender"
        case _ if inspected:
            return f"already received: ticket {no} has been inspected ({status}); do not inspect"
        case _:
            return (
                f"already received: ticket {no} is {status} and no inspection is due; "
                "set the parcel aside for support"
            )


def _pick(tickets: list[Ticket]) -> Ticket | None:
    """A courier may reuse a tracking number: the ticket still waiting for goods wins, then the
    newest (the list comes newest first and the sort is stable)."""
    ordered = sorted(tickets, key=lambda t: t.status not in _TO_INSPECT)
    return ordered[0] if ordered else None


async def _check_in(
    temporal: Client, ticket_no: str, tracking_no: str, scan_id: int, warehouse_id: str
) -> bool:
    """The scan is the parcel's arrival: the same signal a courier's `delivered` would send,
    so the check-in deadline starts. The workflow dedupes by event id and ignores it once the
    ticket has moved on."""
    signal = TrackingSignal(
        event_id=f"scan:{scan_id}",
        tracking_no=tracking_no,
        status="delivered",
        at=datetime.now(UTC),
        description=f"checked in at warehouse {warehouse_id} by scan",
    )
    try:
        await faults.signal(temporal, ticket_no, TicketWorkflow.tracking_event, signal)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            # The station scans again: a new scan id, so a new event id.
            raise Problem(503, "temporal_unavailable", error.message) from error
        log.warning("ticket %s has no running workflow for scan %s", ticket_no, scan_id)
        return False
    return True


async def scan_parcel(
    session: AsyncSession, temporal: Client, warehouse_id: str, scanned_by: str, code: str
) -> ScanAnswer:
    """Every scan is recorded with its answer; a parcel of another warehouse is unknown here."""
    now = datetime.now(UTC)
    ticket = _pick(await repo.tickets_for_code(session, warehouse_id, code))
    if ticket is None:
        scan = await repo.record_scan(
            session,
            warehouse_id=warehouse_id,
            code=code,
            ticket_no=None,
            outcome=ScanOutcome.unknown_parcel,
            scanned_by=scanned_by,
            at=now,
        )
        await session.commit()
        return ScanAnswer(
            outcome=ScanOutcome.unknown_parcel,
            message=f"unknown parcel: no return to this warehouse matches {code}; set it aside",
            checked_in=False,
            ticket=None,
            scan_id=scan.scan_id,
            scanned_at=now,
        )
    inspected = await repo.is_inspected(session, ticket.ticket_no)
    outcome = outcome_for(TicketStatus(ticket.status), inspected)
    tracking_no = await repo.return_tracking_no(session, ticket.ticket_no)
    lines = await repo.ticket_lines(session, ticket)
    scan = await repo.record_scan(
        session,
        warehouse_id=warehouse_id,
        code=code,
        ticket_no=ticket.ticket_no,
        outcome=outcome,
        scanned_by=scanned_by,
        at=now,
    )
    # Recorded before the workflow hears of it: a scan is a fact even if the signal fails.
    await session.commit()
    checked_in = False
    if ticket.status == S.return_in_transit and tracking_no is not None:
        checked_in = await _check_in(
            temporal, ticket.ticket_no, tracking_no, scan.scan_id, warehouse_id
        )
    return ScanAnswer(
        outcome=outcome,
        message=_message(outcome, ticket, inspected, checked_in),
        checked_in=checked_in,
        ticket=ScanTicket(
            ticket_no=ticket.ticket_no,
            type=ticket.type,
            status=ticket.status,
            buyer_id=ticket.buyer_id,
            merchant_id=ticket.merchant_id,
            order_id=ticket.order_id,
            tracking_no=tracking_no,
            lines=[ScanLine(**vars(line)) for line in lines],
        ),
        scan_id=scan.scan_id,
        scanned_at=now,
    )
