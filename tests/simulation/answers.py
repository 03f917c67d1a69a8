"""Actions sent through the API, and what their answers promise: an action answered 200 is in
the timeline of the ticket it returns; one answered 409 changed nothing; a stale
`expected_version` is never taken."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.simulation.moves import Move
from tests.simulation.records import Row
from tests.simulation.world import SimTicket, World, principal

# The refusals of an action that arrives in the wrong state, too late, stale or mid-step.
REFUSALS = frozenset({"illegal_transition", "version_conflict", "action_in_progress"})


@dataclass(frozen=True)
class Sent:
    move: Move
    ticket_no: str
    status: int
    code: str | None
    answer: dict[str, Any]
    replayed: bool

    def text(self) -> str:
        outcome = f"{self.status} {self.code or ''}".strip()
        return f"{self.move.text()} -> {outcome}{' (replayed)' if self.replayed else ''}"

    @property
    def taken(self) -> bool:
        """Answered 200 as a first answer, not as a replay of an earlier one."""
        return self.status == 200 and not self.replayed


async def send(world: World, ticket: SimTicket, move: Move) -> Sent:
    headers = {"Idempotency-Key": move.key} if move.key else {}
    response = await world.client(move.label).post(
        f"/v1/tickets/{ticket.ticket_no}/{move.action}", json=move.body, headers=headers
    )
    try:
        answer = response.json()
    except ValueError:
        answer = {"detail": response.text}
    answer = answer if isinstance(answer, dict) else {"detail": answer}
    if response.status_code == 200 and move.action == "return-shipment":
        ticket.tracking_no = ticket.parcel_code()
    return Sent(
        move=move,
        ticket_no=ticket.ticket_no,
        status=response.status_code,
        code=answer.get("code") if response.status_code != 200 else None,
        answer=answer,
        replayed=response.headers.get("Idempotent-Replayed") == "true",
    )


def answer_violations(sent: Sent, before: Row) -> list[str]:
    """What the answer alone shows to be wrong."""
    role, subject = principal(sent.move.label)
    if sent.status == 409 and sent.code in REFUSALS:
        return []
    if sent.status == 404 and role == "warehouse" and before.warehouse_id is None:
        return []  # a warehouse sees a return from the merchant's approval on
    if sent.status != 200:
        detail = sent.answer.get("detail")
        return [f"{sent.text()}: expected 200 or 409, got {sent.status} ({detail})"]
    found: list[str] = []
    if sent.move.stale:
        found.append(f"{sent.text()}: taken although expected_version was stale")
    if sent.replayed:
        return found
    timeline = sent.answer.get("timeline") or []
    mine = [
        step
        for step in timeline
        if step["seq"] > before.seq and step["actor_role"] == role and step["actor_id"] == subject
    ]
    if not mine:
        found.append(f"{sent.text()}: answered 200 but not in the timeline it returned")
    if sent.answer.get("version", 0) <= before.version:
        found.append(f"{sent.text()}: answered 200 at version {sent.answer.get('version')}")
    return found


def effect_violations(sents: list[Sent], before: Row, after: Row) -> list[str]:
    """Once the ticket is quiet: each actor's new timeline entries are exactly its actions taken
    (a key sent twice at once counts once); what was refused left nothing."""
    taken: dict[tuple[str, str], set[str]] = {}
    for index, sent in enumerate(sents):
        actor = principal(sent.move.label)
        keys = taken.setdefault(actor, set())
        if sent.taken:
            keys.add(sent.move.key or f"unkeyed-{index}")
    new = after.entries_after(before.seq)
    added = Counter((e.actor_role, e.actor_id or "") for e in new)
    found = []
    for actor, keys in taken.items():
        if added[actor] != len(keys):
            entries = ", ".join(f"{e.event} by {e.actor_role} {e.actor_id}" for e in new)
            found.append(
                f"{after.ticket_no}: {len(keys)} action(s) of {actor[0]} {actor[1]} taken but "
                f"{added[actor]} new timeline entries by them (new: {entries or 'none'})"
            )
    return found
