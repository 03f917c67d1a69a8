"""The sandbox courier's return labels without a server: tracking numbers and drop-off codes as
printed, replays told from reused keys, and a PDF document any reader opens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.courier import labels
from sandbox.courier.db import Database
from sandbox.courier.schemas import CreateLabelRequest, LabelObject, LabelParty

BUYER = LabelParty(name="Li Wei", address="88 Nanshan Road, Shenzhen 518000")
MERCHANT = LabelParty(name="Returns desk", address="Warehouse 7, Shanghai 200000")
NOW = 1_760_000_000.0


def request(**changes: object) -> CreateLabelRequest:
    fields: dict[str, object] = {
        "carrier": "sf",
        "reference": "TK-1001",
        "sender": BUYER,
        "recipient": MERCHANT,
    }
    return CreateLabelRequest.model_validate({**fields, **changes})


def a_label(**changes: object) -> LabelObject:
    fields: dict[str, object] = {
        "label_id": "lb_0123",
        "carrier": "sf",
        "tracking_no": "SF048213579604",
        "dropoff_code": "DROP-AB2C-XY9Z",
        "reference": "TK-1001",
        "sender": BUYER,
        "recipient": MERCHANT,
        "created_at": datetime.fromtimestamp(NOW, UTC),
        "document_url": "/v1/labels/lb_0123/document",
    }
    return LabelObject.model_validate({**fields, **changes})


def test_tracking_numbers_are_the_carrier_code_and_twelve_digits() -> None:
    numbers = {labels.tracking_number("sf") for _ in range(200)}

    assert all(re.fullmatch(r"SF[0-9]{12}", number) for number in numbers)
    assert len(numbers) == 200
    assert re.fullmatch(r"EMS[0-9]{12}", labels.tracking_number("ems"))


def test_dropoff_codes_have_no_characters_a_person_could_misread() -> None:
    codes = [labels.dropoff_code() for _ in range(500)]

    assert all(re.fullmatch(r"DROP-[A-Z2-9]{4}-[A-Z2-9]{4}", code) for code in codes)
    assert not set("".join(code[5:] for code in codes)) & set("0O1I")
    assert set(labels.DROPOFF_ALPHABET) == set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")


def test_leaving_the_carrier_out_is_the_same_request_as_naming_the_default() -> None:
    named = request().fingerprint("sf")

    assert request(carrier=None).fingerprint("sf") == named
    assert request(reference="TK-1002").fingerprint("sf") != named
    assert request().fingerprint("yto") != named


def test_a_key_gives_one_label_and_refuses_another_request(tmp_path: Path) -> None:
    db = Database(tmp_path / "courier.sqlite3")
    with db.transaction() as conn:
        first, issued = labels.create(conn, "key-1", request(), "sf", now=NOW)
        again, issued_again = labels.create(conn, "key-1", request(carrier=None), "sf", now=NOW)
        with pytest.raises(labels.IdempotencyKeyReused):
            labels.create(conn, "key-1", request(reference="TK-2"), "sf", now=NOW)
        carrier = labels.carrier_of(conn, first.tracking_no)
        unknown = labels.carrier_of(conn, "SF000000000000")
    db.close()

    assert (issued, issued_again) == (True, False)
    assert again == first
    assert first.created_at == datetime.fromtimestamp(NOW, UTC)
    assert (carrier, unknown) == ("sf", None)


def test_the_document_is_a_pdf_whose_cross_references_point_at_its_objects() -> None:
    pdf = labels.document(a_label())

    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref\n0 6\n")
    offsets = [int(offset) for offset in re.findall(rb"(\d{10}) 00000 n ", pdf)]
    assert len(offsets) == 5
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)
    length = int(re.search(rb"/Length (\d+) >>\nstream\n", pdf).group(1))  # type: ignore[union-attr]
    stream_at = pdf.index(b"stream\n") + len(b"stream\n")
    assert pdf[stream_at + length :].startswith(b"\nendstream")


def test_the_document_shows_the_label_and_escapes_what_pdf_strings_cannot_hold() -> None:
    label = a_label(
        reference="TK-(7)\\",
        sender=LabelParty(name="张伟 Zhang", address="Room 5, " * 100),
    )

    pdf = labels.document(label)

    assert b"(SF RETURN LABEL)" in pdf
    assert b"(Tracking no: SF048213579604)" in pdf
    assert b"(Drop-off code: DROP-AB2C-XY9Z)" in pdf
    assert b"(Reference: TK-\\(7\\)\\\\)" in pdf
    assert b"(From: ?? Zhang)" in pdf
    assert pdf.count(b"(  Room 5,") == 3, "a long address is cut to three lines"
    stream = pdf[pdf.index(b"stream\n") : pdf.index(b"endstream")]
    stream.decode("ascii")
