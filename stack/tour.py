"""`python -m stack.tour`: every flow of the product, driven through the API of a running engine.

Each flow puts a fresh order as the platform, then acts as buyer, merchant, warehouse and support
would, and prints the ticket's timeline. Flows that wait for a deadline to act (`--deadlines`) are
meant for an engine started with shortened deadlines, e.g. `DEADLINE_MERCHANT_REVIEW=PT20S`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from settings import get_settings

Ticket = dict[str, Any]


class Tour:
    def __init__(
        self,
        api_url: str,
        keys: dict[str, str],
        timeout: float,
        courier: tuple[str, str] | None = None,
        labels: Path | None = None,
    ) -> None:
        self._api = api_url
        self._keys = keys
        self._timeout = timeout
        # The sandbox courier's address and API key, to scan a parcel as a courier would.
        self._courier = courier
        # Where the buyers' return labels are saved, as they would print them.
        self._labels = labels

    def _as(self, label: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self._keys[label]}"}
        return httpx.Client(base_url=self._api, headers=headers, timeout=30)

    def call(self, label: str, method: str, path: str, body: Any = None) -> Any:
        with self._as(label) as http:
            response = http.request(method, path, json=body)
        if response.status_code >= 400:
            raise TourError(f"{method} {path} as {label}: {response.status_code} {response.text}")
        return response.json()

    def order(
        self,
        buyer: str,
        status: str,
        unit_price: int = 15900,
        paid_days_ago: int = 3,
        merchant: str = "m-1001",
        tags: tuple[str, ...] = (),
    ) -> str:
        order_id = f"TOUR-{uuid.uuid4().hex[:8].upper()}"
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "buyer_id": buyer,
            "merchant_id": merchant,
            "currency": "CNY",
            "lines": [
                {
                    "line_id": "L1",
                    "sku": "TEA-SET",
                    "title": "Tea set",
                    "quantity": 2,
                    "unit_price": unit_price,
                    "discount": 1000,
                    "tags": list(tags),
                }
            ],
            "shipping_fee": 800,
            "payment": {
                "provider": "sandbox",
                "reference": f"pay_{order_id.lower()}",
                "method": "wallet",
                "paid_total": 2 * unit_price - 1000 + 800,
                "paid_at": (now - timedelta(days=paid_days_ago)).isoformat(),
            },
            "status": status,
            "shipping_address": f"Buyer {buyer}, 100 Century Avenue, Pudong, Shanghai",
            "version": 1,
        }
        if status != "paid":
            body["shipped_at"] = (now - timedelta(days=3)).isoformat()
        if status == "delivered":
            body["delivered_at"] = (now - timedelta(days=1)).isoformat()
        self.call("platform:shop", "PUT", f"/v1/orders/{order_id}", body)
        return order_id

    def open(
        self,
        buyer: str,
        order_id: str,
        type_: str,
        reason: str = "quality_issue",
        replacement_sku: str | None = None,
        **destination: Any,
    ) -> str:
        line: dict[str, Any] = {"line_id": "L1", "quantity": 2}
        if replacement_sku is not None:
            line["replacement_sku"] = replacement_sku
        ticket = self.call(
            f"buyer:{buyer}",
            "POST",
            "/v1/tickets",
            {
                "order_id": order_id,
                "type": type_,
                "lines": [line],
                "reason_code": reason,
                "description": "from the guided tour",
                **destination,
            },
        )
        return str(ticket["ticket_no"])

    def act(self, label: str, ticket_no: str, action: str, body: Any = None) -> Ticket:
        ticket: Ticket = self.call(label, "POST", f"/v1/tickets/{ticket_no}/{action}", body or {})
        return ticket

    def scan(self, tracking_no: str, status: str = "picked_up") -> None:
        """The courier scans a parcel: its signed webhook reaches the engine."""
        if self._courier is None:
            raise TourError("no sandbox courier to scan the parcel")
        url, api_key = self._courier
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        ) as http:
            response = http.post(
                f"/control/parcels/{tracking_no}/events", json={"status": status, "carrier": "sf"}
            )
        if response.status_code >= 400:
            raise TourError(
                f"courier scan of {tracking_no}: {response.status_code} {response.text}"
            )

    def label(self, label: str, ticket_no: str) -> Ticket:
        """The return label the courier issued on approval, its PDF saved as the buyer prints
        it; the saved file's path is in the answer (`pdf`)."""
        deadline = time.monotonic() + self._timeout
        while True:
            ticket: Ticket = self.call(label, "GET", f"/v1/tickets/{ticket_no}")
            issued: Ticket | None = ticket.get("return_label")
            if issued is not None:
                break
            if time.monotonic() > deadline:
                raise TourError(f"{ticket_no} has no return label")
            time.sleep(0.5)
        with self._as(label) as http:
            response = http.get(issued["url"])
        if response.status_code != 200 or not response.content.startswith(b"%PDF-"):
            raise TourError(f"return label of {ticket_no}: {response.status_code}")
        if self._labels is not None:
            self._labels.mkdir(parents=True, exist_ok=True)
            path = self._labels / f"{ticket_no}.pdf"
            path.write_bytes(response.content)
            issued = {**issued, "pdf": str(path)}
        return issued

    def until(self, ticket_no: str, *statuses: str) -> Ticket:
        deadline = time.monotonic() + self._timeout
        while True:
            ticket: Ticket = self.call("support:s-1", "GET", f"/v1/tickets/{ticket_no}")
            if ticket["status"] in statuses:
                return ticket
            if time.monotonic() > deadline:
                raise TourError(f"{ticket_no} is {ticket['status']}, expected {statuses}")
            time.sleep(0.5)


