"""What the simulation knows of the world it drives: its orders and tickets, its clients, its log.

Everything it knows about a ticket's state it reads back from the engine (`records`); here are
only the facts it created itself (who the buyer is, what was paid, which parcel was shipped).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.reasons import is_merchant_fault
from tests.support.stack import Stack

MERCHANT = "merchant:m-1001"
WAREHOUSE = "warehouse:wh-1001"
SUPPORT = "support:s-1"
PLATFORM = "platform:shop"
COURIER = "courier"
PROVIDER = "provider"


def principal(label: str) -> tuple[str, str]:
    """(role, subject) of a client label such as `buyer:b-1a2b`."""
    role, _, subject = label.partition(":")
    return role, subject


@dataclass
class SimOrder:
    order_id: str
    buyer: str  # the client label of its buyer
    reference: str  # the payment reference at the provider
    paid_total: int
    lines: dict[str, int]
    shipped: bool
    # The provider was told to send a refund of this order back after it succeeded: its ended
    # tickets may be reopened.
    may_reverse: bool = False


@dataclass
class SimTicket:
    ticket_no: str
    kind: str
    type: str
    order: SimOrder
    reason_code: str
    lines: dict[str, int]
    quoted: int
    # The return parcel, once the buyer's shipping was answered 200.
    tracking_no: str | None = None
    parcel_final: bool = False

    @property
    def buyer(self) -> str:
        return self.order.buyer

    @property
    def merchant_fault(self) -> bool:
        return is_merchant_fault(self.reason_code)

    def parcel_code(self) -> str:
        return f"SF-{self.ticket_no}"


@dataclass
class World:
    stack: Stack
    rng: random.Random
    orders: dict[str, SimOrder] = field(default_factory=dict)
    tickets: dict[str, SimTicket] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def client(self, label: str) -> httpx.AsyncClient:
        """One client per principal for the whole run (`courier`, `provider`: the sandboxes)."""
        if label not in self._clients:
            if label == COURIER:
                self._clients[label] = self.stack.courier()
            elif label == PROVIDER:
                self._clients[label] = self.stack.sandbox()
            else:
                self._clients[label] = self.stack.client(label)
        return self._clients[label]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    def note(self, step: int, text: str) -> None:
        self.log.append(f"{step:4d} {text}")

    def pick(self, items: list[Any]) -> Any:
        return items[self.rng.randrange(len(items))]
