"""Failure rules set by tests and demos; each use of a limited rule counts down `times`."""

from __future__ import annotations

import secrets
import sqlite3

from sandbox.payment_provider.schemas import RuleObject, RuleOutcome, RuleRequest


def add(conn: sqlite3.Connection, request: RuleRequest) -> RuleObject:
    rule_id = f"rule_{secrets.token_hex(8)}"
    conn.execute(
        "INSERT INTO rules (id, match_payment_reference, outcome, reason, times_remaining,"
        " delay, acts) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            rule_id,
            request.match_payment_reference,
            request.outcome,
            request.reason,
            request.times,
            request.delay,
            request.acts,
        ),
    )
    row = conn.execute("SELECT * FROM rules WHERE id = ?", (rule_id,)).fetchone()
    return RuleObject.from_row(row)


def clear(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM rules")


def list_all(conn: sqlite3.Connection) -> list[RuleObject]:
    rows = conn.execute("SELECT * FROM rules ORDER BY seq").fetchall()
    return [RuleObject.from_row(row) for row in rows]


def take(
    conn: sqlite3.Connection, outcomes: tuple[RuleOutcome, ...], payment_reference: str
) -> RuleObject | None:
    """The rule that applies to this payment, used once: a rule naming the payment wins over a
    rule for every payment, older over newer."""
    placeholders = ", ".join("?" for _ in outcomes)
    row = conn.execute(
        f"SELECT * FROM rules WHERE outcome IN ({placeholders})"
        " AND (match_payment_reference IS NULL OR match_payment_reference = ?)"
        " ORDER BY match_payment_reference IS NULL, seq LIMIT 1",
        (*outcomes, payment_reference),
    ).fetchone()
    if row is None:
        return None
    if row["times_remaining"] is not None:
        if row["times_remaining"] <= 1:
            conn.execute("DELETE FROM rules WHERE seq = ?", (row["seq"],))
        else:
            conn.execute(
                "UPDATE rules SET times_remaining = times_remaining - 1 WHERE seq = ?",
                (row["seq"],),
            )
    return RuleObject.from_row(row)
