"""The Stripe adapter on the official SDK against a real localstripe server, and Stripe webhooks
through the API.

localstripe does not deduplicate idempotency keys, so "exactly one refund" here is the adapter's
own doing: it finds the refund that already carries our key before it creates another.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr
from sqlalchemy import func, select
from stripe.params import RefundListParams

from adapters.payments.port import (
    PaymentProviderUnavailable,
    RefundCommand,
    RefundRefused,
)
from adapters.payments.signing import sign
from adapters.payments.stripe import SIGNATURE_HEADER, StripeGateway
from api.app import create_app
from domain.tickets import RefundStatus
from persistence.models import PaymentEventSeen
from settings import StripeSettings
from tests.support.localstripe import LocalStripe, running_localstripe
from tests.support.orders import buyer_id, line, open_ticket, order_body
from tests.support.servers import serving
from tests.support.stack import Stack

API_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_stripe_test"


@pytest.fixture(scope="module")
async def localstripe() -> AsyncIterator[LocalStripe]:
    async with running_localstripe() as server:
        yield server


@pytest.fixture
async def gateway(localstripe: LocalStripe) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(API_KEY, api_base=localstripe.url)
    yield gateway
    await gateway.aclose()


@pytest.fixture
async def shop(localstripe: LocalStripe) -> AsyncIterator[stripe.StripeClient]:
    """The shop's side of Stripe: takes the payments we later refund, and checks on them."""
    http = stripe.HTTPXClient()
    yield stripe.StripeClient(API_KEY, base_addresses={"api": localstripe.url}, http_client=http)
    await http.close_async()


async def _charge(shop: stripe.StripeClient, amount: int, currency: str = "usd") -> str:
    """A customer with a card, charged `amount`: the Charges API way of paying."""
    token = await shop.v1.tokens.create_async(
        params={
            "card": {
                "number": "4242424242424242",
                "exp_month": "12",
                "exp_year": "2034",
                "cvc": "123",
            },
        }
    )
    customer = await shop.v1.customers.create_async(
        params={"email": "buyer@shop.example", "source": token.id}
    )
    charge = await shop.v1.charges.create_async(
        params={"amount": amount, "currency": currency, "customer": customer.id}
    )
    assert charge.status == "succeeded"
    return charge.id


async def _payment_intent(shop: stripe.StripeClient, amount: int, currency: str = "usd") -> str:
    """A PaymentIntent confirmed with a card: the current way of paying."""
    method = await shop.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {
                "number": "4242424242424242",
                "exp_month": 12,
                "exp_year": 2034,
                "cvc": "123",
            },
        }
    )
    intent = await shop.v1.payment_intents.create_async(
        params={
            "amount": amount,
            "currency": currency,
            "payment_method": method.id,
            "confirm": True,
        }
    )
    assert intent.status == "succeeded"
    return intent.id


PAYMENTS = {"charge": _charge, "payment_intent": _payment_intent}


async def _refunds_at_stripe(shop: stripe.StripeClient, reference: str) -> list[dict[str, Any]]:
    params: RefundListParams = {"limit": 100}
    if reference.startswith("pi_"):
        params["payment_intent"] = reference
    else:
        params["charge"] = reference
    page = await shop.v1.refunds.list_async(params=params)
    return [refund.to_dict() async for refund in page.auto_paging_iter()]


def _command(
    reference: str, amount: int, key: str | None = None, currency: str = "USD"
) -> RefundCommand:
    return RefundCommand(
        idempotency_key=key or f"T-{uuid.uuid4().hex[:8]}:1",
        payment_reference=reference,
        payment_method="card",
        amount=amount,
        currency=currency,
        reason="after-sales ticket T-1",
        metadata={"ticket_no": "T-1", "order_id": "O-1"},
    )


