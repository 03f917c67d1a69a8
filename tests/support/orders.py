"""Order snapshots as the platform sends them, with fresh ids per test."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from domain.orders import OrderSnapshot
from persistence.models import Ticket, TicketLine


def buyer_id(label: str) -> str:
    """The buyer of a client label such as `buyer:b-501` (see `Stack.new_buyer`)."""
    role, _, principal = label.partition(":")
    assert role == "buyer", label
    return principal


def new_order_id(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def line(line_id: str, qty: int, price: int, discount: int = 0) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": f"SKU-{line_id}",
        "title": f"Item {line_id}",
        "quantity": qty,
        "unit_price": price,
        "discount": discount,
    }


def order_body(
    lines: list[dict[str, Any]],
    *,
    buyer: str = "b-501",
    merchant: str = "m-1001",
    currency: str = "CNY",
    shipping: int = 0,
    status: str = "paid",
    version: int = 1,
    method: str = "wallet",
    paid_total: int | None = None,
    delivered_at: str | None = None,
    paid_at: str | None = None,
) -> dict[str, Any]:
    cost = sum(x["quantity"] * x["unit_price"] - x["discount"] for x in lines)
    body: dict[str, Any] = {
        "buyer_id": buyer,
        "merchant_id": merchant,
        "currency": currency,
        "lines": lines,
        "shipping_fee": shipping,
        "payment": {
            "provider": "sandbox",
            "reference": f"pay_{uuid.uuid4().hex[:12]}",
            "method": method,
            "paid_total": cost + shipping if paid_total is None else paid_total,
        },
        "status": status,
        "version": version,
    }
    if status != "paid":
        body["shipped_at"] = "2026-11-20T08:00:00Z"
    if delivered_at is not None:
        body["delivered_at"] = delivered_at
    if paid_at is not None:
        body["payment"]["paid_at"] = paid_at
    return body


async def put_order(platform: httpx.AsyncClient, order_id: str, body: dict[str, Any]) -> None:
    response = await platform.put(f"/v1/orders/{order_id}", json=body)
    assert response.status_code in (200, 201), response.text


def application(
    order_id: str, *lines: tuple[str, int], reason_code: str = "no_longer_needed", **extra: Any
) -> dict[str, Any]:
    """A refund-only ticket application on (line_id, quantity) pairs."""
    return {
        "order_id": order_id,
        "type": "refund_only",
        "lines": [{"line_id": line_id, "quantity": qty} for line_id, qty in lines],
        "reason_code": reason_code,
        "description": "changed my mind",
        **extra,
    }


async def open_ticket(
    platform: httpx.AsyncClient,
    buyer: httpx.AsyncClient,
    order: dict[str, Any],
    *lines: tuple[str, int],
) -> str:
    """Upsert a fresh order and open a ticket on it; returns the ticket number."""
    order_id = new_order_id()
    await put_order(platform, order_id, order)
    created = await buyer.post("/v1/tickets", json=application(order_id, *lines))
    assert created.status_code == 201, created.text
    return str(created.json()["ticket_no"])


def refund_only_ticket(
    snapshot: OrderSnapshot, ticket_no: str, line_id: str, quantity: int, **fields: Any
) -> Ticket:
    """A refund-only ticket row as the API stores it at opening, for tests that drive the refund
    activities without a workflow; `fields` overrides columns (status, destination, ...)."""
    values: dict[str, Any] = {
        "ticket_no": ticket_no,
        "order_id": snapshot.order_id,
        "buyer_id": snapshot.buyer_id,
        "merchant_id": snapshot.merchant_id,
        "type": "refund_only",
        "reason_code": "no_longer_needed",
        "currency": snapshot.currency,
        "quoted_amount": 0,
        "status": "submitted",
        "policy": {"refund_shipping_on_merchant_fault": True, "second_approval_threshold": 10**9},
        "created_by_role": "buyer",
        **fields,
    }
    line = TicketLine(order_id=snapshot.order_id, line_id=line_id, quantity=quantity)
    return Ticket(**values, lines=[line])
