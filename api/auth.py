"""API keys: stored as SHA-256 only, each bound to a role and a subject (SPEC §8)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import ApiKey


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
    key_id: int

    @property
    def name(self) -> str:
        return f"{self.role}:{self.subject_id or '-'}"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key(role: Role) -> str:
    return f"ak_{role}_{secrets.token_urlsafe(24)}"


async def issue_key(
    session: AsyncSession,
    role: Role,
    subject_id: str | None,
    label: str,
    api_key: str | None = None,
) -> str:
    """Store a key's hash and return the key; the plain key is never stored."""
    plain = api_key or new_key(role)
    session.add(
        ApiKey(
            key_hash=hash_key(plain),
            prefix=plain[:12],
            role=role,
            subject_id=subject_id,
            label=label,
        )
    )
    await session.flush()
    return plain


async def authenticate(session: AsyncSession, api_key: str) -> Principal | None:
    row = (
        await session.execute(
            select(ApiKey).where(ApiKey.key_hash == hash_key(api_key), ApiKey.revoked_at.is_(None))
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return Principal(role=Role(row.role), subject_id=row.subject_id, key_id=row.key_id)
