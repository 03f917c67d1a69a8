"""How often each order line has been applied for (SPEC §2 limit on re-applications)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import TicketLine


async def applications_per_line(session: AsyncSession, order_id: str) -> dict[str, int]:
    """line_id -> the number of tickets that ever included it, whatever their status."""
    rows = await session.execute(
        select(TicketLine.line_id, func.count())
        .where(TicketLine.order_id == order_id)
        .group_by(TicketLine.line_id)
    )
    return {line_id: int(count) for line_id, count in rows.all()}
