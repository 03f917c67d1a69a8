"""The simulation's tickets as PostgreSQL holds them: row, timeline, refunds, orders' totals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import contracts as c
from domain.tickets import TERMINAL_STATUSES
from persistence.models import BalanceEntry, Coupon, Order, Refund, Ticket, TimelineEntry


@dataclass(frozen=True)
class Entry:
    seq: int
    actor_role: str
    actor_id: str | None
    event: str


@dataclass(frozen=True)
class Row:
    ticket_no: str
    order_id: str
    warehouse_id: str | None
    status: str
    version: int
    next_actor: str | None
    deadline_at: datetime | None
    on_timeout: str | None
    refunded_amount: int
    entries: tuple[Entry, ...]

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    @property
    def seq(self) -> int:
        return self.entries[-1].seq if self.entries else 0

    def snapshot(self) -> c.TicketSnapshot:
        """What the consistency check compares with the workflow's `state`."""
        return c.TicketSnapshot(
            status=self.status,
            version=self.version,
            seq=self.seq,
            next_actor=self.next_actor,
            deadline_at=self.deadline_at,
            on_timeout=self.on_timeout,
        )

    def entries_after(self, seq: int) -> list[Entry]:
        return [entry for entry in self.entries if entry.seq > seq]


async def read_rows(
    sessions: async_sessionmaker[AsyncSession], ticket_nos: Collection[str]
) -> dict[str, Row]:
    async with sessions() as session:
        tickets = (
            await session.scalars(select(Ticket).where(Ticket.ticket_no.in_(ticket_nos)))
        ).all()
        timeline = (
            await session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.ticket_no.in_(ticket_nos))
                .order_by(TimelineEntry.ticket_no, TimelineEntry.seq)
            )
        ).all()
    entries: dict[str, list[Entry]] = defaultdict(list)
    for e in timeline:
        entries[e.ticket_no].append(Entry(e.seq, e.actor_role, e.actor_id, e.event))
    return {
        t.ticket_no: Row(
            ticket_no=t.ticket_no,
            order_id=t.order_id,
            warehouse_id=t.warehouse_id,
            status=t.status,
            version=t.version,
            next_actor=t.next_actor,
            deadline_at=t.deadline_at,
            on_timeout=t.on_timeout,
            refunded_amount=t.refunded_amount,
            entries=tuple(entries[t.ticket_no]),
        )
        for t in tickets
    }


@dataclass(frozen=True)
class Ledger:
    """The refunds of some orders, the orders' booked totals, balance credits and coupons."""

    refunds: list[Refund]
    refunded_totals: dict[str, int]
    credits: dict[str, list[BalanceEntry]]  # by idempotency key
    coupons: dict[int, list[Coupon]]  # by refund id


async def read_ledger(
    sessions: async_sessionmaker[AsyncSession], order_ids: Collection[str]
) -> Ledger:
    async with sessions() as session:
        refunds = list(
            (await session.scalars(select(Refund).where(Refund.order_id.in_(order_ids)))).all()
        )
        orders = (
            await session.execute(
                select(Order.order_id, Order.refunded_total).where(Order.order_id.in_(order_ids))
            )
        ).all()
        keys = [refund.idempotency_key for refund in refunds]
        credits = (
            await session.scalars(
                select(BalanceEntry).where(BalanceEntry.idempotency_key.in_(keys))
            )
        ).all()
        ids = [refund.refund_id for refund in refunds]
        coupons = (await session.scalars(select(Coupon).where(Coupon.refund_id.in_(ids)))).all()
    by_key: dict[str, list[BalanceEntry]] = defaultdict(list)
    for credit in credits:
        by_key[credit.idempotency_key].append(credit)
    by_refund: dict[int, list[Coupon]] = defaultdict(list)
    for coupon in coupons:
        by_refund[coupon.refund_id].append(coupon)
    return Ledger(
        refunds=refunds,
        refunded_totals={order.order_id: order.refunded_total for order in orders},
        credits=by_key,
        coupons=by_refund,
    )