@pytest.mark.parametrize("kind", PAYMENTS)
async def test_a_refund_goes_through_stripe_under_our_key(
    kind: str, gateway: StripeGateway, shop: stripe.StripeClient
) -> None:
    reference = await PAYMENTS[kind](shop, 10_000)
    command = _command(reference, 2_500)

    refund = await gateway.create_refund(command)
    again = await gateway.get_refund(refund.provider_refund_id)
    at_stripe = await _refunds_at_stripe(shop, reference)

    assert (refund.provider, refund.status, refund.amount, refund.currency) == (
        "stripe",
        RefundStatus.succeeded,
        2_500,
        "USD",
    )
    assert refund.idempotency_key == command.idempotency_key
    assert (again.provider_refund_id, again.status, again.amount) == (
        refund.provider_refund_id,
        RefundStatus.succeeded,
        2_500,
    )
    assert [(r["id"], r["amount"]) for r in at_stripe] == [(refund.provider_refund_id, 2_500)]
    assert at_stripe[0]["metadata"] == {
        "idempotency_key": command.idempotency_key,
        "ticket_no": "T-1",
        "order_id": "O-1",
        "reason": "after-sales ticket T-1",
    }


@pytest.mark.parametrize("kind", PAYMENTS)
async def test_a_retry_after_stripe_accepted_the_refund_makes_no_second_one(
    kind: str, localstripe: LocalStripe, shop: stripe.StripeClient
) -> None:
    reference = await PAYMENTS[kind](shop, 10_000)
    command = _command(reference, 4_321)
    first_worker = StripeGateway(API_KEY, api_base=localstripe.url)
    accepted = await first_worker.create_refund(command)
    # The worker dies before recording `accepted`; a new one retries with the stored key.
    await first_worker.aclose()
    restarted = StripeGateway(API_KEY, api_base=localstripe.url)
    try:
        retried = [await restarted.create_refund(command) for _ in range(2)]
    finally:
        await restarted.aclose()
    at_stripe = await _refunds_at_stripe(shop, reference)

    assert {r.provider_refund_id for r in retried} == {accepted.provider_refund_id}
    assert [r.amount for r in retried] == [4_321, 4_321]
    assert [(r["id"], r["amount"]) for r in at_stripe] == [(accepted.provider_refund_id, 4_321)]


async def test_partial_refunds_under_different_keys_add_up_to_the_charge_and_no_more(
    gateway: StripeGateway, shop: stripe.StripeClient
) -> None:
    charge_id = await _charge(shop, 10_000)
    first = await gateway.create_refund(_command(charge_id, 3_000, "T-2:1"))
    second = await gateway.create_refund(_command(charge_id, 7_000, "T-2:2"))
    with pytest.raises(RefundRefused) as one_more:
        await gateway.create_refund(_command(charge_id, 1, "T-2:3"))
    charge = await shop.v1.charges.retrieve_async(charge_id)
    at_stripe = await _refunds_at_stripe(shop, charge_id)

    assert first.provider_refund_id != second.provider_refund_id
    assert sorted((r["metadata"]["idempotency_key"], r["amount"]) for r in at_stripe) == [
        ("T-2:1", 3_000),
        ("T-2:2", 7_000),
    ]
    assert (charge.amount_refunded, charge.refunded) == (10_000, True)
    assert one_more.value.code == "amount_exceeds_payment"


@pytest.mark.parametrize("kind", PAYMENTS)
async def test_a_refund_larger_than_the_payment_is_refused(
    kind: str, gateway: StripeGateway, shop: stripe.StripeClient
) -> None:
    reference = await PAYMENTS[kind](shop, 10_000)
    with pytest.raises(RefundRefused) as refused:
        await gateway.create_refund(_command(reference, 10_001))
    assert refused.value.code == "amount_exceeds_payment"
    assert await _refunds_at_stripe(shop, reference) == []


async def test_the_same_key_for_another_amount_is_refused(
    gateway: StripeGateway, shop: stripe.StripeClient
) -> None:
    charge_id = await _charge(shop, 10_000)
    await gateway.create_refund(_command(charge_id, 1_000, "T-3:1"))
    with pytest.raises(RefundRefused) as refused:
        await gateway.create_refund(_command(charge_id, 2_000, "T-3:1"))
    assert refused.value.code == "idempotency_key_reused"
    assert [r["amount"] for r in await _refunds_at_stripe(shop, charge_id)] == [1_000]


