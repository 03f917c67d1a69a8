"""`tickets export`: every ticket a filter selects, as CSV, streamed from a server-side cursor
so that a million tickets never sit in memory at once."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersales_cli.formatting import iso
from aftersales_cli.ticket_filters import TicketFilters
from persistence.models import Ticket

# Amounts in minor units beside their currency; times in ISO 8601, UTC.
COLUMNS = (
    Ticket.ticket_no,
    Ticket.order_id,
    Ticket.buyer_id,
    Ticket.merchant_id,
    Ticket.warehouse_id,
    Ticket.type,
    Ticket.status,
    Ticket.reason_code,
    Ticket.destination,
    Ticket.currency,
    Ticket.quoted_amount,
    Ticket.requested_amount,
    Ticket.granted_amount,
    Ticket.refunded_amount,
    Ticket.service_fee,
    Ticket.escalated,
    Ticket.risk_level,
    Ticket.next_actor,
    Ticket.deadline_at,
    Ticket.version,
    Ticket.created_at,
    Ticket.updated_at,
    Ticket.closed_at,
)
HEADER = [column.key for column in COLUMNS]
# Rows fetched from the cursor at a time.
BATCH = 1000


async def export(
    session: AsyncSession, filters: TicketFilters, path: Path, progress: Callable[[int], None]
) -> int:
    """Write the selected tickets, oldest first, to `path`; returns how many were written."""
    query = (
        filters.query()
        .with_only_columns(*COLUMNS)
        .order_by(Ticket.created_at, Ticket.ticket_no)
        .execution_options(yield_per=BATCH)
    )
    written = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        result = await session.stream(query)
        async for batch in result.partitions():
            writer.writerows([_cell(value) for value in row] for row in batch)
            written += len(batch)
            progress(len(batch))
    return written


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value
