"""The filters of `tickets search` and `tickets export`, on the API's listing query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer
from sqlalchemy import Select

from domain.risk import RiskLevel
from domain.tickets import TicketStatus, TicketType
from persistence.models import Ticket
from persistence.tickets import Scope, TicketFilter, listed

Merchant = Annotated[str | None, typer.Option("--merchant", help="the merchant's id")]
Buyer = Annotated[str | None, typer.Option("--buyer", help="the buyer's id")]
OrderId = Annotated[str | None, typer.Option("--order", help="the order's id")]
Status = Annotated[TicketStatus | None, typer.Option("--status", help="the ticket's status")]
Kind = Annotated[TicketType | None, typer.Option("--type", help="the ticket's type")]
Escalated = Annotated[bool, typer.Option("--escalated", help="only tickets escalated to support")]
Risk = Annotated[RiskLevel | None, typer.Option("--risk", help="the buyer's risk level")]


@dataclass(frozen=True)
class TicketFilters:
    merchant: str | None = None
    buyer: str | None = None
    order: str | None = None
    status: TicketStatus | None = None
    type: TicketType | None = None
    escalated: bool = False
    risk: RiskLevel | None = None

    def query(self) -> Select[Ticket]:
        """Support's view of every ticket (api.scopes), narrowed as `GET /v1/tickets` narrows
        it, then by escalation and risk, which the API's list does not filter on."""
        query = listed(
            Scope(buyer_id=self.buyer, merchant_id=self.merchant),
            TicketFilter(type=self.type, status=self.status, order_id=self.order),
        )
        if self.escalated:
            query = query.where(Ticket.escalated.is_(True))
        if self.risk is not None:
            query = query.where(Ticket.risk_level == self.risk)
        return query
