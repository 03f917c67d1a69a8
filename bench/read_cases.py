"""Who lists tickets in the read-path benchmark, with which filters: support over everyone's
tickets, a big merchant and a small one over theirs, a buyer with many tickets and buyers with a
few, a warehouse over the returns sent to it. Each lists as the API lets it (`api.scopes`), with
no filter, with the filter its work goes by, and looking one ticket or order up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.auth import Principal, Role
from api.scopes import ticket_scope
from domain.tickets import TicketStatus, TicketType
from persistence import tickets as repo
from persistence.models import Ticket

LOOKUPS = 200  # different tickets or orders looked up, one per request
FEW = 20  # buyers with a few tickets, one per request


@dataclass(frozen=True)
class Caller:
    role: Role
    subject: str | None

    @property
    def scope(self) -> repo.Scope:
        return ticket_scope(Principal(role=self.role, subject_id=self.subject, key_id=None))


@dataclass(frozen=True)
class Case:
    """One kind of listing: requests cycle through `asks` ((caller, query parameters))."""

    who: str
    filter: str
    asks: list[tuple[Caller, dict[str, str]]]
    matching: int = 0  # tickets the first ask matches in all
    pages: tuple[int, ...] = (1,)  # pages timed, followed by cursor from the first


def ticket_filter(params: dict[str, str]) -> repo.TicketFilter:
    """The filter the API builds from these query parameters."""
    at = {
        k: datetime.fromisoformat(params[k]) for k in ("created_from", "created_to") if k in params
    }
    return repo.TicketFilter(
        type=params.get("type"),
        status=params.get("status"),
        order_id=params.get("order_id"),
        ticket_no=params.get("ticket_no"),
        created_from=at.get("created_from"),
        created_to=at.get("created_to"),
    )


async def build_cases(engine: AsyncEngine, now: datetime, pages: tuple[int, ...]) -> list[Case]:
    async with engine.connect() as conn:
        merchants = (
            await conn.execute(
                text("SELECT merchant_id, count(*) FROM tickets GROUP BY 1 ORDER BY 2 DESC, 1")
            )
        ).all()
        heavy_buyer = (
            await conn.execute(
                text("SELECT buyer_id FROM tickets GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
            )
        ).scalar_one()
        few = (
            (
                await conn.execute(
                    text(
                        """SELECT buyer_id FROM tickets GROUP BY 1 HAVING count(*) BETWEEN 2 AND 5
                    ORDER BY 1 LIMIT :few"""
                    ),
                    {"few": FEW},
                )
            )
            .scalars()
            .all()
        )

        async def sample(scope: repo.Scope, column: str) -> list[str]:
            # Every ticket (or order) of the caller equally likely; a fixed seed, the same ones
            # every run.
            await conn.execute(text("SELECT setseed(0.5)"))
            query = scope.apply(select(Ticket)).with_only_columns(getattr(Ticket, column))
            picked = await conn.execute(query.order_by(func.random()).limit(LOOKUPS))
            return list(picked.scalars())

        big, small = merchants[0][0], merchants[len(merchants) // 2][0]
        who_big, who_small = f"merchant, big (`{big}`)", f"merchant, small (`{small}`)"
        who_buyer = f"buyer, many tickets (`{heavy_buyer}`)"
        who_warehouse = "warehouse of the big merchant"
        callers = {
            "support": Caller(Role.support, "s-1"),
            who_big: Caller(Role.merchant, big),
            who_small: Caller(Role.merchant, small),
            who_buyer: Caller(Role.buyer, heavy_buyer),
            who_warehouse: Caller(Role.warehouse, "wh-" + big.removeprefix("m-")),
        }
        thirty_days = {
            "created_from": (now - timedelta(days=120)).isoformat(),
            "created_to": (now - timedelta(days=90)).isoformat(),
        }
        queue = "status (its queue)"
        lists: list[tuple[str, str, dict[str, str]]] = [
            ("support", "none", {}),
            ("support", queue, {"status": TicketStatus.under_arbitration}),
            ("support", "type", {"type": TicketType.exchange}),
            ("support", "created_from, created_to (30 days)", thirty_days),
            (
                "support",
                "type and status",
                {"type": TicketType.return_refund, "status": TicketStatus.awaiting_inspection},
            ),
            (who_big, "none", {}),
            (who_big, queue, {"status": TicketStatus.awaiting_merchant_review}),
            (who_big, "type", {"type": TicketType.exchange}),
            (who_big, "created_from, created_to (30 days)", thirty_days),
            (who_small, "none", {}),
            (who_buyer, "none", {}),
            (who_warehouse, "none", {}),
            (who_warehouse, queue, {"status": TicketStatus.awaiting_inspection}),
        ]
        cases = []
        for who, described, params in lists:
            caller = callers[who]
            cases.append(
                Case(
                    who,
                    f"{described}: `{_shown(params)}`" if params else "none",
                    [(caller, {k: str(v) for k, v in params.items()})],
                    await _count(conn, caller, params),
                    pages,
                )
            )
        lookups = [
            ("support", "ticket_no"),
            ("support", "order_id"),
            (who_big, "ticket_no"),
            (who_small, "order_id"),
        ]
        for who, column in lookups:
            caller = callers[who]
            values = await sample(caller.scope, column)
            cases.append(
                Case(
                    who,
                    f"`{column}` ({len(values)} different)",
                    [(caller, {column: value}) for value in values],
                    1,
                )
            )
        cases.append(
            Case(
                f"buyers with 2 to 5 tickets ({len(few)} different)",
                "none",
                [(Caller(Role.buyer, buyer), {}) for buyer in few],
                await _count(conn, Caller(Role.buyer, few[0]), {}),
            )
        )
    return cases


def _shown(params: dict[str, str]) -> str:
    return "&".join(
        f"{k}={str(v)[:10] if k.startswith('created') else v}" for k, v in params.items()
    )


async def _count(conn: AsyncConnection, caller: Caller, params: dict[str, str]) -> int:
    """How many tickets the caller's list has with these filters, in all pages."""
    query = repo.listed(caller.scope, ticket_filter({k: str(v) for k, v in params.items()}))
    counted = await conn.execute(select(func.count()).select_from(query.subquery()))
    return int(counted.scalar_one())
