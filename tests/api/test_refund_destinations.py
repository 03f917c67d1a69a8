"""Where refunds go (SPEC §4): the original payment, the store-credit ledger, a coupon or a bank
transfer; the fallback to balance; a refund the bank sends back. Real stack: Temporal, PostgreSQL,
the sandbox payment provider over HTTP with its payouts and signed webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from domain.money import exponent
from persistence.models import Notification
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.stack import Stack

SUPPORT = "support:s-1"
IBAN = "DE89370400440532013000"
ACCOUNT = {"holder_name": "Anna Schmidt", "iban": "de89 3704 0044 0532 0130 00"}


async def _order(stack: Stack, label: str, **options: Any) -> tuple[str, str]:
    """A paid order of 2 x 15.00 CNY for the buyer; returns its id and payment reference."""
    order_id = new_order_id()
    body = order_body([line("L1", 2, 1500)], buyer=buyer_id(label), **options)
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    return order_id, str(body["payment"]["reference"])


async def _open(stack: Stack, label: str, order_id: str, **extra: Any) -> str:
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 2), **extra))
    assert created.status_code == 201, created.text
    return str(created.json()["ticket_no"])


async def _credit(stack: Stack, label: str) -> dict[str, Any]:
    async with stack.client(label) as buyer:
        response = await buyer.get(f"/v1/buyers/{buyer_id(label)}/credit")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _rule(stack: Stack, reference: str, outcome: str, **extra: Any) -> None:
    async with stack.sandbox() as sandbox:
        rule = await sandbox.post(
            "/v1/control/rules",
            json={"match_payment_reference": reference, "outcome": outcome, **extra},
        )
    assert rule.status_code == 201, rule.text


async def test_a_refund_to_balance_is_a_ledger_entry_written_once(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id, _ = await _order(stack, label)
    ticket_no = await _open(stack, label, order_id, destination="balance")

    done = await stack.ticket_when(label, ticket_no, "completed")
    credit = await _credit(stack, label)

    [refund] = done["refunds"]
    assert (refund["destination"], refund["provider"], refund["status"]) == (
        "balance",
        "balance",
        "succeeded",
    )
    assert refund["idempotency_key"] == f"{ticket_no}-R1"
    assert [h["status"] for h in refund["status_history"]] == ["granted", "succeeded"]
    assert credit["balances"] == {"CNY": 3000}
    [entry] = credit["entries"]
    assert refund["provider_refund_id"] == f"bal_{entry['entry_id']}"
    assert (entry["amount"], entry["kind"], entry["conversion"]) == (3000, "refund_credit", None)
    assert done["refunded_amount"] == 3000


async def test_a_balance_credit_in_another_currency_records_the_rate_and_its_source(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id, _ = await _order(stack, label)
    ticket_no = await _open(stack, label, order_id, destination="balance", balance_currency="USD")

    done = await stack.ticket_when(label, ticket_no, "completed")
    credit = await _credit(stack, label)

    [refund] = done["refunds"]
    conversion = refund["conversion"]
    assert (refund["amount"], refund["currency"]) == (3000, "CNY")
    assert (conversion["from_currency"], conversion["from_amount"]) == ("CNY", 3000)
    assert conversion["to_currency"] == "USD"
    assert conversion["source"] == "sandbox-reference-rates" and conversion["as_of"]
    # The rate travels as a decimal string; the credit is 30.00 CNY at that rate, in cents.
    assert isinstance(conversion["rate"], str)
    exact = Decimal(3000) / 10 ** exponent("CNY") * Decimal(conversion["rate"])
    cents = int((exact * 10 ** exponent("USD")).quantize(Decimal(1)))
    assert conversion["to_amount"] == cents > 0
    assert credit["balances"] == {"USD": cents}
    assert credit["entries"][0]["conversion"]["rate"] == conversion["rate"]
    # What counts against the order stays in the order's currency.
    async with stack.client(label) as buyer:
        order = (await buyer.get(f"/v1/orders/{order_id}")).json()
    assert order["refunded_total"] == 3000


async def test_a_refund_as_a_coupon_issues_one_coupon_worth_the_refund(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id, _ = await _order(stack, label)
    ticket_no = await _open(stack, label, order_id, destination="coupon")

    done = await stack.ticket_when(label, ticket_no, "completed")
    credit = await _credit(stack, label)

    [coupon] = credit["coupons"]
    [refund] = done["refunds"]
    assert refund["provider_refund_id"] == coupon["code"] and coupon["code"].startswith("CP-")
    assert (coupon["amount"], coupon["currency"], coupon["redeemed_at"]) == (3000, "CNY", None)
    expires = datetime.fromisoformat(coupon["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    assert credit["balances"] == {}


async def test_a_bank_transfer_is_paid_out_by_the_sandbox_and_the_iban_is_never_shown(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id, _ = await _order(stack, label)
    ticket_no = await _open(
        stack, label, order_id, destination="bank_transfer", bank_account=ACCOUNT
    )

    done = await stack.ticket_when(label, ticket_no, "completed")

    [refund] = done["refunds"]
    assert (refund["destination"], refund["provider"]) == ("bank_transfer", "sandbox-payouts")
    assert refund["provider_refund_id"].startswith("po_")
    assert [h["status"] for h in refund["status_history"]] == ["granted", "pending", "succeeded"]
    shown = {"holder_name": "Anna Schmidt", "iban": "DE89 **** **** **** 3000"}
    assert done["destination_details"] == shown and refund["destination_details"] == shown
    assert IBAN not in str(done)
    async with stack.sandbox() as sandbox:
        payout = (await sandbox.get(f"/v1/payouts/{refund['provider_refund_id']}")).json()
    assert (payout["status"], payout["amount"], payout["currency"]) == ("succeeded", 3000, "CNY")
    assert (payout["account_last4"], payout["idempotency_key"]) == ("3000", f"{ticket_no}-R1")


async def test_a_destination_without_what_it_needs_is_refused_and_nothing_is_opened(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id, _ = await _order(stack, label)
    mistyped = {**ACCOUNT, "iban": "DE88370400440532013000"}
    async with stack.client(label) as buyer:
        missing = await buyer.post(
            "/v1/tickets", json=application(order_id, ("L1", 2), destination="bank_transfer")
        )
        bad = await buyer.post(
            "/v1/tickets",
            json=application(
                order_id, ("L1", 2), destination="bank_transfer", bank_account=mistyped
            ),
        )
        misplaced = await buyer.post(
            "/v1/tickets",
            json=application(order_id, ("L1", 2), destination="balance", bank_account=ACCOUNT),
        )
        no_rate = await buyer.post(
            "/v1/tickets",
            json=application(order_id, ("L1", 2), destination="balance", balance_currency="TND"),
        )
        listed = (await buyer.get("/v1/tickets")).json()

    for refused in (missing, bad, misplaced):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "validation_error"
    assert "check digits" in bad.text
    assert no_rate.status_code == 422, no_rate.text
    assert no_rate.json()["code"] == "balance_currency_not_available"
    assert no_rate.json()["errors"][0]["field"] == "balance_currency"
    assert listed["items"] == []


async def test_a_payment_too_old_to_refund_falls_back_to_balance_and_the_buyer_is_told(
    stack: Stack,
) -> None:
    label = await stack.new_buyer(locale="en")
    paid_at = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    order_id, _ = await _order(stack, label, paid_at=paid_at)
    ticket_no = await _open(stack, label, order_id)

    done = await stack.ticket_when(label, ticket_no, "completed")
    credit = await _credit(stack, label)

    first, second = done["refunds"]
    assert (first["destination"], first["status"]) == ("original", "failed")
    assert first["failure_reason"].startswith("payment_too_old")
    assert (second["destination"], second["status"]) == ("balance", "succeeded")
    assert second["idempotency_key"] == f"{ticket_no}-R2"
    events = [entry["event"] for entry in done["timeline"]]
    assert events[-2:] == ["refund_redirected_to_balance", "refund_settled"]
    assert credit["balances"] == {"CNY": 3000}
    async with stack.sessions() as session:
        told = (
            await session.scalars(
                select(Notification).where(
                    Notification.ticket_no == ticket_no,
                    Notification.event == "refund_redirected_to_balance",
                    Notification.recipient_role == "buyer",
                )
            )
        ).all()
    assert told and all("balance" in n.body for n in told)


async def test_a_refund_the_bank_sends_back_reopens_the_ticket_for_support(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id, reference = await _order(stack, label)
    await _rule(stack, reference, "reverse_after_success", reason="account_frozen", times=1)
    ticket_no = await _open(stack, label, order_id)

    await stack.ticket_when(label, ticket_no, "completed")
    reopened = await stack.ticket_when(SUPPORT, ticket_no, "refund_failed")
    async with stack.client(SUPPORT) as support:
        order_after_reversal = (await support.get(f"/v1/orders/{order_id}")).json()
        retried = await support.post(
            f"/v1/tickets/{ticket_no}/retry-refund",
            json={"destination": "balance", "expected_version": reopened["version"]},
        )
    done = await stack.ticket_when(SUPPORT, ticket_no, "completed")
    async with stack.client(SUPPORT) as support:
        order = (await support.get(f"/v1/orders/{order_id}")).json()
    credit = await _credit(stack, label)

    reversal = reopened["timeline"][-1]
    assert (reversal["event"], reversal["from_status"]) == ("refund_reversed", "completed")
    assert "account_frozen" in reversal["reason"] and reopened["next_actor"] == "support"
    assert [h["status"] for h in reopened["refunds"][0]["status_history"]] == [
        "granted",
        "pending",
        "succeeded",
        "reversed",
    ]
    assert reopened["refunded_amount"] == 0
    assert order_after_reversal["refunded_total"] == 0
    assert order_after_reversal["closed"] is False
    assert retried.status_code == 200, retried.text
    assert [(r["destination"], r["status"]) for r in done["refunds"]] == [
        ("original", "reversed"),
        ("balance", "succeeded"),
    ]
    assert done["refunded_amount"] == 3000
    assert order["refunded_total"] == 3000 and order["after_sales_status"] == "refunded"
    assert order["closed"] is True
    assert credit["balances"] == {"CNY": 3000}


async def test_a_payout_the_bank_sends_back_reopens_the_ticket(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id, _ = await _order(stack, label)
    # Failure rules match a payout by its reference: the order it refunds.
    await _rule(stack, order_id, "reverse_after_success", reason="account_closed", times=1)
    ticket_no = await _open(
        stack, label, order_id, destination="bank_transfer", bank_account=ACCOUNT
    )

    await stack.ticket_when(label, ticket_no, "completed")
    reopened = await stack.ticket_when(SUPPORT, ticket_no, "refund_failed")

    [payout] = reopened["refunds"]
    assert payout["destination"] == "bank_transfer" and payout["status"] == "reversed"
    assert reopened["timeline"][-1]["event"] == "refund_reversed"
    assert "account_closed" in reopened["timeline"][-1]["reason"]


async def test_support_sends_a_failed_refund_by_bank_transfer_instead(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id, reference = await _order(stack, label, method="card")
    await _rule(stack, reference, "fail", reason="card_closed", times=1)
    ticket_no = await _open(stack, label, order_id)
    failed = await stack.ticket_when(SUPPORT, ticket_no, "refund_failed")

    async with stack.client(SUPPORT) as support:
        without_account = await support.post(
            f"/v1/tickets/{ticket_no}/retry-refund", json={"destination": "bank_transfer"}
        )
        retried = await support.post(
            f"/v1/tickets/{ticket_no}/retry-refund",
            json={
                "destination": "bank_transfer",
                "bank_account": ACCOUNT,
                "expected_version": failed["version"],
            },
        )
    done = await stack.ticket_when(SUPPORT, ticket_no, "completed")

    assert without_account.status_code == 422, without_account.text
    assert retried.status_code == 200, retried.text
    assert "bank transfer" in retried.json()["timeline"][-1]["reason"]
    assert [(r["destination"], r["status"]) for r in done["refunds"]] == [
        ("original", "failed"),
        ("bank_transfer", "succeeded"),
    ]
