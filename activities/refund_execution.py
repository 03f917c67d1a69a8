"""Moving the granted money to its destination, and asking where it stands.

Every attempt sends the refund's stored idempotency key, so a retry after a crash (the provider
accepted, the worker died before recording it) asks for the same refund instead of a second one.
The ledger destinations (balance, coupon) write their entry under that same key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningUpdate
from temporalio import activity

import contracts as c
from activities.heartbeats import heartbeating
from activities.refund_records import (
    STATE_COLUMNS,
    no_refund,
    record_status,
    refund_by_key,
    refund_state,
    status_change,
)
from activities.refunds import since_grant
from adapters.payments.port import PaymentGateway, ProviderRefund, RefundCommand, RefundRefused
from adapters.payouts.port import PayoutCommand, PayoutGateway
from domain.bank_accounts import BankAccount
from domain.tickets import FINAL_REFUND_STATUSES, Destination, RefundStatus
from observability import metrics
from persistence import ledger
from persistence.models import Order, Refund, Ticket
from persistence.tables import REFUNDS, new_values

# Provider names of the destinations our own ledger pays out.
LEDGER_PROVIDERS = {Destination.balance: "balance", Destination.coupon: "coupon"}


class _Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class RefundExecutionActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        gateways: Mapping[str, PaymentGateway],
        payouts: PayoutGateway | None,
        coupon_validity: timedelta,
    ) -> None:
        self._sessions = sessions
        self._gateways = gateways
        self._payouts = payouts
        self._coupon_validity = coupon_validity

    @activity.defn(name=c.EXECUTE_REFUND)
    async def execute_refund(self, execution: c.RefundExecution) -> c.RefundState:
        """Send the refund under its stored key; a retry asks for the same refund."""
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(Refund, Order.payment)
                    .join(Order, Order.order_id == Refund.order_id)
                    .where(Refund.idempotency_key == execution.idempotency_key)
                )
            ).one_or_none()
        if found is None:
            raise no_refund(execution.idempotency_key)
        refund, payment = found
        if refund.status in FINAL_REFUND_STATUSES:
            return refund_state(refund)
        if refund.destination in LEDGER_PROVIDERS:
            return await self._to_ledger(refund.idempotency_key)
        try:
            async with heartbeating():
                if refund.destination == Destination.bank_transfer:
                    accepted = await self._payout(refund)
                else:
                    accepted = await self._provider_refund(refund, payment)
        except _Refused as refused:
            return await self._store(
                refund, RefundStatus.failed, refused.reason, failure_code=refused.code
            )
        return await self._store(
            refund,
            accepted.status,
            accepted.failure_reason,
            provider_refund_id=accepted.provider_refund_id,
        )

    @activity.defn(name=c.CHECK_REFUND)
    async def check_refund(self, execution: c.RefundExecution) -> c.RefundState:
        """Polling fallback for when the provider's webhook does not arrive."""
        async with self._sessions() as session:
            refund = await refund_by_key(session, execution.idempotency_key)
        if refund.status in FINAL_REFUND_STATUSES or refund.provider_refund_id is None:
            return refund_state(refund)
        async with heartbeating():
            if refund.destination == Destination.bank_transfer and self._payouts is not None:
                seen = await self._payouts.get_payout(refund.provider_refund_id)
            elif (gateway := self._gateways.get(refund.provider or "")) is not None:
                seen = await gateway.get_refund(refund.provider_refund_id)
            else:
                return refund_state(refund)
        return await self._store(refund, seen.status, seen.failure_reason, source="poll")

    async def _provider_refund(self, refund: Refund, payment: dict[str, Any]) -> ProviderRefund:
        gateway = self._gateways.get(payment["provider"])
        if gateway is None:
            raise _Refused(
                "no_gateway", f"no payment gateway is configured for {payment['provider']}"
            )
        paid_at = payment.get("paid_at")
        command = RefundCommand(
            idempotency_key=refund.idempotency_key,
            payment_reference=payment["reference"],
            payment_method=payment["method"],
            amount=refund.amount,
            currency=refund.currency,
            reason=f"after-sales ticket {refund.ticket_no}",
            metadata={"ticket_no": refund.ticket_no, "order_id": refund.order_id},
            payment_created_at=datetime.fromisoformat(paid_at) if paid_at else None,
        )
        try:
            return await gateway.create_refund(command)
        except RefundRefused as refused:
            raise _Refused(refused.code, str(refused)) from refused

    async def _payout(self, refund: Refund) -> ProviderRefund:
        if self._payouts is None:
            raise _Refused("no_gateway", "no bank payout gateway is configured")
        try:
            account = BankAccount.model_validate(refund.destination_details or {})
        except ValidationError as invalid:
            raise _Refused("invalid_account", f"invalid_account: {invalid}") from invalid
        command = PayoutCommand(
            idempotency_key=refund.idempotency_key,
            amount=refund.amount,
            currency=refund.currency,
            account=account,
            reference=refund.order_id,
            metadata={"ticket_no": refund.ticket_no, "order_id": refund.order_id},
        )
        try:
            return await self._payouts.create_payout(command)
        except RefundRefused as refused:
            raise _Refused(refused.code, str(refused)) from refused

    async def _to_ledger(self, key: str) -> c.RefundState:
        """Credit the balance or issue the coupon, and mark the refund paid, in one transaction."""
        async with self._sessions.begin() as session:
            refund = await refund_by_key(session, key, lock=True)
            ticket = await session.get(Ticket, refund.ticket_no)
            assert ticket is not None
            paid_now = refund.status not in FINAL_REFUND_STATUSES
            if paid_now:
                if refund.destination == Destination.coupon:
                    expires_at = datetime.now(UTC) + self._coupon_validity
                    coupon = await ledger.issue_coupon(
                        session, refund, ticket.buyer_id, ticket.merchant_id, expires_at
                    )
                    refund.provider_refund_id = coupon.code
                else:
                    entry = await ledger.credit_refund(session, refund, ticket.buyer_id)
                    refund.provider_refund_id = f"bal_{entry.entry_id}"
                record_status(refund, RefundStatus.succeeded, "execute")
            state = refund_state(refund)
        if paid_now:
            # Counted once committed; a retry finds the refund paid and counts nothing.
            metrics.refund_reached(
                RefundStatus.succeeded, refund.destination, since_grant(refund.status_history)
            )
        return state

    async def _store(
        self,
        seen: Refund,
        status: RefundStatus,
        reason: str | None,
        *,
        source: str = "execute",
        provider_refund_id: str | None = None,
        failure_code: str | None = None,
    ) -> c.RefundState:
        """Record the provider's answer on the refund `seen` before the call: in one statement
        while the row is still as seen (nothing else writes it during the call, as a rule),
        else on the row as it is now."""
        state, history = await self._stored(
            seen, status, reason, source, provider_refund_id, failure_code
        )
        if history is not None:
            # The status this call wrote, counted once committed.
            final = status in FINAL_REFUND_STATUSES
            metrics.refund_reached(
                status, seen.destination, since_grant(history) if final else None
            )
        return state

    async def _stored(
        self,
        seen: Refund,
        status: RefundStatus,
        reason: str | None,
        source: str,
        provider_refund_id: str | None,
        failure_code: str | None,
    ) -> tuple[c.RefundState, list[Any] | None]:
        """The refund's state, and its history when this call changed its status to `status`."""
        key = seen.idempotency_key
        async with self._sessions.begin() as session:
            if seen.status not in FINAL_REFUND_STATUSES:
                changed = (
                    status_change(seen.status, seen.status_history, status, source, reason) or {}
                )
                if provider_refund_id:
                    changed["provider_refund_id"] = provider_refund_id
                if changed:
                    stored = (
                        await session.execute(
                            _change_as_seen(tuple(sorted(changed))),
                            {f"new_{column}": value for column, value in changed.items()}
                            | {
                                "key": key,
                                "seen_status": seen.status,
                                "seen_length": len(seen.status_history),
                            },
                        )
                    ).one_or_none()
                    if stored is not None:
                        wrote = "status" in changed
                        written = changed.get("status_history") if wrote else None
                        return refund_state(stored, failure_code), written
            refund = await refund_by_key(session, key)
            if provider_refund_id:
                refund.provider_refund_id = provider_refund_id
            written = None
            if refund.status not in FINAL_REFUND_STATUSES and refund.status != status:
                record_status(refund, status, source, reason)
                written = refund.status_history
            return refund_state(refund, failure_code), written


@cache
def _change_as_seen(columns: tuple[str, ...]) -> ReturningUpdate[*tuple[Any, ...]]:
    """The refund's change of `columns` (each bound as `new_<column>`) if it is still as seen:
    its status `seen_status` and its history `seen_length` entries long (the history only
    grows: the same length is the same history)."""
    refunds = REFUNDS.c
    return (
        update(REFUNDS)
        .where(
            refunds.idempotency_key == bindparam("key"),
            refunds.status == bindparam("seen_status"),
            func.jsonb_array_length(refunds.status_history) == bindparam("seen_length"),
        )
        .values(new_values(REFUNDS, columns))
        .returning(*STATE_COLUMNS)
    )
