"""`aftersales refunds failed | retry` on a refund the payment sandbox really failed."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import SUPPORT, read


async def refund_ticket(stack: Stack, *, fail: str | None) -> str:
    """A card refund before shipment; `fail` makes the provider fail its first attempt with
    that reason."""
    buyer = await stack.new_buyer()
    order_id = new_order_id()
    body = order_body([line("L1", 2, 1500)], buyer=buyer_id(buyer), method="card")
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    if fail is not None:
        async with stack.sandbox() as sandbox:
            rule = await sandbox.post(
                "/v1/control/rules",
                json={
                    "match_payment_reference": body["payment"]["reference"],
                    "outcome": "fail",
                    "reason": fail,
                    "times": 1,
                },
            )
            assert rule.status_code in (200, 201), rule.text
    async with stack.client(buyer) as http:
        created = await http.post("/v1/tickets", json=application(order_id, ("L1", 2)))
    assert created.status_code == 201, created.text
    ticket_no = str(created.json()["ticket_no"])
    await stack.ticket_when(buyer, ticket_no, "refund_failed" if fail else "completed")
    return ticket_no


async def test_a_failed_refund_is_listed_then_sent_again_by_the_cli_and_arrives_once(
    stack: Stack, cli: Cli
) -> None:
    ticket_no = await refund_ticket(stack, fail="card_closed")

    listed = await cli("refunds", "failed")
    retried = await cli("refunds", "retry", ticket_no, "--note", "new card on file")
    done = await stack.ticket_when(SUPPORT, ticket_no, "completed")
    again = await cli("refunds", "retry", ticket_no)
    listed_after = await cli("refunds", "failed")

    assert listed.exit_code == 0, listed.output
    [row] = [text for text in listed.stdout.splitlines() if ticket_no in text]
    assert "card_closed" in row and "CNY 30.00" in row and "1 failed" in row
    assert retried.exit_code == 0, retried.output
    assert f"{ticket_no}: refund sent again by support:cli" in retried.stdout
    assert "refund_retried" in retried.stdout
    retry_step = [t for t in done["timeline"] if t["event"] == "refund_retried"]
    assert [(t["actor_role"], t["actor_id"]) for t in retry_step] == [("support", "cli")]
    assert "new card on file" in retry_step[0]["reason"] + str(retry_step[0]["data"])
    assert [(r["idempotency_key"], r["status"]) for r in done["refunds"]] == [
        (f"{ticket_no}-R1", "failed"),
        (f"{ticket_no}-R2", "succeeded"),
    ]
    assert done["refunded_amount"] == 3000
    assert again.exit_code == 1
    assert "refused (illegal_transition)" in again.stderr and "is completed" in again.stderr
    assert ticket_no not in listed_after.stdout


async def test_a_retry_of_a_refund_that_did_not_fail_is_refused_and_changes_nothing(
    stack: Stack, cli: Cli
) -> None:
    ticket_no = await refund_ticket(stack, fail=None)
    before = (await read(stack, SUPPORT, ticket_no)).json()

    refused = await cli("refunds", "retry", ticket_no, "--support-id", "s-7")
    unknown = await cli("refunds", "retry", "AS19990101-999998")
    after = (await read(stack, SUPPORT, ticket_no)).json()

    assert refused.exit_code == 1
    assert "refused (illegal_transition)" in refused.stderr
    assert f"{ticket_no} is completed and its refund 1 is succeeded" in refused.stderr
    assert "refund_failed" in refused.stderr
    assert after["version"] == before["version"] and after["timeline"] == before["timeline"]
    assert [r["status"] for r in after["refunds"]] == ["succeeded"]
    assert unknown.exit_code == 1 and "ticket_not_found" in unknown.stderr


async def test_a_retry_sent_again_under_its_idempotency_key_is_taken_once(
    stack: Stack, cli: Cli
) -> None:
    ticket_no = await refund_ticket(stack, fail="insufficient_funds")

    first = await cli("refunds", "retry", ticket_no, "--idempotency-key", "cli-retry-1")
    done = await stack.ticket_when(SUPPORT, ticket_no, "completed")
    replay = await cli("refunds", "retry", ticket_no, "--idempotency-key", "cli-retry-1")
    other_key = await cli("refunds", "retry", ticket_no, "--idempotency-key", "cli-retry-2")
    after = (await read(stack, SUPPORT, ticket_no)).json()

    assert first.exit_code == 0, first.output
    assert "refund sent again by support:cli" in first.stdout
    assert replay.exit_code == 0, replay.output
    assert "refund already sent under this key" in replay.stdout
    assert other_key.exit_code == 1 and "illegal_transition" in other_key.stderr
    assert [r["status"] for r in after["refunds"]] == ["failed", "succeeded"]
    assert after["timeline"] == done["timeline"]
