"""HMAC-SHA256 webhook signatures, as every webhook in and out of the engine is signed:
`<Name>-Signature: t=<unix seconds>,v1=<hex digest>`.

The digest covers `f"{t}."` followed by the raw body bytes, so a receiver must verify the body
exactly as received, before parsing it; the timestamp bounds how long a captured request can be
replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import re


class InvalidSignature(Exception):
    """The webhook cannot be trusted; `reason` says why (never which digest was expected)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


# A header of a timestamp and a few digests (old and new secret while rotating) is far shorter.
MAX_HEADER_LENGTH = 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > MAX_HEADER_LENGTH:
        raise InvalidSignature("malformed signature header")
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not value:
            raise InvalidSignature("malformed signature header")
        if key == "t":
            if not _TIMESTAMP.fullmatch(value) or timestamp is not None:
                raise InvalidSignature("malformed signature header")
            timestamp = int(value)
        elif key == "v1":
            if not _DIGEST.fullmatch(value):
                raise InvalidSignature("malformed signature header")
            digests.append(value)
    if timestamp is None or not digests:
        raise InvalidSignature("malformed signature header")
    return timestamp, digests


def verify(secret: str, header: str | None, body: bytes, now: int, tolerance_seconds: int) -> None:
    """Raise InvalidSignature unless `header` signs `body` with `secret` within the tolerance."""
    if not header:
        raise InvalidSignature("missing signature header")
    timestamp, digests = _parse(header)
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignature("timestamp outside the tolerance")
    expected = _digest(secret, body, timestamp)
    # Several v1 entries are allowed so a provider can sign with old and new secret while rotating.
    if not any(hmac.compare_digest(expected, digest) for digest in digests):
        raise InvalidSignature("signature does not match")
