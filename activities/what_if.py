"""A what-if's reading and writing: each page of past tickets re-decided under the proposed
rules (pure domain code) and stored next to what happened. Nothing about the tickets changes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from contracts import what_if as w
from domain.what_if import WhatIfTotals, compare
from persistence.what_if import (
    count_tickets,
    period_page,
    record_progress,
    store_results,
    what_happened,
)


class WhatIfActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=w.COUNT_WHAT_IF)
    async def count_what_if(self, request: w.WhatIfRequest) -> int:
        async with self._sessions.begin() as session:
            total = await count_tickets(
                session, request.merchant_id, request.period_from, request.period_to
            )
            await record_progress(
                session, request.run_id, done=0, totals=WhatIfTotals(), total=total
            )
        return total

    @activity.defn(name=w.RE_DECIDE_PAGE)
    async def re_decide_page(self, page: w.WhatIfPage) -> w.WhatIfPageDone:
        """Idempotent: a retried page writes the same results under the same positions, and
        the progress it stores is the workflow's totals before it plus its own."""
        request = page.request
        totals = WhatIfTotals()
        async with self._sessions.begin() as session:
            tickets = await period_page(
                session,
                request.merchant_id,
                request.period_from,
                request.period_to,
                page.offset,
                request.page_size,
            )
            comparisons = []
            for ticket, facts, rebuilt, happened in await what_happened(session, tickets):
                threshold = int(ticket.policy["second_approval_threshold"])
                comparison = compare(request.rules, facts, threshold, happened)
                if rebuilt:
                    comparison.words = (
                        "facts rebuilt from the ticket and its order as stored now (it opened "
                        "before tickets kept their facts); " + comparison.words
                    )
                comparisons.append(comparison)
                totals.predicted.add(comparison.predicted, ticket.currency)
                totals.happened.add(comparison.happened, ticket.currency)
                totals.changed += comparison.changed
                totals.not_re_decided += not comparison.re_decided
            await store_results(session, request.run_id, page.offset, comparisons)
            await record_progress(
                session,
                request.run_id,
                done=page.offset + len(tickets),
                totals=page.totals.merged(totals),
            )
        return w.WhatIfPageDone(tickets=len(tickets), totals=totals)

    @activity.defn(name=w.FINISH_WHAT_IF)
    async def finish_what_if(self, progress: w.WhatIfProgress) -> None:
        async with self._sessions.begin() as session:
            await record_progress(
                session,
                progress.run_id,
                done=progress.done,
                totals=progress.totals,
                finished_at=datetime.now(UTC),
            )
