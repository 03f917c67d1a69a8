"""`python -m stack.seed`: the demo marketplace, created once and kept across restarts.

Two merchants with a warehouse each, three buyers, support and platform keys, and orders in every
state with discounts, shipping fees and several currencies. The plain API keys are printed and
written to `<data dir>/demo-keys.json`; the database keeps only their hashes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role, authenticate, issue_key
from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from observability.logs import configure_from_environment
from persistence.db import make_engine, make_session_factory
from persistence.models import Buyer, Merchant, Warehouse
from persistence.orders import get_order, upsert_order

log = logging.getLogger("aftersales.seed")

MERCHANTS = [
    ("m-1001", "Lotus Tea House", "zh-CN", "wh-1001", "Hangzhou DC, 18 Wenyi Rd, Hangzhou"),
    ("m-2002", "Pacific Outfitters", "en", "wh-2002", "Reno Returns Center, 400 Sierra Ave, Reno"),
]
BUYERS = [
    ("b-501", "Li Wei", "li.wei@example.test", "zh-CN"),
    ("b-502", "Emma Clarke", "emma.clarke@example.test", "en"),
    ("b-503", "Chen Jing", "chen.jing@example.test", "zh-CN"),
    # The buyer of the tour's merchant-rule flows, at the shop whose rules the tour sets.
    ("b-504", "Sofia Rossi", "sofia.rossi@example.test", "en"),
]
# Where each demo buyer's orders were delivered: a return label's sender.
ADDRESSES = {
    "b-501": "上海市浦东新区世纪大道 100 号 5801 室",
    "b-502": "12 Harbour Street, Flat 3, Kowloon, Hong Kong",
    "b-503": "北京市朝阳区建国路 88 号 SOHO 现代城 2 号楼 1203",
    "b-504": "Via Roma 21, 20121 Milano, Italy",
}
PRINCIPALS = [
    ("buyer:b-501", Role.buyer, "b-501"),
    ("buyer:b-502", Role.buyer, "b-502"),
    ("buyer:b-503", Role.buyer, "b-503"),
    ("buyer:b-504", Role.buyer, "b-504"),
    ("merchant:m-1001", Role.merchant, "m-1001"),
    ("merchant:m-2002", Role.merchant, "m-2002"),
    ("warehouse:wh-1001", Role.warehouse, "wh-1001"),
    ("warehouse:wh-2002", Role.warehouse, "wh-2002"),
    ("support:s-1", Role.support, "s-1"),
    ("platform:shop", Role.platform, None),
]


def _line(line_id: str, sku: str, title: str, qty: int, price: int, discount: int = 0) -> OrderLine:
    return OrderLine(
        line_id=line_id, sku=sku, title=title, quantity=qty, unit_price=price, discount=discount
    )


def _order(
    order_id: str,
    buyer: str,
    merchant: str,
    currency: str,
    lines: list[OrderLine],
    shipping: int,
    status: OrderStatus,
    method: str,
    now: datetime,
) -> OrderSnapshot:
    shipped = delivered = None
    if status is not OrderStatus.paid:
        shipped = now - timedelta(days=4)
    if status in (OrderStatus.delivered, OrderStatus.completed):
        delivered = now - timedelta(days=2)
    return OrderSnapshot(
        order_id=order_id,
        buyer_id=buyer,
        merchant_id=merchant,
        currency=currency,
        lines=lines,
        shipping_fee=shipping,
        payment=Payment(
            provider="sandbox",
            reference=f"pay_{order_id.lower()}",
            method=method,
            paid_total=sum(line.cost for line in lines) + shipping,
        ),
        status=status,
        shipped_at=shipped,
        delivered_at=delivered,
        shipping_address=ADDRESSES.get(buyer),
        version=1,
    )


def demo_orders(now: datetime) -> list[OrderSnapshot]:
    paid, shipped = OrderStatus.paid, OrderStatus.shipped
    delivered, completed = OrderStatus.delivered, OrderStatus.completed
    tea = _line("L1", "TEA-LJ-250", "Longjing green tea 250 g", 2, 8800, 1000)
    cups = _line("L2", "CUP-CEL-2", "Celadon tea cups, pair", 1, 12900)
    return [
        _order("DEMO-CNY-1001", "b-501", "m-1001", "CNY", [tea, cups], 1000, paid, "wallet", now),
        _order(
            "DEMO-CNY-1002",
            "b-501",
            "m-1001",
            "CNY",
            [_line("L1", "TEA-PUER-357", "Pu'er cake 357 g", 3, 3333)],
            800,
            paid,
            "card",
            now,
        ),
        _order(
            "DEMO-CNY-1003",
            "b-502",
            "m-1001",
            "CNY",
            [_line("L1", "POT-ZISHA", "Zisha teapot", 1, 45800, 4580)],
            0,
            paid,
            "wallet",
            now,
        ),
        _order(
            "DEMO-CNY-1004",
            "b-501",
            "m-1001",
            "CNY",
            [_line("L1", "TBL-ROSEWOOD", "Rosewood tea table", 1, 699900, 20000)],
            0,
            paid,
            "card",
            now,
        ),
        _order(
            "DEMO-USD-2001",
            "b-502",
            "m-2002",
            "USD",
            [
                _line("L1", "JKT-RAIN-M", "Rain jacket, M", 1, 12999, 1300),
                _line("L2", "SCK-WOOL-3", "Wool socks", 3, 899),
            ],
            599,
            paid,
            "card",
            now,
        ),
        _order(
            "DEMO-JPY-2002",
            "b-501",
            "m-2002",
            "JPY",
            [_line("L1", "CAP-TRAIL", "Trail cap", 2, 3200, 400)],
            500,
            paid,
            "wallet",
            now,
        ),
        _order(
            "DEMO-KWD-2003",
            "b-502",
            "m-2002",
            "KWD",
            [_line("L1", "BAG-DUFFEL", "Duffel bag", 1, 24500, 2450)],
            1500,
            paid,
            "card",
            now,
        ),
        _order("DEMO-CNY-1101", "b-501", "m-1001", "CNY", [tea], 1000, shipped, "wallet", now),
        _order("DEMO-CNY-1102", "b-502", "m-1001", "CNY", [cups], 0, delivered, "card", now),
        _order(
            "DEMO-USD-2101",
            "b-502",
            "m-2002",
            "USD",
            [_line("L1", "BOOT-HIKE-42", "Hiking boots, 42", 1, 18900, 1890)],
            0,
            completed,
            "card",
            now,
        ),
    ]


async def _parties(session: AsyncSession) -> None:
    for merchant_id, name, locale, warehouse_id, address in MERCHANTS:
        if await session.get(Merchant, merchant_id) is None:
            session.add(Merchant(merchant_id=merchant_id, name=name, locale=locale))
            await session.flush()
        if await session.get(Warehouse, warehouse_id) is None:
            session.add(
                Warehouse(
                    warehouse_id=warehouse_id,
                    merchant_id=merchant_id,
                    name=f"{name} returns",
                    address=address,
                )
            )
    for buyer_id, name, email, locale in BUYERS:
        if await session.get(Buyer, buyer_id) is None:
            session.add(Buyer(buyer_id=buyer_id, name=name, email=email, locale=locale))


async def _keys(
    session: AsyncSession, known: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Reuse the keys of an earlier seed when they are still valid; issue the missing ones."""
    keys: dict[str, dict[str, Any]] = {}
    for label, role, subject in PRINCIPALS:
        entry = known.get(label)
        if entry and await authenticate(session, entry["api_key"]) is not None:
            keys[label] = entry
            continue
        plain = await issue_key(session, role, subject, f"demo {label}")
        keys[label] = {"role": str(role), "subject_id": subject, "api_key": plain}
    return keys


async def seed(
    database_url: str, known_keys: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Create what is missing of the demo marketplace; returns its API keys by label."""
    engine = make_engine(database_url, pool_size=1)
    sessions = make_session_factory(engine)
    try:
        async with sessions.begin() as session:
            await _parties(session)
            keys = await _keys(session, known_keys)
            for order in demo_orders(datetime.now(UTC)):
                # Existing demo orders keep whatever happened to them since.
                if await get_order(session, order.order_id) is None:
                    await upsert_order(session, order)
    finally:
        await engine.dispose()
    return keys


def main() -> None:
    settings = configure_from_environment()
    keys_file = settings.data_dir / "demo-keys.json"
    known = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    keys = asyncio.run(seed(settings.require_database_url(), known))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps(keys, indent=2) + "\n")
    keys_file.chmod(0o600)
    log.info("demo marketplace ready; %d API keys in %s", len(keys), keys_file)


if __name__ == "__main__":
    main()