async def test_unknown_payments_and_other_currencies_are_refused(
    gateway: StripeGateway, shop: stripe.StripeClient
) -> None:
    charge_id = await _charge(shop, 10_000, currency="usd")
    codes = {}
    for name, command in {
        "unknown charge": _command("ch_doesnotexist", 100),
        "unknown intent": _command("pi_doesnotexist", 100),
        "not a stripe reference": _command("pay_0123", 100),
        "other currency": _command(charge_id, 100, currency="EUR"),
    }.items():
        with pytest.raises(RefundRefused) as refused:
            await gateway.create_refund(command)
        codes[name] = refused.value.code
    assert codes == {
        "unknown charge": "unknown_payment",
        "unknown intent": "unknown_payment",
        "not a stripe reference": "unknown_payment",
        "other currency": "currency_mismatch",
    }
    assert await _refunds_at_stripe(shop, charge_id) == []


async def test_three_decimal_currencies_refund_only_in_multiples_of_ten(
    gateway: StripeGateway, shop: stripe.StripeClient
) -> None:
    charge_id = await _charge(shop, 5_000, currency="kwd")  # 5.000 KWD
    with pytest.raises(RefundRefused) as refused:
        await gateway.create_refund(_command(charge_id, 1_235, currency="KWD"))
    refund = await gateway.create_refund(_command(charge_id, 1_230, currency="KWD"))

    assert refused.value.code == "amount_not_supported"
    assert (refund.amount, refund.currency, refund.status) == (1_230, "KWD", "succeeded")
    assert [r["amount"] for r in await _refunds_at_stripe(shop, charge_id)] == [1_230]


async def test_stripe_down_is_transient() -> None:
    async with running_localstripe() as doomed:
        http = stripe.HTTPXClient()
        shop = stripe.StripeClient(API_KEY, base_addresses={"api": doomed.url}, http_client=http)
        charge_id = await _charge(shop, 10_000)
        await http.close_async()
        gateway = StripeGateway(API_KEY, api_base=doomed.url)
        refund = await gateway.create_refund(_command(charge_id, 100))
        await doomed.stop()
        try:
            with pytest.raises(PaymentProviderUnavailable):
                await gateway.create_refund(_command(charge_id, 100))
            with pytest.raises(PaymentProviderUnavailable):
                await gateway.get_refund(refund.provider_refund_id)
        finally:
            await gateway.aclose()


# Stripe webhooks through the API: the same verification and apply-once path as the sandbox.


@pytest.fixture(scope="module")
async def stripe_api(stack: Stack) -> AsyncIterator[str]:
    """The stack's API with a Stripe webhook secret configured (the stack's own has none)."""
    settings = stack.settings.model_copy(
        update={"stripe": StripeSettings(webhook_secret=SecretStr(WEBHOOK_SECRET))}
    )
    async with serving(create_app(settings, temporal=stack.temporal.client)) as url:
        yield url


def _stripe_event(refund: dict[str, Any], event_id: str, status: str, was: str) -> bytes:
    now = int(time.time())
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "charge.refund.updated",
            "created": now,
            "data": {
                "object": {
                    "id": refund["provider_refund_id"],
                    "object": "refund",
                    "status": status,
                    "amount": refund["amount"],
                    "currency": refund["currency"].lower(),
                    "created": now,
                    "failure_reason": None,
                    "metadata": {"idempotency_key": refund["idempotency_key"]},
                },
                "previous_attributes": {"status": was},
            },
        }
    ).encode()


async def _seen(stack: Stack, event_id: str) -> int:
    async with stack.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(PaymentEventSeen.event_id == event_id)
        )
    return int(count or 0)


async def _refund_of_a_completed_ticket(stack: Stack) -> tuple[str, dict[str, Any]]:
    label = await stack.new_buyer()
    body = order_body([line("L1", 1, 2500)], buyer=buyer_id(label))
    async with stack.client("platform:shop") as platform, stack.client(label) as buyer:
        ticket_no = await open_ticket(platform, buyer, body, ("L1", 1))
    ticket = await stack.ticket_when(label, ticket_no, "completed")
    return label, ticket


