"""Return labels: issued once per idempotency key, each with a tracking number of its own (the
parcel the courier will carry) and a drop-off code, and a printable one-page PDF of its own."""

from __future__ import annotations

import secrets
import sqlite3
import textwrap

from sandbox.courier.schemas import CreateLabelRequest, LabelObject, LabelParty

# Upper-case letters and digits a person can read off a label without mistaking one for another:
# no 0/O, no 1/I.
DROPOFF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_TRACKING_DIGITS = 12
# Tries at a fresh tracking number or drop-off code before giving up; one almost always suffices.
_ATTEMPTS = 20


class IdempotencyKeyReused(Exception):
    """The key was first used with another request body."""


def tracking_number(carrier: str) -> str:
    """The carrier's code in upper case and 12 random digits, e.g. `SF048213579604`."""
    digits = "".join(secrets.choice("0123456789") for _ in range(_TRACKING_DIGITS))
    return f"{carrier.upper()}{digits}"


def dropoff_code() -> str:
    """`DROP-XXXX-XXXX`: what a drop-off point scans, or types in, to take the parcel in."""
    chars = "".join(secrets.choice(DROPOFF_ALPHABET) for _ in range(8))
    return f"DROP-{chars[:4]}-{chars[4:]}"


def create(
    conn: sqlite3.Connection, key: str, request: CreateLabelRequest, carrier: str, *, now: float
) -> tuple[LabelObject, bool]:
    """The label for `key`, and whether this call issued it. Run in a transaction."""
    fingerprint = request.fingerprint(carrier)
    row = conn.execute("SELECT * FROM labels WHERE idempotency_key = ?", (key,)).fetchone()
    if row is not None:
        if row["request_hash"] != fingerprint:
            raise IdempotencyKeyReused(key)
        return LabelObject.from_row(row), False
    label_id = f"lb_{secrets.token_hex(12)}"
    conn.execute(
        "INSERT INTO labels (label_id, idempotency_key, request_hash, carrier, tracking_no,"
        " dropoff_code, reference, sender, recipient, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            label_id,
            key,
            fingerprint,
            carrier,
            _fresh_tracking_number(conn, carrier),
            _fresh_dropoff_code(conn),
            request.reference,
            request.sender.model_dump_json(),
            request.recipient.model_dump_json(),
            now,
        ),
    )
    label = get(conn, label_id)
    assert label is not None
    return label, True


def _fresh_tracking_number(conn: sqlite3.Connection, carrier: str) -> str:
    """One that no label and no parcel already travels under."""
    for _ in range(_ATTEMPTS):
        candidate = tracking_number(carrier)
        taken = conn.execute(
            "SELECT 1 FROM labels WHERE tracking_no = ?"
            " UNION ALL SELECT 1 FROM parcels WHERE tracking_no = ?",
            (candidate, candidate),
        ).fetchone()
        if taken is None:
            return candidate
    raise RuntimeError(f"no free tracking number for {carrier} after {_ATTEMPTS} tries")


def _fresh_dropoff_code(conn: sqlite3.Connection) -> str:
    for _ in range(_ATTEMPTS):
        candidate = dropoff_code()
        taken = conn.execute("SELECT 1 FROM labels WHERE dropoff_code = ?", (candidate,)).fetchone()
        if taken is None:
            return candidate
    raise RuntimeError(f"no free drop-off code after {_ATTEMPTS} tries")


def get(conn: sqlite3.Connection, label_id: str) -> LabelObject | None:
    row = conn.execute("SELECT * FROM labels WHERE label_id = ?", (label_id,)).fetchone()
    return None if row is None else LabelObject.from_row(row)


def carrier_of(conn: sqlite3.Connection, tracking_no: str) -> str | None:
    """The carrier of the label issued with this tracking number, if one was."""
    row = conn.execute(
        "SELECT carrier FROM labels WHERE tracking_no = ?", (tracking_no,)
    ).fetchone()
    return None if row is None else str(row["carrier"])


# A 4 x 6 inch shipping label, in PDF points; text starts at the top left margin.
_PAGE_WIDTH, _PAGE_HEIGHT = 288, 432
_MARGIN = 20
_LINE_CHARS = 48


def document(label: LabelObject) -> bytes:
    """The label as a one-page PDF: carrier, tracking number and drop-off code in large type,
    then the reference and both parties. Text outside printable ASCII shows as `?` (the built-in
    Helvetica cannot show it)."""
    lines: list[tuple[int, str]] = [
        (20, f"{label.carrier.upper()} RETURN LABEL"),
        (14, f"Tracking no: {label.tracking_no}"),
        (14, f"Drop-off code: {label.dropoff_code}"),
        (10, f"Reference: {label.reference}"),
        *_party_lines("From", label.sender),
        *_party_lines("To", label.recipient),
    ]
    content = [f"BT {_MARGIN} {_PAGE_HEIGHT - _MARGIN} Td"]
    for size, text in lines:
        content.append(f"/F1 {size} Tf 0 -{size + 8} Td ({_pdf_text(text)}) Tj")
    content.append("ET")
    return _pdf("\n".join(content).encode("ascii"))


def _party_lines(role: str, party: LabelParty) -> list[tuple[int, str]]:
    address = textwrap.wrap(
        " ".join(party.address.split()), _LINE_CHARS, max_lines=3, placeholder=" ..."
    )
    return [(10, f"{role}: {party.name}"), *((10, f"  {line}") for line in address)]


def _pdf_text(text: str) -> str:
    """`text` as the inside of a PDF literal string: printable ASCII, `\\`, `(`, `)` escaped."""
    if len(text) > _LINE_CHARS + 8:
        text = text[: _LINE_CHARS + 4] + " ..."
    printable = "".join(char if " " <= char <= "~" else "?" for char in text)
    return printable.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf(content: bytes) -> bytes:
    """A one-page PDF showing `content` (a page content stream) in Helvetica, with an exact
    cross-reference table so any reader opens it without repair."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_WIDTH} {_PAGE_HEIGHT}]"
            " /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
        ).encode("ascii"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)
