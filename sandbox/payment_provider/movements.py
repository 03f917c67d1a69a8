"""Money going back to buyers, refunds and payouts alike: pending until due, then settled as the
failure rules say, perhaps sent back by the bank later. Each change of status is written in the
same transaction as the webhook event that announces it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sandbox.payment_provider import events, rules
from sandbox.payment_provider.db import Database
from sandbox.payment_provider.schemas import PayoutObject, RefundObject

T = TypeVar("T", RefundObject, PayoutObject)
DEFAULT_REVERSAL_REASON = "returned_by_receiving_bank"


@dataclass(frozen=True)
class Movements(Generic[T]):
    """One kind of movement, kept in its own table (a fixed name, never user input)."""

    table: str
    kind: str  # the webhook events' prefix: `refund` or `payout`
    rule_column: str  # the column failure rules match on
    failure_reason: str  # when a `fail` rule gives none
    from_row: Callable[[sqlite3.Row], T]

    def load(self, conn: sqlite3.Connection, movement_id: str) -> T:
        row = conn.execute(f"SELECT * FROM {self.table} WHERE id = ?", (movement_id,)).fetchone()
        return self.from_row(row)

    def get(self, db: Database, movement_id: str) -> T | None:
        with db.reading() as conn:
            row = conn.execute(
                f"SELECT * FROM {self.table} WHERE id = ?", (movement_id,)
            ).fetchone()
        return None if row is None else self.from_row(row)

    def due_for_settlement(self, db: Database, now: float) -> list[str]:
        with db.reading() as conn:
            rows = conn.execute(
                f"SELECT id FROM {self.table} WHERE status = 'pending' AND settle_at <= ?"
                " ORDER BY settle_at",
                (now,),
            ).fetchall()
        return [row["id"] for row in rows]

    def next_change_at(self, db: Database) -> float | None:
        """When the next pending one settles or the next one comes back from the bank."""
        with db.reading() as conn:
            row = conn.execute(
                "SELECT MIN(at) AS at FROM ("
                f" SELECT MIN(settle_at) AS at FROM {self.table} WHERE status = 'pending'"
                f" UNION ALL SELECT MIN(reverse_at) FROM {self.table} WHERE status = 'succeeded')"
            ).fetchone()
        return None if row["at"] is None else float(row["at"])

    def settle(self, db: Database, movement_id: str, now: float, reverse_delay: float) -> T | None:
        """Settle a pending one now, as the failure rules say; a settled one is left as it is.
        None when there is no such movement."""
        with db.transaction() as conn:
            row = conn.execute(
                f"SELECT * FROM {self.table} WHERE id = ?", (movement_id,)
            ).fetchone()
            if row is None or row["status"] != "pending":
                return None if row is None else self.from_row(row)
            rule = rules.take(conn, ("fail", "reverse_after_success"), row[self.rule_column])
            if rule is not None and rule.outcome == "fail":
                conn.execute(
                    f"UPDATE {self.table} SET status = 'failed', failure_reason = ?,"
                    " updated_at = ? WHERE id = ?",
                    (rule.reason or self.failure_reason, now, movement_id),
                )
            else:
                # A rule asking for a reversal lets it succeed first, as a bank would.
                reverse_at = None if rule is None else now + reverse_delay
                reverse_reason = (rule.reason if rule else None) or DEFAULT_REVERSAL_REASON
                conn.execute(
                    f"UPDATE {self.table} SET status = 'succeeded', updated_at = ?,"
                    " reverse_at = ?, reverse_reason = ? WHERE id = ?",
                    (now, reverse_at, reverse_reason, movement_id),
                )
            settled = self.load(conn, movement_id)
            events.add(conn, f"{self.kind}.{settled.status}", settled, now)
            return settled

    def reverse_due(self, db: Database, now: float) -> list[T]:
        """Reverse the succeeded ones whose money the bank sends back now."""
        returned = []
        with db.transaction() as conn:
            rows = conn.execute(
                f"SELECT id FROM {self.table} WHERE status = 'succeeded' AND reverse_at <= ?",
                (now,),
            ).fetchall()
            for row in rows:
                conn.execute(
                    f"UPDATE {self.table} SET status = 'reversed', failure_reason = reverse_reason,"
                    " updated_at = ?, reverse_at = NULL WHERE id = ?",
                    (now, row["id"]),
                )
                movement = self.load(conn, row["id"])
                events.add(conn, f"{self.kind}.reversed", movement, now)
                returned.append(movement)
        return returned