class TourError(RuntimeError):
    pass


def refund_before_shipment(tour: Tour) -> Ticket:
    ticket_no = tour.open("b-501", tour.order("b-501", "paid"), "refund_only", "no_longer_needed")
    return tour.until(ticket_no, "completed")


def refund_after_shipment(tour: Tour) -> Ticket:
    ticket_no = tour.open("b-502", tour.order("b-502", "shipped"), "refund_only")
    tour.until(ticket_no, "awaiting_merchant_review")
    tour.act("merchant:m-1001", ticket_no, "approve", {"note": "sorry for the trouble"})
    return tour.until(ticket_no, "completed")


def return_and_refund(tour: Tour) -> Ticket:
    """The buyer prints the courier's label and hands the parcel over: the courier's scans move
    the ticket, no tracking number is typed."""
    order_id = tour.order("b-501", "delivered")
    ticket_no = tour.open("b-501", order_id, "return_refund", "no_longer_needed")
    tour.until(ticket_no, "awaiting_merchant_review")
    tour.act("merchant:m-1001", ticket_no, "approve", {"service_fee": 1500})
    label = tour.label("buyer:b-501", ticket_no)
    print(f"\n   return label {label['tracking_no']}: {label.get('pdf', label['url'])}")
    for status in ("picked_up", "in_transit", "delivered"):
        tour.scan(label["tracking_no"], status)
    tour.until(ticket_no, "awaiting_inspection")
    tour.act("warehouse:wh-1001", ticket_no, "inspection", _inspection(accepted=2, rejected=0))
    return tour.until(ticket_no, "completed")


def exchange(tour: Tour) -> Ticket:
    ticket_no = tour.open("b-502", tour.order("b-502", "delivered"), "exchange")
    tour.until(ticket_no, "awaiting_merchant_review")
    tour.act("merchant:m-1001", ticket_no, "approve")
    tour.act("buyer:b-502", ticket_no, "return-shipment", {"carrier": "sf", "tracking_no": _no()})
    tour.act("warehouse:wh-1001", ticket_no, "inspection", _inspection(accepted=2, rejected=0))
    tour.act("merchant:m-1001", ticket_no, "reship", {"carrier": "sf", "tracking_no": _no()})
    tour.act("buyer:b-502", ticket_no, "confirm-receipt")
    return tour.until(ticket_no, "completed")


def _exchanged_for(tour: Tour, sku: str, unit_price: int) -> str:
    """An exchange of the two tea sets for two of another item the platform lists at
    `unit_price`, brought to the accepted goods."""
    tour.call(
        "platform:shop",
        "PUT",
        f"/v1/merchants/m-1001/catalogue/{sku}",
        {"title": f"Tea set ({sku})", "currency": "CNY", "unit_price": unit_price},
    )
    order_id = tour.order("b-502", "delivered")
    ticket_no = tour.open("b-502", order_id, "exchange", "wrong_size_or_model", sku)
    tour.until(ticket_no, "awaiting_merchant_review")
    tour.act("merchant:m-1001", ticket_no, "approve")
    tour.act("buyer:b-502", ticket_no, "return-shipment", {"carrier": "sf", "tracking_no": _no()})
    tour.act("warehouse:wh-1001", ticket_no, "inspection", _inspection(accepted=2, rejected=0))
    return ticket_no


def _replacement_received(tour: Tour, ticket_no: str) -> Ticket:
    tour.until(ticket_no, "awaiting_reship")
    tour.act("merchant:m-1001", ticket_no, "reship", {"carrier": "sf", "tracking_no": _no()})
    tour.act("buyer:b-502", ticket_no, "confirm-receipt")
    return tour.until(ticket_no, "completed")


def exchange_for_a_cheaper_item(tour: Tour) -> Ticket:
    """2 x (129.00 - 159.00): the 60.00 difference is refunded before the replacement ships."""
    ticket_no = _exchanged_for(tour, "TEA-SET-SMALL", 12900)
    return _replacement_received(tour, ticket_no)