async def test_stripe_webhooks_are_verified_and_applied_once(stack: Stack, stripe_api: str) -> None:
    label, ticket = await _refund_of_a_completed_ticket(stack)
    refund = ticket["refunds"][0]
    forged_id = f"evt_{uuid.uuid4().hex}"
    forged = _stripe_event(refund, forged_id, "failed", "succeeded")
    genuine_id = f"evt_{uuid.uuid4().hex}"
    genuine = _stripe_event(refund, genuine_id, "succeeded", "pending")
    now = int(time.time())
    async with httpx.AsyncClient(base_url=stripe_api, timeout=30) as anonymous:

        async def post(body: bytes, header: str | None) -> tuple[int, str]:
            headers = {SIGNATURE_HEADER: header} if header else {}
            response = await anonymous.post(
                "/v1/webhooks/payments/stripe", content=body, headers=headers
            )
            answer = response.json()
            return response.status_code, answer.get("code") or answer.get("status")

        refused = {
            "wrong secret": await post(forged, sign("whsec_someone_else", forged, now)),
            "stale": await post(forged, sign(WEBHOOK_SECRET, forged, now - 3600)),
            "missing": await post(forged, None),
            "tampered": await post(
                forged, sign(WEBHOOK_SECRET, forged.replace(b'"failed"', b'"pending"'), now)
            ),
        }
        replays = [await post(genuine, sign(WEBHOOK_SECRET, genuine, now)) for _ in range(3)]
        not_a_refund = json.dumps(
            {"id": "evt_x", "type": "customer.created", "created": now, "data": {"object": {}}}
        ).encode()
        other_event = await post(not_a_refund, sign(WEBHOOK_SECRET, not_a_refund, now))
    async with stack.client(None) as unconfigured:
        stripe_off = await unconfigured.post("/v1/webhooks/payments/stripe", content=genuine)
    after = await stack.ticket_when(label, ticket["ticket_no"], "completed")

    assert refused == {name: (401, "invalid_signature") for name in refused}
    assert await _seen(stack, forged_id) == 0
    assert replays == [(200, "accepted"), (200, "duplicate"), (200, "duplicate")]
    assert await _seen(stack, genuine_id) == 1
    assert other_event == (200, "ignored")
    assert stripe_off.status_code == 404
    assert after["refunds"] == ticket["refunds"]


async def test_a_stripe_refund_failed_after_it_succeeded_reopens_the_ticket(
    stack: Stack, stripe_api: str
) -> None:
    """Stripe reports a refund the bank returned as `failed` after `succeeded`: the money is owed
    again, so the ended ticket reopens for support and the order's totals go back down."""
    _, ticket = await _refund_of_a_completed_ticket(stack)
    refund = ticket["refunds"][0]
    event = _stripe_event(refund, f"evt_{uuid.uuid4().hex}", "failed", "succeeded")
    async with httpx.AsyncClient(base_url=stripe_api, timeout=30) as stripe_side:
        answers = [
            (
                await stripe_side.post(
                    "/v1/webhooks/payments/stripe",
                    content=event,
                    headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, event, int(time.time()))},
                )
            ).json()["status"]
            for _ in range(2)
        ]
    reopened = await stack.ticket_when("support:s-1", ticket["ticket_no"], "refund_failed")
    async with stack.client("support:s-1") as support:
        order = (await support.get(f"/v1/orders/{reopened['order_id']}")).json()

    assert answers == ["accepted", "duplicate"]
    assert reopened["refunds"][0]["status"] == "reversed"
    assert reopened["timeline"][-1]["event"] == "refund_reversed"
    assert [entry["event"] for entry in reopened["timeline"]].count("refund_reversed") == 1
    assert reopened["refunded_amount"] == 0 and order["refunded_total"] == 0
    assert order["after_sales_status"] == "none"
