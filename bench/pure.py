"""Medians of the hot pure paths (money, signatures, FX), measured in one run on this machine.

Timed here, never in tests: the machines are shared and noisy, so only medians and ratios
from one run are quoted.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from adapters.payments.signing import sign, verify
from domain.fx import convert
from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from domain.reasons import ReasonCode
from domain.refund_terms import PriorRefunds, RefundPolicy, RefundRequest, RequestedLine
from domain.refunds import quote_refund

ROUNDS = 15


def _order(lines: int) -> OrderSnapshot:
    order_lines = [
        OrderLine(
            line_id=f"L{i}", sku=f"S{i}", title="item", quantity=7, unit_price=1999, discount=13
        )
        for i in range(lines)
    ]
    return OrderSnapshot(
        order_id="BENCH",
        buyer_id="b",
        merchant_id="m",
        currency="CNY",
        lines=order_lines,
        shipping_fee=800,
        payment=Payment(
            provider="sandbox",
            reference="p",
            method="card",
            paid_total=sum(x.cost for x in order_lines) + 800,
        ),
        status=OrderStatus.paid,
        version=1,
    )


def _median_us(action: Callable[[], object], number: int) -> float:
    runs = timeit.repeat(action, number=number, repeat=ROUNDS)
    return statistics.median(runs) / number * 1e6


def _quoting(
    order: OrderSnapshot, request: RefundRequest, policy: RefundPolicy
) -> Callable[[], object]:
    return lambda: quote_refund(order, PriorRefunds(), request, policy)


def measure() -> dict[str, float]:
    """Microseconds per call, each the median of `ROUNDS` rounds."""
    policy = RefundPolicy()
    results = {}
    for size in (1, 10, 50):
        order = _order(size)
        request = RefundRequest(
            lines=[RequestedLine(line_id=x.line_id, quantity=3) for x in order.lines],
            reason_code=ReasonCode.no_longer_needed,
        )
        results[f"quote_refund, {size} line(s)"] = _median_us(_quoting(order, request, policy), 200)
    body = b'{"id":"evt_1","type":"refund.succeeded"}' * 20
    header = sign("whsec", body, 1_700_000_000)
    results["webhook signature verify, 800 B"] = _median_us(
        lambda: verify("whsec", header, body, now=1_700_000_000, tolerance_seconds=300), 2000
    )
    rate, as_of = Decimal("151.237"), datetime(2026, 1, 2, tzinfo=UTC)
    results["fx convert, USD 12.34 -> JPY"] = _median_us(
        lambda: convert(1234, "USD", "JPY", rate, source="bench", as_of=as_of), 2000
    )
    return results