def exchange_for_a_dearer_item(tour: Tour) -> Ticket:
    """2 x (169.00 - 159.00): the platform confirms the buyer paid 20.00, then it ships."""
    ticket_no = _exchanged_for(tour, "TEA-SET-DELUXE", 16900)
    waiting = tour.until(ticket_no, "awaiting_difference_payment")
    due = waiting["exchange"]["due"]
    tour.call(
        "platform:shop",
        "POST",
        f"/v1/tickets/{ticket_no}/difference-payment",
        {"reference": f"pay_{ticket_no.lower()}_diff", "amount": due, "currency": "CNY"},
    )
    return _replacement_received(tour, ticket_no)


def failed_inspection(tour: Tour) -> Ticket:
    ticket_no = tour.open("b-501", tour.order("b-501", "delivered"), "return_refund")
    tour.until(ticket_no, "awaiting_merchant_review")
    tour.act("merchant:m-1001", ticket_no, "approve")
    tour.act("buyer:b-501", ticket_no, "return-shipment", {"carrier": "yto", "tracking_no": _no()})
    tour.act("warehouse:wh-1001", ticket_no, "inspection", _inspection(accepted=1, rejected=1))
    tour.act(
        "merchant:m-1001",
        ticket_no,
        "resolve-inspection",
        {"decision": "partial_refund", "amount": 10000},
    )
    return tour.until(ticket_no, "completed")


def rejection_and_arbitration(tour: Tour) -> Ticket:
    ticket_no = tour.open("b-502", tour.order("b-502", "shipped"), "refund_only")
    tour.until(ticket_no, "awaiting_merchant_review")
    tour.act("merchant:m-1001", ticket_no, "reject", {"reason_code": "no_evidence"})
    tour.act("buyer:b-502", ticket_no, "escalate", {"reason": "the parcel arrived broken"})
    tour.act(
        "support:s-1",
        ticket_no,
        "arbitrate",
        {"decision": "partial_refund", "amount": 20000, "note": "photos show damage"},
    )
    return tour.until(ticket_no, "completed")


def seller_timeout(tour: Tour) -> Ticket:
    ticket_no = tour.open("b-502", tour.order("b-502", "shipped"), "refund_only")
    return tour.until(ticket_no, "completed")


def buyer_timeout(tour: Tour) -> Ticket:
    ticket_no = tour.open("b-501", tour.order("b-501", "delivered"), "return_refund")
    tour.until(ticket_no, "awaiting_merchant_review")
    tour.act("merchant:m-1001", ticket_no, "approve")
    return tour.until(ticket_no, "cancelled")


def refund_to_balance_in_usd(tour: Tour) -> Ticket:
    order_id = tour.order("b-503", "paid")
    ticket_no = tour.open(
        "b-503",
        order_id,
        "refund_only",
        "no_longer_needed",
        destination="balance",
        balance_currency="USD",
    )
    return tour.until(ticket_no, "completed")


def refund_by_bank_transfer(tour: Tour) -> Ticket:
    account = {"holder_name": "Li Wei", "iban": "DE89370400440532013000"}
    order_id = tour.order("b-502", "paid")
    ticket_no = tour.open(
        "b-502",
        order_id,
        "refund_only",
        "no_longer_needed",
        destination="bank_transfer",
        bank_account=account,
    )
    return tour.until(ticket_no, "completed")


def payment_too_old(tour: Tour) -> Ticket:
    order_id = tour.order("b-503", "paid", paid_days_ago=200)
    ticket_no = tour.open("b-503", order_id, "refund_only", "no_longer_needed")
    return tour.until(ticket_no, "completed")


# The shop whose rules the tour sets (Pacific Outfitters), its buyer and its warehouse.
RULES_SHOP, RULES_BUYER, RULES_WAREHOUSE = "m-2002", "b-504", "wh-2002"
SHOP_RULES = [
    {
        "id": "keep-cheap",
        "name": "cheap items stay with the buyer",
        "when": "'tour-keep' in tags && quoted_amount <= 50000",
        "then": {"approve": True, "keep_item": True},
    },
    {
        "id": "fast-refund",
        "name": "trusted buyers get their money at the courier's first scan",
        "when": "'tour-fast' in tags && refunds_90d < 3",
        "then": {"approve": True, "refund_release": "on_first_scan"},
    },
    {
        "id": "credit-bonus",
        "name": "10 % more as store credit",
        "when": "'tour-bonus' in tags && fault == 'buyer'",
        "then": {"approve": True, "store_credit_bonus_percent": 10},
    },
]


