"""The provider's API: refunds and payouts, plus the control endpoints tests and demos use to make
it fail."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from sandbox.payment_provider import payouts, refunds, rules
from sandbox.payment_provider.errors import ProviderError
from sandbox.payment_provider.runtime import ProviderRuntime
from sandbox.payment_provider.schemas import (
    CreatePayoutRequest,
    CreateRefundRequest,
    PayoutObject,
    RefundList,
    RefundObject,
    RuleObject,
    RuleRequest,
)


def _runtime(request: Request) -> ProviderRuntime:
    runtime: ProviderRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ProviderRuntime, Depends(_runtime)]


def _authenticate(
    runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    expected = runtime.config.api_key.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise ProviderError(
            401, "unauthorized", "a valid API key is required", {"WWW-Authenticate": "Bearer"}
        )


router = APIRouter(prefix="/v1", dependencies=[Depends(_authenticate)])


def _require_key(idempotency_key: str | None) -> str:
    if not idempotency_key:
        raise ProviderError(400, "idempotency_key_missing", "send an Idempotency-Key header")
    return idempotency_key


def _unless_outage(runtime: ProviderRuntime, reference: str) -> None:
    """Answer 503 when an `http_503` rule matches the payment or payout reference."""
    with runtime.db.transaction() as conn:
        outage = rules.take(conn, ("http_503",), reference)
    if outage is not None:
        message = outage.reason or "the provider is temporarily unavailable"
        raise ProviderError(503, "service_unavailable", message, {"Retry-After": "1"})


def _key_reused() -> ProviderError:
    message = "this Idempotency-Key was used with another request"
    return ProviderError(409, "idempotency_key_reused", message)


@router.post("/refunds", status_code=201, response_model=RefundObject)
async def create_refund(
    body: CreateRefundRequest,
    response: Response,
    runtime: RuntimeDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> RefundObject:
    key = _require_key(idempotency_key)
    _unless_outage(runtime, body.payment_reference)
    config = runtime.config
    try:
        refund, created = refunds.create(
            runtime.db,
            key,
            body,
            now=runtime.now(),
            settle_delay=config.settle_delay(body.payment_method),
            window_days=config.refund_window_days,
        )
    except refunds.IdempotencyKeyReused:
        raise _key_reused() from None
    except refunds.PaymentTooOld:
        message = f"payments older than {config.refund_window_days} days cannot be refunded"
        raise ProviderError(422, "payment_too_old", message) from None
    if created:
        runtime.settle_wake.set()
    else:
        response.status_code = 200
    return refund


@router.get("/refunds/{refund_id}", response_model=RefundObject)
async def get_refund(refund_id: str, runtime: RuntimeDep) -> RefundObject:
    refund = refunds.get(runtime.db, refund_id)
    if refund is None:
        raise ProviderError(404, "refund_not_found", f"no refund {refund_id}")
    return refund


@router.get("/refunds", response_model=RefundList)
async def list_refunds(payment_reference: str, runtime: RuntimeDep) -> RefundList:
    return RefundList(data=refunds.list_for_payment(runtime.db, payment_reference))


@router.post("/payouts", status_code=201, response_model=PayoutObject)
async def create_payout(
    body: CreatePayoutRequest,
    response: Response,
    runtime: RuntimeDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> PayoutObject:
    key = _require_key(idempotency_key)
    _unless_outage(runtime, body.reference)
    try:
        payout, created = payouts.create(
            runtime.db,
            key,
            body,
            now=runtime.now(),
            settle_delay=runtime.config.payout_settle_delay,
        )
    except payouts.InvalidAccount as exc:
        raise ProviderError(422, "invalid_account", str(exc)) from None
    except payouts.IdempotencyKeyReused:
        raise _key_reused() from None
    if created:
        runtime.settle_wake.set()
    else:
        response.status_code = 200
    return payout


@router.get("/payouts/{payout_id}", response_model=PayoutObject)
async def get_payout(payout_id: str, runtime: RuntimeDep) -> PayoutObject:
    payout = payouts.get(runtime.db, payout_id)
    if payout is None:
        raise ProviderError(404, "payout_not_found", f"no payout {payout_id}")
    return payout


@router.post("/control/rules", status_code=201, response_model=RuleObject)
async def add_rule(body: RuleRequest, runtime: RuntimeDep) -> RuleObject:
    with runtime.db.transaction() as conn:
        return rules.add(conn, body)


@router.get("/control/rules", response_model=list[RuleObject])
async def list_rules(runtime: RuntimeDep) -> list[RuleObject]:
    with runtime.db.reading() as conn:
        return rules.list_all(conn)


@router.delete("/control/rules", status_code=204)
async def clear_rules(runtime: RuntimeDep) -> None:
    with runtime.db.transaction() as conn:
        rules.clear(conn)


@router.post("/control/refunds/{refund_id}/settle", response_model=RefundObject)
async def settle_refund(refund_id: str, runtime: RuntimeDep) -> RefundObject:
    refund = refunds.settle(runtime.db, refund_id, runtime.now(), runtime.config.reverse_delay)
    if refund is None:
        raise ProviderError(404, "refund_not_found", f"no refund {refund_id}")
    runtime.settle_wake.set()
    runtime.deliver_wake.set()
    return refund


@router.post("/control/payouts/{payout_id}/settle", response_model=PayoutObject)
async def settle_payout(payout_id: str, runtime: RuntimeDep) -> PayoutObject:
    payout = payouts.settle(runtime.db, payout_id, runtime.now(), runtime.config.reverse_delay)
    if payout is None:
        raise ProviderError(404, "payout_not_found", f"no payout {payout_id}")
    runtime.settle_wake.set()
    runtime.deliver_wake.set()
    return payout
