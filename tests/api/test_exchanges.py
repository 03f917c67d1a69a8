"""Exchange for another item through the API, on the real stack: the platform lists the merchant's
items, the buyer asks for another one at its price, and the difference is exact in minor units:
refunded for a cheaper item, paid through the platform for a dearer one."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.orders import buyer_id, line, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import MERCHANT, WAREHOUSE, act, recently

PLATFORM = "platform:shop"
# 2 tees at 159.00 less 10.00 of coupons: the buyer paid 308.00 for them.
TEE = line("L1", 2, 15900, 1000)


async def listed(stack: Stack, price: int, **extra: Any) -> str:
    sku = f"TEE-{uuid.uuid4().hex[:6].upper()}"
    async with stack.client(PLATFORM) as platform:
        saved = await platform.put(
            f"/v1/merchants/m-1001/catalogue/{sku}",
            json={"title": "tee, size L", "currency": "CNY", "unit_price": price, **extra},
        )
    assert saved.status_code == 200, saved.text
    return sku


async def opened(
    stack: Stack, replacement_sku: str | None, *, type: str = "exchange"
) -> tuple[str, httpx.Response]:
    buyer = await stack.new_buyer()
    order_id = new_order_id()
    order = order_body(
        [TEE], buyer=buyer_id(buyer), status="delivered", shipping=800, delivered_at=recently()
    )
    wanted: dict[str, Any] = {"line_id": "L1", "quantity": 2}
    if replacement_sku is not None:
        wanted["replacement_sku"] = replacement_sku
    async with stack.client(PLATFORM) as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post(
            "/v1/tickets",
            json={
                "order_id": order_id,
                "type": type,
                "lines": [wanted],
                "reason_code": "wrong_size_or_model",
            },
        )
    return buyer, created


async def inspected(stack: Stack, buyer: str, ticket_no: str, *, fee: int = 0) -> None:
    """Approved, shipped back by the buyer, every unit accepted by the warehouse."""
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
    approved = await act(stack, MERCHANT, ticket_no, "approve", {"service_fee": fee})
    assert approved.status_code == 200, approved.text
    parcel = {"carrier": "SF", "tracking_no": f"SF{uuid.uuid4().int % 10**10:010d}"}
    shipped = await act(stack, buyer, ticket_no, "return-shipment", parcel)
    assert shipped.status_code == 200, shipped.text
    lines = [{"line_id": "L1", "accepted": 2, "rejected": 0}]
    checked = await act(stack, WAREHOUSE, ticket_no, "inspection", {"lines": lines})
    assert checked.status_code == 200, checked.text


async def reshipped_and_received(stack: Stack, buyer: str, ticket_no: str) -> dict[str, Any]:
    await stack.ticket_when(buyer, ticket_no, "awaiting_reship")
    parcel = {"carrier": "YTO", "tracking_no": f"YT{uuid.uuid4().int % 10**10:010d}"}
    shipped = await act(stack, MERCHANT, ticket_no, "reship", parcel)
    assert shipped.status_code == 200, shipped.text
    received = await act(stack, buyer, ticket_no, "confirm-receipt", {})
    assert received.status_code == 200, received.text
    return await stack.ticket_when(buyer, ticket_no, "completed")


def pay(ticket_no: str, amount: int, reference: str = "pay-1") -> tuple[str, dict[str, Any]]:
    return (
        f"/v1/tickets/{ticket_no}/difference-payment",
        {"reference": reference, "amount": amount, "currency": "CNY"},
    )


async def test_the_platform_lists_items_each_merchant_reads_only_its_own(stack: Stack) -> None:
    sku = await listed(stack, 12900)
    async with stack.client(MERCHANT) as merchant, stack.client("merchant:m-2002") as other:
        own = await merchant.get(f"/v1/merchants/m-1001/catalogue/{sku}")
        foreign = await other.get(f"/v1/merchants/m-1001/catalogue/{sku}")
        by_merchant = await merchant.put(
            f"/v1/merchants/m-1001/catalogue/{sku}",
            json={"title": "x", "currency": "CNY", "unit_price": 1},
        )
    async with stack.client(PLATFORM) as platform:
        too_dear = await platform.put(
            f"/v1/merchants/m-1001/catalogue/{sku}",
            json={"title": "x", "currency": "JPY", "unit_price": 10**10 + 1},
        )
        fractional = await platform.put(
            f"/v1/merchants/m-1001/catalogue/{sku}",
            json={"title": "x", "currency": "CNY", "unit_price": 12.5},
        )

    assert own.status_code == 200
    assert {k: own.json()[k] for k in ("sku", "unit_price", "currency_exponent", "available")} == {
        "sku": sku,
        "unit_price": 12900,
        "currency_exponent": 2,
        "available": True,
    }
    assert foreign.status_code == 404 and foreign.json()["code"] == "catalogue_item_not_found"
    assert by_merchant.status_code == 403
    assert too_dear.status_code == 422 and too_dear.json()["code"] == "amount_out_of_range"
    assert fractional.status_code == 422


async def test_a_replacement_the_catalogue_does_not_offer_is_refused_with_its_reason(
    stack: Stack,
) -> None:
    offered = await listed(stack, 12900)
    withdrawn = await listed(stack, 12900, available=False)
    dollars = await listed(stack, 2000, currency="USD")
    cases = {
        "replacement_not_allowed": await opened(stack, offered, type="return_refund"),
        "replacement_not_offered": await opened(stack, "NO-SUCH-SKU"),
        "replacement_unavailable": await opened(stack, withdrawn),
        "replacement_currency_mismatch": await opened(stack, dollars),
    }

    for code, (_, refused) in cases.items():
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["code"] == code, problem
        assert problem["errors"][0]["field"] == "lines[0].replacement_sku"


async def test_a_cheaper_item_refunds_the_difference_less_the_fee_before_it_is_shipped(
    stack: Stack,
) -> None:
    sku = await listed(stack, 12900)
    buyer, created = await opened(stack, sku)
    assert created.status_code == 201, created.text
    ticket_no = created.json()["ticket_no"]
    fresh = await stack.ticket_when(MERCHANT, ticket_no, "awaiting_merchant_review")
    too_high = await act(stack, MERCHANT, ticket_no, "approve", {"service_fee": 6001})

    await inspected(stack, buyer, ticket_no, fee=500)
    ticket = await reshipped_and_received(stack, buyer, ticket_no)

    # 2 x (129.00 - 159.00): 60.00 back, less the 5.00 fee; the discount stays with the tees.
    exchange = fresh["exchange"]
    assert (exchange["difference"], exchange["direction"], exchange["refund"]) == (
        -6000,
        "refund",
        6000,
    )
    assert exchange["due"] == 0 and exchange["payment"] is None
    (replacement,) = exchange["lines"]
    assert replacement == {
        "line_id": "L1",
        "quantity": 2,
        "original_sku": "SKU-L1",
        "original_unit_price": 15900,
        "returned_amount": 30800,
        "sku": sku,
        "title": "tee, size L",
        "unit_price": 12900,
        "replacement_amount": 25800,
        "difference": -6000,
    }
    assert fresh["lines"] == [
        {"line_id": "L1", "quantity": 2, "reason_code": None, "replacement_sku": sku}
    ]
    assert too_high.status_code == 422 and too_high.json()["code"] == "service_fee_out_of_range"
    assert ticket["refunded_amount"] == 5500 and ticket["granted_amount"] == 5500
    (refund,) = ticket["refunds"]
    assert (refund["amount"], refund["status"]) == (5500, "succeeded")
    assert ticket["breakdown"]["price_difference"] is True
    assert ticket["breakdown"]["lines"] == [] and ticket["breakdown"]["service_fee"] == 500
    steps = [(s["event"], s["to_status"]) for s in ticket["timeline"]]
    assert steps[-4:] == [
        ("inspection_passed", "refunding"),
        ("refund_settled", "awaiting_reship"),
        ("replacement_shipped", "replacement_in_transit"),
        ("receipt_confirmed", "completed"),
    ]
    async with stack.client(PLATFORM) as platform:
        order = (await platform.get(f"/v1/orders/{ticket['order_id']}")).json()
        path, body = pay(ticket_no, 6000)
        nothing_due = await platform.post(path, json=body)
    assert order["after_sales_status"] == "partially_refunded"
    assert nothing_due.status_code == 409 and nothing_due.json()["code"] == "no_difference_due"


async def test_a_dearer_item_is_shipped_once_the_platform_confirms_the_difference_paid(
    stack: Stack,
) -> None:
    sku = await listed(stack, 16900)
    buyer, created = await opened(stack, sku)
    assert created.status_code == 201, created.text
    ticket_no = created.json()["ticket_no"]

    await inspected(stack, buyer, ticket_no)
    waiting = await stack.ticket_when(buyer, ticket_no, "awaiting_difference_payment")
    path, body = pay(ticket_no, 2000)
    async with stack.client(PLATFORM) as platform, stack.client(buyer) as as_buyer:
        short = await platform.post(path, json={**body, "amount": 1999})
        by_buyer = await as_buyer.post(path, json=body)
        accepted = await platform.post(path, json=body)
        paid = await stack.ticket_when(buyer, ticket_no, "awaiting_reship")
        again = await platform.post(path, json={**body, "reference": "pay-2"})
    ticket = await reshipped_and_received(stack, buyer, ticket_no)
    async with stack.client(PLATFORM) as platform:
        late = await platform.post(path, json=body)

    # 2 x (169.00 - 159.00) = 20.00 to pay.
    assert (waiting["exchange"]["difference"], waiting["exchange"]["due"]) == (2000, 2000)
    assert waiting["next_actor"] == "buyer"
    assert waiting["on_timeout"] == "refund the returned goods instead"
    assert short.status_code == 422 and short.json()["code"] == "difference_amount_mismatch"
    assert "CNY 20.00" in short.json()["detail"]
    assert by_buyer.status_code == 403
    assert accepted.status_code == 202, accepted.text
    assert again.status_code == 202
    payment = paid["exchange"]["payment"]
    assert (payment["reference"], payment["amount"], payment["currency"]) == ("pay-1", 2000, "CNY")
    confirmed = [s for s in ticket["timeline"] if s["event"] == "difference_paid"]
    assert len(confirmed) == 1 and confirmed[0]["actor_role"] == "platform"
    assert ticket["refunded_amount"] == 0 and ticket["refunds"] == []
    assert late.status_code == 409 and late.json()["code"] == "illegal_transition"