def _ruled_return(tour: Tour, tag: str, **destination: Any) -> str:
    """A return at the shop whose rules the tour sets, on an item tagged `tag`."""
    tour.call(
        f"merchant:{RULES_SHOP}", "PUT", f"/v1/merchants/{RULES_SHOP}/rules", {"rules": SHOP_RULES}
    )
    order_id = tour.order(
        RULES_BUYER, "delivered", unit_price=9900, merchant=RULES_SHOP, tags=(tag,)
    )
    return tour.open(RULES_BUYER, order_id, "return_refund", "no_longer_needed", **destination)


def keep_the_item(tour: Tour) -> Ticket:
    return tour.until(_ruled_return(tour, "tour-keep"), "completed")


def fast_refund_on_first_scan(tour: Tour) -> Ticket:
    ticket_no = _ruled_return(tour, "tour-fast")
    tour.until(ticket_no, "awaiting_buyer_return")
    tracking_no = _no()
    tour.act(
        f"buyer:{RULES_BUYER}",
        ticket_no,
        "return-shipment",
        {"carrier": "sf", "tracking_no": tracking_no},
    )
    tour.scan(tracking_no)
    return tour.until(ticket_no, "completed")


def store_credit_with_a_bonus(tour: Tour) -> Ticket:
    ticket_no = _ruled_return(tour, "tour-bonus", destination="balance")
    tour.until(ticket_no, "awaiting_buyer_return")
    tour.act(
        f"buyer:{RULES_BUYER}",
        ticket_no,
        "return-shipment",
        {"carrier": "sf", "tracking_no": _no()},
    )
    tour.act(
        f"warehouse:{RULES_WAREHOUSE}", ticket_no, "inspection", _inspection(accepted=2, rejected=0)
    )
    return tour.until(ticket_no, "completed")


def _no() -> str:
    return f"SF{uuid.uuid4().int % 10**12:012d}"


def _inspection(accepted: int, rejected: int) -> dict[str, Any]:
    return {
        "lines": [{"line_id": "L1", "accepted": accepted, "rejected": rejected}],
        "note": "one cup chipped" if rejected else "as new",
    }


FLOWS: dict[str, Callable[[Tour], Ticket]] = {
    "refund before shipment": refund_before_shipment,
    "refund after shipment": refund_after_shipment,
    "return and refund, with service fee": return_and_refund,
    "exchange": exchange,
    "exchange for a cheaper item: the difference refunded": exchange_for_a_cheaper_item,
    "exchange for a dearer item: the difference paid": exchange_for_a_dearer_item,
    "failed inspection, partial refund": failed_inspection,
    "rejection, escalation, arbitration": rejection_and_arbitration,
    "refund to store credit in USD": refund_to_balance_in_usd,
    "refund by bank transfer": refund_by_bank_transfer,
    "payment too old to refund: store credit instead": payment_too_old,
    "merchant rule: the buyer keeps the item": keep_the_item,
    "merchant rule: fast refund on the courier's first scan": fast_refund_on_first_scan,
    "merchant rule: store credit with a 10 % bonus": store_credit_with_a_bonus,
}
DEADLINE_FLOWS: dict[str, Callable[[Tour], Ticket]] = {
    "merchant silent: approved automatically": seller_timeout,
    "buyer never ships back: cancelled": buyer_timeout,
}


def _print(name: str, ticket: Ticket) -> None:
    print(
        f"\n== {name}: {ticket['ticket_no']} {ticket['status']}, "
        f"refunded {ticket['refunded_amount']} {ticket['currency']}"
    )
    for step in ticket["timeline"]:
        print(
            f"   {step['at'][11:19]}  {step['actor_role']:<9} {step['to_status']:<26} "
            f"{step['reason']}"
        )


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default=f"http://127.0.0.1:{settings.api_port}")
    parser.add_argument("--keys", type=Path, default=Path(settings.data_dir) / "demo-keys.json")
    parser.add_argument("--deadlines", action="store_true", help="also wait for deadlines")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per flow")
    parser.add_argument(
        "--labels",
        type=Path,
        default=Path(settings.data_dir) / "labels",
        help="where the buyers' return labels are saved as PDF",
    )
    args = parser.parse_args(argv)
    keys = {label: entry["api_key"] for label, entry in json.loads(args.keys.read_text()).items()}
    sandbox = settings.courier_sandbox
    # As the run command's launcher finds it: its own port unless an address is set.
    url = sandbox.url if "COURIER_SANDBOX_URL" in os.environ else f"http://127.0.0.1:{sandbox.port}"
    courier = (url, sandbox.api_key.get_secret_value())
    tour = Tour(args.api, keys, args.timeout, courier, args.labels)
    flows = FLOWS | (DEADLINE_FLOWS if args.deadlines else {})
    failed = 0
    for name, flow in flows.items():
        try:
            _print(name, flow(tour))
        except TourError as error:
            failed += 1
            print(f"\n!! {name}: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
