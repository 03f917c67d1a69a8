"""Every endpoint of the app, for every role's key, its own objects and another subject's (SPEC §8):
403 `forbidden_role` for a role that may never call it, 404 for what is not yours, and neither for
the role that may, on its own ticket (which may still answer 409 or 422 for the ticket's state).

The expected roles come from the action table (`domain.actions.who`) and the visibility table
(`api.visibility`); every route of the app must have its row here, so a new endpoint fails this
test until someone says who may call it. Body shapes and ticket states are other tests' subject.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from api.app import create_app
from api.auth import Role, hash_key, issue_key
from api.visibility import EVERYONE, ORDER_READERS, QUOTE_READERS, TICKET_READERS, TicketPart
from domain.actions import Action, who
from persistence.models import ApiKey, Merchant, Warehouse
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.rule_facts import sent_facts
from tests.support.stack import Stack
from tests.support.tickets import labelled, recently

B, M, W, S, P = Role.buyer, Role.merchant, Role.warehouse, Role.support, Role.platform


class Owner(StrEnum):
    """What a path (or body) names that must be the caller's own, and its 404 code."""

    ticket = "ticket_not_found"
    order = "order_not_found"
    merchant = "merchant_not_found"
    buyer = "buyer_not_found"
    notification = "notification_not_found"
    bulk = "bulk_not_found"
    catalogue_item = "catalogue_item_not_found"


@dataclass
class World:
    """One small ticket of a fresh buyer at a fresh shop, returned to the shop's warehouse, and a
    subject of each role it does not belong to."""

    ticket_no: str
    order_id: str
    order: dict[str, Any]
    watched: str  # a buyer of no ticket, for the watchlist's rows
    key_id: int  # a key of the watched buyer, for the key API's rows
    own: dict[Role, str]  # role -> client label of the ticket's party
    foreign: dict[Role, str]  # role -> client label of another subject of that role
    notifications: dict[Role, int] = field(default_factory=dict)
    what_if: str = ""  # a what-if of the ticket's merchant, for its row
    bulks: dict[Role, str] = field(default_factory=dict)  # role -> a bulk run of its own

    def subject(self, role: Role) -> str:
        return self.own[role].partition(":")[2]


Body = Callable[[World], Any] | dict[str, Any] | None


@dataclass(frozen=True)
class Row:
    """Who may call a route: `None` is a route without an API key (public, or signed by the
    caller), which answers every key alike."""

    roles: frozenset[Role] | None
    owner: Owner | None = None
    body: Body = None
    params: Callable[[World], dict[str, str]] | None = None


def _action(action: Action, body: dict[str, Any]) -> tuple[tuple[str, str], Row]:
    roles = frozenset(Role(actor) for actor in who(action))
    return ("POST", f"/v1/tickets/{{ticket_no}}/{action}"), Row(roles, Owner.ticket, body)


def _watched(world: World) -> dict[str, str]:
    return {"buyer_id": world.watched}


def _what_if(world: World) -> dict[str, str]:
    return {"run_id": world.what_if}


CATALOGUE_SKU = "MATRIX-TEE-L"


def _catalogue_item(world: World) -> dict[str, str]:
    return {"sku": CATALOGUE_SKU}


def _bulk_of(world: World) -> dict[str, Any]:
    return {"ticket_nos": [world.ticket_no]}


# Every fact a rule reads, for a dry run that names no ticket.
FACTS = sent_facts(tags=())


