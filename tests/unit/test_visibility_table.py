"""The table of who sees what (api.visibility): it covers every field of a ticket, keeps to what
SPEC §8 says of risk, messages, the warehouse and the platform, and is the table the README shows.
What each role is really answered is tests/api/test_visibility.py."""

from __future__ import annotations

import re
from pathlib import Path

from api.auth import Role
from api.schemas.tickets import TicketDetail
from api.visibility import (
    ORDER_READERS,
    QUOTE_READERS,
    TICKET_FIELDS,
    TICKET_READERS,
    TIMELINE_DATA,
    TicketPart,
)
from domain.actions import Action, who

README = Path(__file__).resolve().parents[2] / "README.md"
HIDDEN = "no"  # a README cell of a part the role does not see


def test_every_field_of_a_ticket_belongs_to_one_part_of_the_table() -> None:
    assert set(TICKET_FIELDS) == set(TicketDetail.model_fields)
    assert set(TICKET_READERS) == set(TicketPart)
    assert set(TIMELINE_DATA.values()) <= set(TicketPart)


def test_the_table_follows_the_spec() -> None:
    assert TICKET_READERS[TicketPart.risk] == {Role.merchant, Role.support}
    assert TICKET_READERS[TicketPart.messages] == {Role(actor) for actor in who(Action.messages)}
    for part in (TicketPart.messages, TicketPart.risk, TicketPart.destination_details):
        assert Role.warehouse not in TICKET_READERS[part]
    for part in (
        TicketPart.messages,
        TicketPart.risk,
        TicketPart.evidence,
        TicketPart.destination_details,
    ):
        assert Role.platform not in TICKET_READERS[part]
    for part in (TicketPart.lines, TicketPart.shipments, TicketPart.inspection):
        assert Role.warehouse in TICKET_READERS[part]
    for part in (TicketPart.summary, TicketPart.amounts, TicketPart.refunds):
        assert Role.platform in TICKET_READERS[part]
    # Support reads everything (SPEC §1).
    assert all(Role.support in roles for roles in TICKET_READERS.values())


def _readme_table(heading: str) -> dict[str, dict[str, str]]:
    """The README table whose header starts with `heading`: first cell's `code` -> role -> cell."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    header, body = rows[0], rows[2:]
    table = {}
    for cells in body:
        named = re.match(r"`([^`]+)`", cells[0])
        assert named, cells
        table[named.group(1)] = dict(zip(header[1:], cells[1:], strict=True))
    return table


def test_the_readme_shows_the_table_of_the_code() -> None:
    tickets = _readme_table("| ticket part |")
    orders = _readme_table("| order part |")

    assert set(tickets) == {str(part) for part in TicketPart}
    for part in TicketPart:
        shown = {Role(role) for role, cell in tickets[part].items() if cell != HIDDEN}
        assert shown == TICKET_READERS[part], part
    assert {role for role, cell in tickets["destination_details"].items() if cell != HIDDEN} == {
        role for role, cell in tickets["destination_details"].items() if cell == "masked"
    }
    for name, row in orders.items():
        readers = QUOTE_READERS if "quote" in name else ORDER_READERS
        assert {Role(role) for role, cell in row.items() if cell != HIDDEN} == set(readers), name
