"""Orders: the platform's upserts, who may read them, and refund previews."""

from __future__ import annotations

import httpx

from tests.support.orders import line, new_order_id, order_body, put_order
from tests.support.stack import Stack


async def test_the_platform_upserts_an_order_idempotently_and_refuses_stale_versions(
    stack: Stack,
) -> None:
    order_id = new_order_id()
    body = order_body([line("L1", 2, 8800, 1000)], shipping=1000)
    async with stack.client("platform:shop") as platform:
        created = await platform.put(f"/v1/orders/{order_id}", json=body)
        again = await platform.put(f"/v1/orders/{order_id}", json=body)
        newer = await platform.put(
            f"/v1/orders/{order_id}", json={**body, "version": 3, "status": "shipped"}
        )
        stale = await platform.put(f"/v1/orders/{order_id}", json={**body, "version": 2})
        retitled = [{**body["lines"][0], "title": "Longjing tea, renamed"}]
        same_version_other_content = await platform.put(
            f"/v1/orders/{order_id}",
            json={**body, "version": 3, "status": "shipped", "lines": retitled},
        )
        stored = (await platform.get(f"/v1/orders/{order_id}")).json()

    assert created.status_code == 201
    assert created.json()["payment"]["paid_total"] == 17600
    assert again.status_code == 200
    assert newer.status_code == 200 and newer.json()["status"] == "shipped"
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["code"] == "stale_order_version"
    assert same_version_other_content.status_code == 409
    assert same_version_other_content.json()["code"] == "order_version_conflict"
    assert stored["version"] == 3 and stored["status"] == "shipped"
    assert stored["after_sales_status"] == "none" and stored["refunded_total"] == 0


async def test_an_order_whose_payment_does_not_add_up_is_refused(stack: Stack) -> None:
    order_id = new_order_id()
    async with stack.client("platform:shop") as platform:
        response = await platform.put(
            f"/v1/orders/{order_id}", json=order_body([line("L1", 1, 1000)], paid_total=999)
        )
        missing = await platform.get(f"/v1/orders/{order_id}")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_order"
    assert "999" in response.json()["detail"]
    assert missing.status_code == 404


async def test_malformed_orders_name_the_field(stack: Stack) -> None:
    body = order_body([line("L1", 1, 1000)])
    body["lines"][0]["quantity"] = 0
    async with stack.client("platform:shop") as platform:
        response = await platform.put(f"/v1/orders/{new_order_id()}", json=body)
    problem = response.json()
    assert response.status_code == 422
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["field"] == "lines[0].quantity"


async def test_only_the_platform_writes_orders_and_only_those_involved_read_them(
    stack: Stack,
) -> None:
    order_id = new_order_id()
    body = order_body([line("L1", 1, 1000)], buyer="b-501", merchant="m-1001")
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    reads = {}
    for label in (
        "buyer:b-501",
        "buyer:b-502",
        "merchant:m-1001",
        "merchant:m-2002",
        "support:s-1",
        "warehouse:wh-1001",
    ):
        async with stack.client(label) as http:
            reads[label] = (await http.get(f"/v1/orders/{order_id}")).status_code
    async with stack.client("buyer:b-501") as buyer:
        write = await buyer.put(f"/v1/orders/{order_id}", json=body)
    async with stack.client(None) as anonymous:
        unauthenticated = await anonymous.get(f"/v1/orders/{order_id}")
    async with httpx_with_key(stack, "ak_buyer_not-a-real-key") as forged:
        bad_key = await forged.get(f"/v1/orders/{order_id}")

    assert reads == {
        "buyer:b-501": 200,
        "buyer:b-502": 404,
        "merchant:m-1001": 200,
        "merchant:m-2002": 404,
        "support:s-1": 200,
        "warehouse:wh-1001": 403,
    }
    assert write.status_code == 403 and write.json()["code"] == "forbidden_role"
    assert unauthenticated.status_code == 401 and bad_key.status_code == 401
    assert bad_key.json()["code"] == "unauthenticated"


async def test_a_refund_quote_previews_the_breakdown_without_storing_anything(
    stack: Stack,
) -> None:
    order_id = new_order_id()
    async with stack.client("platform:shop") as platform:
        await put_order(
            platform, order_id, order_body([line("L1", 3, 3333), line("L2", 1, 500)], shipping=800)
        )
    async with stack.client("buyer:b-501") as buyer:
        one_unit = await buyer.post(
            f"/v1/orders/{order_id}/refund-quote",
            json={"lines": [{"line_id": "L1", "quantity": 1}], "reason_code": "no_longer_needed"},
        )
        everything = await buyer.post(
            f"/v1/orders/{order_id}/refund-quote",
            json={
                "lines": [{"line_id": "L1", "quantity": 3}, {"line_id": "L2", "quantity": 1}],
                "reason_code": "no_longer_needed",
            },
        )
        unknown = await buyer.post(
            f"/v1/orders/{order_id}/refund-quote",
            json={"lines": [{"line_id": "L9", "quantity": 1}], "reason_code": "other"},
        )
        order = (await buyer.get(f"/v1/orders/{order_id}")).json()

    assert one_unit.status_code == 200
    assert one_unit.json()["total"] == 3333 and one_unit.json()["shipping_amount"] == 0
    assert everything.json()["total"] == 3 * 3333 + 500 + 800
    assert everything.json()["completes_order"] is True
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_line"
    assert unknown.json()["errors"][0]["field"] == "lines[0].line_id"
    assert order["refunded_total"] == 0


def httpx_with_key(stack: Stack, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {key}"})