PUBLIC = Row(None)
TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/warehouse/station"): PUBLIC,
    ("GET", "/warehouse/static/{name}"): PUBLIC,
    ("GET", "/dashboard"): PUBLIC,
    ("GET", "/dashboard/static/{name}"): PUBLIC,
    ("GET", "/merchant"): PUBLIC,
    ("GET", "/merchant/static/{name}"): PUBLIC,
    ("POST", "/v1/webhooks/payments/{provider}"): Row(None, body={}),
    ("POST", "/v1/webhooks/couriers/{carrier}"): Row(None, body={}),
    ("PUT", "/v1/orders/{order_id}"): Row(frozenset({P}), Owner.order, lambda w: w.order),
    ("GET", "/v1/orders/{order_id}"): Row(frozenset(ORDER_READERS), Owner.order),
    ("POST", "/v1/orders/{order_id}/refund-quote"): Row(
        frozenset(QUOTE_READERS),
        Owner.order,
        {"lines": [{"line_id": "L2", "quantity": 1}], "reason_code": "no_longer_needed"},
    ),
    # The buyer's order is named in the body; its line L1 is held by the open ticket.
    ("POST", "/v1/tickets"): Row(
        frozenset({B, S}), Owner.order, lambda w: application(w.order_id, ("L1", 1))
    ),
    ("GET", "/v1/tickets"): Row(EVERYONE),
    ("GET", "/v1/tickets/{ticket_no}"): Row(TICKET_READERS[TicketPart.summary], Owner.ticket),
    ("GET", "/v1/tickets/{ticket_no}/return-label"): Row(
        TICKET_READERS[TicketPart.shipments], Owner.ticket
    ),
    **dict(
        [
            _action(Action.approve, {}),
            _action(Action.reject, {"reason_code": "used"}),
            _action(Action.return_shipment, {"carrier": "SF", "tracking_no": "SFMATRIX0001"}),
            _action(Action.cancel, {}),
            _action(Action.escalate, {"reason": "matrix"}),
            _action(
                Action.inspection, {"lines": [{"line_id": "L1", "accepted": 1, "rejected": 0}]}
            ),
            _action(Action.resolve_inspection, {"decision": "return_to_buyer"}),
            _action(Action.reship, {"carrier": "SF", "tracking_no": "SFMATRIX0002"}),
            _action(Action.confirm_receipt, {}),
            _action(Action.arbitrate, {"decision": "reject", "note": "matrix"}),
            _action(Action.second_approval, {"decision": "decline"}),
            _action(Action.retry_refund, {}),
            _action(Action.evidence, {"photos": ["https://img.example/matrix.jpg"]}),
        ]
    ),
    ("POST", "/v1/tickets/{ticket_no}/messages"): Row(
        TICKET_READERS[TicketPart.messages], Owner.ticket, {"body": "matrix"}
    ),
    ("GET", "/v1/tickets/{ticket_no}/messages"): Row(
        TICKET_READERS[TicketPart.messages], Owner.ticket
    ),
    ("GET", "/v1/merchants/{merchant_id}/policy"): Row(frozenset({M, S}), Owner.merchant),
    ("PUT", "/v1/merchants/{merchant_id}/policy"): Row(frozenset({M, S}), Owner.merchant, {}),
    ("GET", "/v1/merchants/{merchant_id}/rules"): Row(frozenset({M, S}), Owner.merchant),
    ("PUT", "/v1/merchants/{merchant_id}/rules"): Row(
        frozenset({M, S}), Owner.merchant, {"rules": []}
    ),
    ("POST", "/v1/merchants/{merchant_id}/rules/test"): Row(
        frozenset({M, S}), Owner.merchant, {"rules": [], "facts": FACTS}
    ),
    ("POST", "/v1/merchants/{merchant_id}/rules/what-if"): Row(
        frozenset({M, S}), Owner.merchant, {"rules": [], "period_from": "2026-01-01T00:00:00Z"}
    ),
    ("GET", "/v1/merchants/{merchant_id}/rules/what-if/{run_id}"): Row(
        frozenset({M, S}), Owner.merchant, params=_what_if
    ),
    # A run names its tickets in the body; one that is not the caller's fails inside the run.
    ("POST", "/v1/tickets/bulk/approve"): Row(frozenset({M}), body=_bulk_of),
    ("POST", "/v1/tickets/bulk/reject"): Row(
        frozenset({M}), body=lambda w: {**_bulk_of(w), "reason_code": "used"}
    ),
    ("POST", "/v1/tickets/bulk/inspection-pass"): Row(frozenset({W}), body=_bulk_of),
    ("GET", "/v1/tickets/bulk/{bulk_id}"): Row(frozenset({M, W}), Owner.bulk),
    ("PUT", "/v1/merchants/{merchant_id}/catalogue/{sku}"): Row(
        frozenset({P}),
        body={"title": "matrix tee", "currency": "CNY", "unit_price": 1500},
        params=_catalogue_item,
    ),
    ("GET", "/v1/merchants/{merchant_id}/catalogue/{sku}"): Row(
        frozenset({P, M, S}), Owner.catalogue_item, params=_catalogue_item
    ),
    # The ticket owes no price difference: the platform's call is answered 409.
    ("POST", "/v1/tickets/{ticket_no}/difference-payment"): Row(
        frozenset({P}), Owner.ticket, {"reference": "matrix", "amount": 1, "currency": "CNY"}
    ),
    ("GET", "/v1/watchlist"): Row(frozenset({S})),
    ("PUT", "/v1/watchlist/{buyer_id}"): Row(
        frozenset({S}), body={"reason": "matrix"}, params=_watched
    ),
    ("DELETE", "/v1/watchlist/{buyer_id}"): Row(frozenset({S}), params=_watched),
    ("GET", "/v1/inbox"): Row(frozenset({B, M})),
    ("POST", "/v1/inbox/{notification_id}/read"): Row(frozenset({B, M}), Owner.notification),
    ("GET", "/v1/reports/summary"): Row(frozenset({M, S})),
    ("GET", "/v1/dashboard"): Row(frozenset({M, S})),
    ("POST", "/v1/warehouse/scans"): Row(frozenset({W}), body={"code": "NOPE-000000"}),
    ("GET", "/v1/buyers/{buyer_id}/credit"): Row(frozenset({B, S}), Owner.buyer),
    # Support's key API, on a key of the watched buyer issued for the matrix (revoked last).
    ("POST", "/v1/keys"): Row(
        frozenset({S}), body=lambda w: {"role": "buyer", "subject_id": w.watched, "label": "m"}
    ),
    ("GET", "/v1/keys"): Row(frozenset({S})),
    ("POST", "/v1/keys/{key_id}/rotate"): Row(frozenset({S}), body={}),
    ("POST", "/v1/keys/{key_id}/expire"): Row(frozenset({S}), body={"at": "2999-01-01T00:00:00Z"}),
    ("POST", "/v1/keys/{key_id}/revoke"): Row(frozenset({S})),
}


