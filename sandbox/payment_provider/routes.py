"""The provider's API: refunds and payouts, plus the control endpoints tests and demos use to make
it fail."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Request, Response

from sandbox.payment_provider import payouts, refunds, rules
from sandbox.payment_provider.errors import ProviderError
from sandbox.payment_provider.runtime import ProviderRuntime
from sandbox.payment_provider.schemas import (
    REQUEST_OUTCOMES,
    CreatePayoutRequest,
    CreateRefundRequest,
    PayoutObject,
    RefundList,
    RefundObject,
    RuleObject,
    RuleRequest,
)

Movement = TypeVar("Movement", RefundObject, PayoutObject)


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


def _request_rule(runtime: ProviderRuntime, reference: str) -> RuleObject | None:
    """The rule, if any, that decides how this creation request is answered (and uses it once)."""
    with runtime.db.transaction() as conn:
        return rules.take(conn, REQUEST_OUTCOMES, reference)


async def _answered(
    runtime: ProviderRuntime, reference: str, act: Callable[[], tuple[Movement, bool]]
) -> tuple[Movement, bool]:
    """`act()` (make the refund or payout: it and whether this call created it), answered as the
    rule matching `reference` says:

    - `http_503`: 503 `service_unavailable` with Retry-After, nothing made;
    - `http_500`: 500 `internal_error`, the movement made first or not (`acts`);
    - `slow`: the answer comes after `delay` seconds, the movement made as usual;
    - `timeout`: the answer is held `delay` seconds, past the caller's timeout, and the movement
      made before, after the delay (a provider still working on it after the caller gave up), or
      never; an answer that finds the caller still there is the movement, or 504 when none was
      made.
    """
    rule = _request_rule(runtime, reference)
    if rule is None:
        return act()
    if rule.outcome == "http_503":
        message = rule.reason or "the provider is temporarily unavailable"
        raise ProviderError(503, "service_unavailable", message, {"Retry-After": "1"})
    if rule.outcome == "http_500":
        if rule.acts == "before":
            act()
        raise ProviderError(500, "internal_error", rule.reason or "the provider failed")
    made = act() if rule.acts == "before" else None
    await asyncio.sleep(rule.delay or 0.0)
    if made is not None:
        return made
    if rule.outcome == "slow" or rule.acts == "after_delay":
        return act()
    raise ProviderError(
        504, "gateway_timeout", rule.reason or "the provider did not answer in time"
    )


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
    config = runtime.config

    def make() -> tuple[RefundObject, bool]:
        try:
            made = refunds.create(
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
        if made[1]:
            runtime.settle_wake.set()
        return made

    refund, created = await _answered(runtime, body.payment_reference, make)
    if not created:
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

    def make() -> tuple[PayoutObject, bool]:
        try:
            made = payouts.create(
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
        if made[1]:
            runtime.settle_wake.set()
        return made

    payout, created = await _answered(runtime, body.reference, make)
    if not created:
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
