"""Refunds: granted, approved a second time when large, sent again after a failure.

Changes the record (through transitions) and the refund ledger; reads the inbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.events import TicketEvent
    from domain.money import format_minor
    from domain.tickets import (
        Actor,
        TicketStatus,
        describe_destination,
    )

from workflows import outcomes
from workflows.actor_inbox import ActorInbox
from workflows.refund_ledger import RefundLedger
from workflows.ticket_record import TicketRecord

SETTLEMENT_OVERDUE = "alert support, keep reconciling"
# A declined second approval of an exchange's difference refund ships the replacement without
# the difference; before, it rejected the ticket although its goods were back and accepted.
DIFFERENCE_DECLINED_RESHIPS = "difference-declined-reships"
E = TicketEvent


class RefundSteps:
    def __init__(
        self,
        ticket: c.TicketInput,
        record: TicketRecord,
        inbox: ActorInbox,
        ledger: RefundLedger,
    ) -> None:
        self._ticket = ticket
        self._policy = ticket.policy
        self._record = record
        self._inbox = inbox
        self._ledger = ledger
        # Set by the exchange's steps: given why support declined an exchange's difference
        # refund (and who), goes on with the exchange; False when there is none to go on with.
        self.difference_declined: Callable[[str, str | None], Awaitable[bool]] | None = None

    def _money(self, amount: int) -> str:
        return format_minor(amount, self._ticket.currency)

    async def pay(
        self,
        event: TicketEvent,
        reason: str,
        *,
        actor: Actor = Actor.system,
        actor_id: str | None = None,
        service_fee: int = 0,
        requested_amount: int | None = None,
        lines: dict[str, int] | None = None,
        destination: c.RefundDestination | None = None,
        price_difference: bool = False,
        close_on_refusal: bool = False,
        **extra: Any,
    ) -> None:
        """Grant the refund, then move money at once or wait for a second approver.

        `price_difference`: the refund of a cheaper replacement's difference (an exchange)."""
        try:
            grant = await self._ledger.grant_next(
                service_fee=service_fee,
                requested_amount=requested_amount,
                lines=lines,
                destination=destination,
                price_difference=price_difference or None,
            )
        except ActivityError as error:
            if not isinstance(error.cause, ApplicationError):
                raise
            if close_on_refusal:
                # The money rules refused at grant time (another ticket got there first).
                await self._record.transition(
                    E.refund_refused, TicketStatus.closed, error.cause.message, **extra
                )
            else:
                refused = f"the refund could not be granted: {error.cause.message}"
                await outcomes.to_support(
                    self._record,
                    E.refund_refused,
                    refused,
                    actor=actor,
                    actor_id=actor_id,
                    **extra,
                )
            return
        if service_fee:
            extra["service_fee"] = service_fee
        if grant.needs_second_approval:
            threshold = self._policy.second_approval_threshold
            await self._record.transition(
                event,
                TicketStatus.awaiting_second_approval,
                f"{reason}; refund of {self._money(grant.amount)} is above the second-approval "
                f"threshold of {self._money(threshold)}",
                data={"amount": grant.amount, "breakdown": grant.breakdown, "threshold": threshold},
                actor=actor,
                actor_id=actor_id,
                next_actor=Actor.support,
                granted_amount=grant.amount,
                **extra,
            )
            return
        await self._start_refund(event, [reason], actor, actor_id, **extra)

    async def _start_refund(
        self,
        event: TicketEvent,
        reasons: list[str],
        actor: Actor,
        actor_id: str | None,
        **extra: Any,
    ) -> None:
        grant = self._ledger.grant
        assert grant is not None
        await self._record.transition(
            event,
            TicketStatus.refunding,
            "; ".join(reasons + grant.notes),
            data={"amount": grant.amount, "breakdown": grant.breakdown},
            actor=actor,
            actor_id=actor_id,
            granted_amount=grant.amount,
            deadline_at=workflow.now() + self._policy.refund_settlement,
            on_timeout=SETTLEMENT_OVERDUE,
            **extra,
        )

    # --- states ----------------------------------------------------------------------------

    async def second_approval_step(self) -> None:
        grant = self._ledger.grant
        assert grant is not None
        _, decision = await self._inbox.next()
        note = [decision.note] if decision.note else []
        if decision.approve:
            approved = (
                f"support approved the refund of {self._money(grant.amount)} as second approver"
            )
            await self._start_refund(
                E.second_approval_granted, [approved, *note], Actor.support, decision.actor_id
            )
            return
        await self._ledger.void(f"second approval declined: {decision.note}")
        declined = "support declined the refund as second approver" + (
            f": {decision.note}" if decision.note else ""
        )
        exchange = self.difference_declined
        if (
            exchange is not None
            and self._ledger.terms.get("price_difference")
            and workflow.patched(DIFFERENCE_DECLINED_RESHIPS)
            and await exchange(declined, decision.actor_id)
        ):
            return
        await outcomes.reject(
            self._record,
            E.second_approval_declined,
            declined,
            Actor.support,
            decision.actor_id,
            self._policy.buyer_after_rejection,
        )

    async def refund_failed_step(self) -> None:
        _, retry = await self._inbox.next()
        ledger = self._ledger
        dropped = ledger.drop_refund()
        failed = dropped.failure_reason if dropped else None
        terms = dict(ledger.terms)
        where = ""
        if retry.destination is not None:
            terms["destination"] = c.RefundDestination(
                kind=retry.destination, details=retry.destination_details
            )
            where = f" to {describe_destination(retry.destination)}"
        await self.pay(
            E.refund_retried,
            f"support sent the refund again{where} after it failed ({failed})"
            + (f": {retry.note}" if retry.note else ""),
            actor=Actor.support,
            actor_id=retry.actor_id,
            **terms,
        )