def _app_routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves; HEAD comes with GET."""
    return [
        (method, str(route.path))
        for route in iter_route_contexts(create_app().routes)
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def test_every_route_of_the_app_has_its_row_and_every_row_its_route() -> None:
    routes = _app_routes()

    assert len(routes) == len(set(routes))
    assert sorted(set(routes) - set(TABLE)) == [], "routes without a row in TABLE"
    assert sorted(set(TABLE) - set(routes)) == [], "rows of routes the app does not serve"


async def _fresh_shop(stack: Stack) -> tuple[str, str]:
    """A merchant and its warehouse of their own, so the matrix's writes touch no other test."""
    merchant_id, warehouse_id = f"m-x{uuid.uuid4().hex[:8]}", f"wh-x{uuid.uuid4().hex[:8]}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant_id, name="Matrix shop"))
        await session.flush()
        session.add(
            Warehouse(
                warehouse_id=warehouse_id,
                merchant_id=merchant_id,
                name="Matrix returns",
                address="1 Matrix Rd",
            )
        )
        for role, subject in ((M, merchant_id), (W, warehouse_id)):
            stack.keys[f"{role}:{subject}"] = await issue_key(session, role, subject, "matrix")
    return f"merchant:{merchant_id}", f"warehouse:{warehouse_id}"


async def _first_notification(stack: Stack, label: str) -> int:
    async with asyncio.timeout(30), stack.client(label) as http:
        while True:
            items = (await http.get("/v1/inbox")).json()["items"]
            if items:
                return int(items[0]["notification_id"])
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def world(stack: Stack) -> World:
    merchant, warehouse = await _fresh_shop(stack)
    other_merchant, other_warehouse = await _fresh_shop(stack)
    buyer, other_buyer, watched = [await stack.new_buyer() for _ in range(3)]
    order_id = new_order_id("MTX")
    order = order_body(
        [line("L1", 1, 1500), line("L2", 1, 800)],
        buyer=buyer_id(buyer),
        merchant=merchant.partition(":")[2],
        status="delivered",
        delivered_at=recently(),
    )
    order["shipping_address"] = "1 Matrix Road, Shanghai"  # so the approval gets a return label
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post(
            "/v1/tickets", json=application(order_id, ("L1", 1), type="return_refund")
        )
    assert created.status_code == 201, created.text
    ticket_no = created.json()["ticket_no"]
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
    async with stack.client(merchant) as shop:
        approved = await shop.post(
            f"/v1/tickets/{ticket_no}/approve",
            json={"warehouse_id": warehouse.partition(":")[2]},
        )
    assert approved.status_code == 200, approved.text
    assert (await labelled(stack, buyer, ticket_no))["return_label"] is not None
    async with stack.client("platform:shop") as platform:
        listed = await platform.put(
            f"/v1/merchants/{merchant.partition(':')[2]}/catalogue/{CATALOGUE_SKU}",
            json={"title": "matrix tee", "currency": "CNY", "unit_price": 1500},
        )
    assert listed.status_code == 200, listed.text
    async with stack.client("support:s-1") as support:
        put = await support.put(f"/v1/watchlist/{buyer_id(watched)}", json={"reason": "matrix"})
    assert put.status_code == 200, put.text
    async with stack.sessions.begin() as session:
        plain = await issue_key(session, B, buyer_id(watched), "matrix")
        key_id = await session.scalar(
            select(ApiKey.key_id).where(ApiKey.key_hash == hash_key(plain))
        )
    world = World(
        ticket_no=ticket_no,
        order_id=order_id,
        order=order,
        watched=buyer_id(watched),
        key_id=int(key_id or 0),
        own={B: buyer, M: merchant, W: warehouse, S: "support:s-1", P: "platform:shop"},
        foreign={B: other_buyer, M: other_merchant, W: other_warehouse},
    )
    for role in (B, M):
        world.notifications[role] = await _first_notification(stack, world.own[role])
    async with stack.client(merchant) as shop:
        started = await shop.post(
            f"/v1/merchants/{world.subject(M)}/rules/what-if",
            json={"rules": [], "period_from": "2026-01-01T00:00:00Z"},
        )
    assert started.status_code == 202, started.text
    world.what_if = started.json()["run_id"]
    for role, action in ((M, "approve"), (W, "inspection-pass")):
        async with stack.client(world.own[role]) as http:
            run = await http.post(f"/v1/tickets/bulk/{action}", json=_bulk_of(world))
        assert run.status_code == 202, run.text
        world.bulks[role] = run.json()["bulk_id"]
    return world


