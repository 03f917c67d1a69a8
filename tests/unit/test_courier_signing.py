"""Courier webhook signatures: HMAC-SHA256 over `"{t}." + raw body`, recent, with our secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.couriers.signing import SIGNATURE_HEADER, InvalidSignature, sign, verify

SECRET = "whsec_courier_test"
BODY = b'{"carrier":"sf","events":[{"event_id":"ev_1","status":"delivered"}]}'
NOW = 1_760_000_000


def test_the_header_is_the_documented_hmac_of_timestamp_and_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert SIGNATURE_HEADER == "Courier-Signature"
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_a_fresh_signature_of_the_body_verifies() -> None:
    verify(SECRET, sign(SECRET, BODY, NOW), BODY, now=NOW + 30, tolerance_seconds=300)


@pytest.mark.parametrize(
    ("header", "body", "reason"),
    [
        (sign(SECRET, BODY, NOW), BODY.replace(b"delivered", b"lost"), "does not match"),
        (sign("whsec_someone_else", BODY, NOW), BODY, "does not match"),
        (sign(SECRET, BODY, NOW - 301), BODY, "outside the tolerance"),
        (sign(SECRET, BODY, NOW + 301), BODY, "outside the tolerance"),
        (None, BODY, "missing"),
        ("", BODY, "missing"),
        ("v1=abc", BODY, "malformed"),
        (f"t={NOW}", BODY, "malformed"),
        (f"t=soon,v1={'0' * 64}", BODY, "malformed"),
        (f"t={NOW},t={NOW},v1={'0' * 64}", BODY, "malformed"),
    ],
    ids=[
        "tampered",
        "other secret",
        "stale",
        "future",
        "absent",
        "empty",
        "no timestamp",
        "no digest",
        "bad timestamp",
        "two timestamps",
    ],
)
def test_untrustworthy_webhooks_are_refused(header: str | None, body: bytes, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify(SECRET, header, body, now=NOW, tolerance_seconds=300)


def test_a_changed_timestamp_breaks_the_signature() -> None:
    digest = sign(SECRET, BODY, NOW).split(",v1=")[1]

    with pytest.raises(InvalidSignature, match="does not match"):
        verify(SECRET, f"t={NOW + 1},v1={digest}", BODY, NOW, 300)


def test_during_a_secret_rotation_either_digest_verifies() -> None:
    old = sign("whsec_old", BODY, NOW).split(",v1=")[1]
    new = sign(SECRET, BODY, NOW).split(",v1=")[1]

    verify(SECRET, f"t={NOW},v1={old},v1={new}", BODY, NOW, 300)


@given(body=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=511))
def test_any_change_to_any_body_is_detected(body: bytes, flip: int) -> None:
    header = sign(SECRET, body, NOW)
    verify(SECRET, header, body, NOW, 300)
    if body:
        index = flip % len(body)
        changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(InvalidSignature):
            verify(SECRET, header, changed, NOW, 300)
