"""Who is calling (SPEC §8): an API key, stored as SHA-256 only and bound to a role and a subject,
or a buyer token the platform signs (api/buyer_tokens.py)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from api.buyer_tokens import BuyerTokens, TokenKeysUnavailable, TokenRefused
from api.problems import Problem
from persistence import keys as repo
from persistence.models import ApiKey

# The plain key's first characters, stored so that people can tell keys apart.
PREFIX_LENGTH = 16


class Role(StrEnum):
    buyer = "buyer"
    merchant = "merchant"
    warehouse = "warehouse"
    support = "support"
    platform = "platform"


@dataclass(frozen=True)
class Principal:
    role: Role
    subject_id: str | None
    # The API key used; None for a buyer who came with a platform-signed token.
    key_id: int | None

    @property
    def name(self) -> str:
        return f"{self.role}:{self.subject_id or '-'}"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key(role: Role) -> str:
    return f"ak_{role}_{secrets.token_urlsafe(24)}"


async def store_key(
    session: AsyncSession,
    role: Role,
    subject_id: str | None,
    label: str,
    *,
    expires_at: datetime | None = None,
    rotated_from: int | None = None,
    api_key: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a key's hash; returns its row and the plain key, which is never stored."""
    plain = api_key or new_key(role)
    row = await repo.insert_key(
        session,
        key_hash=hash_key(plain),
        prefix=plain[:PREFIX_LENGTH],
        role=role,
        subject_id=subject_id,
        label=label,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    return row, plain


async def issue_key(
    session: AsyncSession,
    role: Role,
    subject_id: str | None,
    label: str,
    api_key: str | None = None,
) -> str:
    """Store a key's hash and return the key; the plain key is never stored."""
    _, plain = await store_key(session, role, subject_id, label, api_key=api_key)
    return plain


def refusal(row: ApiKey, now: datetime) -> str | None:
    """Why the key no longer works at `now`, or None while it does."""
    if row.revoked_at is not None:
        return f"the API key was revoked at {row.revoked_at.isoformat()}"
    if row.expires_at is not None and row.expires_at <= now:
        return f"the API key expired at {row.expires_at.isoformat()}"
    return None


async def verify_key(session: AsyncSession, api_key: str, now: datetime) -> Principal:
    """The key's principal, or 401 saying whether it is unknown, revoked or expired. A use is
    recorded (at most once a minute); the caller commits."""
    row = await repo.key_by_hash(session, hash_key(api_key))
    if row is None:
        raise _unauthenticated("key_unknown", "the API key is unknown")
    reason = refusal(row, now)
    if reason is not None:
        kind = "key_revoked" if row.revoked_at is not None else "key_expired"
        raise _unauthenticated(kind, reason)
    await repo.mark_used(session, row, now)
    return Principal(role=Role(row.role), subject_id=row.subject_id, key_id=row.key_id)


async def authenticate(session: AsyncSession, api_key: str) -> Principal | None:
    """The key's principal while it works, else None (the demo seed reuses working keys)."""
    try:
        return await verify_key(session, api_key, datetime.now(UTC))
    except Problem:
        return None


async def verify_buyer_token(tokens: BuyerTokens, token: str) -> Principal:
    """The buyer a platform-signed token names, or 401 saying which check failed."""
    try:
        buyer_id = await tokens.buyer_id(token)
    except TokenRefused as refused:
        raise _unauthenticated(refused.reason, refused.detail) from None
    except TokenKeysUnavailable as error:
        raise Problem(
            503, "token_keys_unavailable", f"the platform's token keys cannot be read: {error}"
        ) from None
    return Principal(role=Role.buyer, subject_id=buyer_id, key_id=None)


def _unauthenticated(reason: str, detail: str) -> Problem:
    return Problem(401, "unauthenticated", detail, extra={"reason": reason})
