"""Importing order snapshots with the checks and the upsert of `PUT /v1/orders/{order_id}`.

Each order is checked by the API's request model (`OrderUpsert`, refused as
`validation_error`), then by the domain's snapshot (`invalid_order`), then stored by
`persistence.orders.upsert_order` (`stale_order_version`, `order_version_conflict`): the codes
the API answers. Each order is a savepoint of a transaction committed every `BATCH` orders, so a
refused order never takes a good one with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftersales_cli.order_files import OrderRecord, Refusal
from api.problems import field_name as api_field_name
from api.schemas.orders import OrderUpsert
from domain.orders import OrderSnapshot
from persistence.orders import OrderVersionConflict, StaleOrderVersion, upsert_order

# Orders per transaction.
BATCH = 100
OUTCOMES = ("created", "updated", "unchanged", "refused")
# The API's bounds on the path's `{order_id}`.
ORDER_ID_LENGTH = range(1, 65)


@dataclass(frozen=True)
class Refused:
    line: int
    order_id: str | None
    refusal: Refusal


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    refused: list[Refused] = field(default_factory=list)
    # The file line of the last order whose transaction was committed.
    committed_through: int = 0


async def import_orders(
    sessions: async_sessionmaker[AsyncSession],
    records: Iterable[OrderRecord],
    tally: Tally,
    *,
    dry_run: bool,
    seen: Callable[[str], None],
) -> None:
    """Store each good order, counting in `tally`; `seen` hears each outcome. A dry run does
    the same in one transaction it rolls back, so later orders of the file see the earlier ones
    as stored."""
    async with sessions() as session:
        try:
            for batch in _batches(records):
                for record in batch:
                    outcome = await _one(session, record)
                    if isinstance(outcome, Refusal):
                        tally.refused.append(
                            Refused(record.line_of(outcome.field), record.order_id, outcome)
                        )
                        outcome_name = "refused"
                    else:
                        outcome_name = outcome
                    tally.counts[outcome_name] += 1
                    seen(outcome_name)
                if not dry_run:
                    await session.commit()
                    tally.committed_through = batch[-1].line
                # What the batch loaded is read again from the database when needed.
                session.expunge_all()
        finally:
            await session.rollback()


def _batches(records: Iterable[OrderRecord]) -> Iterator[list[OrderRecord]]:
    it = iter(records)
    while batch := list(islice(it, BATCH)):
        yield batch


async def _one(session: AsyncSession, record: OrderRecord) -> str | Refusal:
    if record.refusal is not None:
        return record.refusal
    if record.order_id is None or len(record.order_id) not in ORDER_ID_LENGTH:
        return Refusal("validation_error", "order_id", "1 to 64 characters are expected")
    try:
        body = OrderUpsert.model_validate(record.body)
    except ValidationError as invalid:
        return _first(invalid, "validation_error", api_field_name)
    try:
        snapshot = OrderSnapshot(order_id=record.order_id, **body.model_dump())
    except ValidationError as invalid:
        return _first(invalid, "invalid_order", lambda loc: ".".join(map(str, loc)) or "body")
    try:
        async with session.begin_nested():
            _, outcome = await upsert_order(session, snapshot)
    except StaleOrderVersion as stale:
        return Refusal("stale_order_version", "version", str(stale))
    except OrderVersionConflict as conflict:
        return Refusal("order_version_conflict", "version", str(conflict))
    except (IntegrityError, DataError) as refused:
        # Another writer stored the same new order at the same moment, or a value the
        # database cannot hold: the API would answer 500; here the order is refused alone.
        return Refusal("database_refused", "body", str(refused.orig))
    return outcome


def _first(
    invalid: ValidationError, code: str, name: Callable[[tuple[int | str, ...]], str]
) -> Refusal:
    """The first refused field as the API names it, with a count of the others."""
    errors = invalid.errors()
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Refusal(code, name(first["loc"]), f"{first['msg']}{more}")