def _path(template: str, row: Row, world: World, role: Role) -> str:
    """The path naming `role`'s own objects (the buyer's where the role has none)."""
    mine = role if role in (B, M) else B
    values = {
        "ticket_no": world.ticket_no,
        "order_id": world.order_id,
        "merchant_id": world.subject(M),
        "buyer_id": world.subject(B),
        "notification_id": str(world.notifications[mine]),
        "provider": "sandbox",
        "carrier": "sf",
        "name": "station.js",
        "key_id": str(world.key_id),
        "bulk_id": world.bulks.get(role, world.bulks[M]),
        **(row.params(world) if row.params else {}),
    }
    return template.format(**values)


async def _call(
    stack: Stack, label: str | None, method: str, path: str, body: Any
) -> httpx.Response:
    async with stack.client(label) as http:
        return await http.request(method, path, json=body if method != "GET" else None)


def _expected(row: Row, role: Role, foreign: bool) -> str:
    """What a caller of `role` must get: a refusal code, or "allowed"."""
    assert row.roles is not None
    if role not in row.roles:
        return "forbidden_role"
    if foreign and row.owner is not None:
        return str(row.owner)
    return "allowed"


def _verdict(response: httpx.Response) -> str:
    if response.status_code in (401, 403, 404):
        return str(response.json().get("code"))
    if response.status_code == 429:
        return "rate_limited"  # the test stack is meant to have limits this never meets
    if response.status_code >= 500:
        return f"server_error {response.status_code}"
    return "allowed"


@pytest.mark.parametrize(("method", "template"), list(TABLE))
async def test_each_role_gets_what_the_tables_say(
    stack: Stack, world: World, method: str, template: str
) -> None:
    row = TABLE[(method, template)]
    body = row.body(world) if callable(row.body) else row.body
    anonymous = await _call(stack, None, method, _path(template, row, world, B), body)
    if row.roles is None:
        # No API key matters here: every key gets what no key gets, and never a role's 403.
        answers = {
            label: (await _call(stack, label, method, _path(template, row, world, B), body))
            for label in [*world.own.values(), *world.foreign.values()]
        }
        assert anonymous.status_code < 500 and anonymous.status_code != 403, anonymous.text
        assert {label: a.status_code for label, a in answers.items()} == dict.fromkeys(
            answers, anonymous.status_code
        )
        return

    got, wanted = {}, {}
    for role in Role:
        path = _path(template, row, world, role)
        callers = [(world.own[role], False)]
        if role in world.foreign:
            callers.append((world.foreign[role], True))
        for label, foreign in callers:
            response = await _call(stack, label, method, path, body)
            got[label] = (_verdict(response), response.status_code)
            wanted[label] = (_expected(row, role, foreign), got[label][1])
            if wanted[label][0] == "forbidden_role":
                wanted[label] = ("forbidden_role", 403)
            elif wanted[label][0] != "allowed":
                wanted[label] = (wanted[label][0], 404)

    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    assert got == wanted
