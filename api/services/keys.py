"""The life of an API key, for support's API and the admin command: issue, list, rotate, expire,
revoke. A plain key is returned once, by issue or rotate, and never stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role, store_key
from api.problems import Problem
from persistence import keys as repo
from persistence.models import ApiKey, Merchant, Warehouse

# Keys of these roles act for one party, so they must name it.
SUBJECT_ROLES = frozenset({Role.buyer, Role.merchant, Role.warehouse})
# Parties registered with the engine: a key for one that does not exist would see nothing.
_REGISTERED = {Role.merchant: Merchant, Role.warehouse: Warehouse}
MAX_OVERLAP = timedelta(days=30)


class KeyStatus(StrEnum):
    active = "active"
    expired = "expired"
    revoked = "revoked"


def status_of(row: ApiKey, now: datetime) -> KeyStatus:
    if row.revoked_at is not None:
        return KeyStatus.revoked
    if row.expires_at is not None and row.expires_at <= now:
        return KeyStatus.expired
    return KeyStatus.active


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKey
    # Shown to whoever asked, once; only its SHA-256 is kept.
    plain: str


async def issue(
    session: AsyncSession,
    role: Role,
    subject_id: str | None,
    label: str,
    expires_at: datetime | None,
    now: datetime,
) -> IssuedKey:
    await _check_subject(session, role, subject_id)
    _check_future(expires_at, now)
    row, plain = await store_key(session, role, subject_id, label, expires_at=expires_at)
    return IssuedKey(row, plain)


async def page(
    session: AsyncSession,
    *,
    role: Role | None,
    subject_id: str | None,
    limit: int,
    before: int | None,
) -> list[ApiKey]:
    return await repo.page_keys(
        session, role=role, subject_id=subject_id, limit=limit, before=before
    )


async def rotate(
    session: AsyncSession,
    key_id: int,
    overlap: timedelta,
    expires_at: datetime | None,
    now: datetime,
) -> tuple[IssuedKey, ApiKey]:
    """A successor for the same role, subject and label; the old key works on until `now +
    overlap` (or its own earlier expiry), so callers can switch without an outage."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise Problem(
            422,
            "overlap_out_of_range",
            f"the overlap must be between 0 and {MAX_OVERLAP.days} days",
            field="overlap",
        )
    _check_future(expires_at, now)
    old = await _working(session, key_id, now)
    ends = now + overlap
    if old.expires_at is None or old.expires_at > ends:
        old.expires_at = ends
    row, plain = await store_key(
        session,
        Role(old.role),
        old.subject_id,
        old.label,
        expires_at=expires_at,
        rotated_from=old.key_id,
    )
    return IssuedKey(row, plain), old


async def expire(session: AsyncSession, key_id: int, at: datetime, now: datetime) -> ApiKey:
    """Set when a working key stops working: sooner, later, or at once (`at` in the past). An
    expired key stays expired: issue or rotate instead."""
    row = await _working(session, key_id, now)
    row.expires_at = at
    await session.flush()
    return row


async def revoke(session: AsyncSession, key_id: int, now: datetime) -> ApiKey:
    """Ends the key at once. Revoking again keeps the first time."""
    row = await _found(session, key_id)
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
    return row


async def _found(session: AsyncSession, key_id: int) -> ApiKey:
    # Locked: a rotation and a revocation of one key happen one after the other.
    row = await repo.get_key(session, key_id, lock=True)
    if row is None:
        raise Problem(404, "key_not_found", f"no API key {key_id}")
    return row


async def _working(session: AsyncSession, key_id: int, now: datetime) -> ApiKey:
    row = await _found(session, key_id)
    status = status_of(row, now)
    if status is KeyStatus.revoked:
        raise Problem(409, "key_revoked", f"API key {key_id} is revoked")
    if status is KeyStatus.expired:
        raise Problem(409, "key_expired", f"API key {key_id} has expired; issue a new one")
    return row


async def _check_subject(session: AsyncSession, role: Role, subject_id: str | None) -> None:
    if role in SUBJECT_ROLES and not subject_id:
        raise Problem(
            422, "subject_required", f"a {role} key must name its {role}", field="subject_id"
        )
    table = _REGISTERED.get(role)
    if table is not None and await session.get(table, subject_id) is None:
        raise Problem(422, "unknown_subject", f"no {role} {subject_id}", field="subject_id")


def _check_future(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise Problem(
            422, "expiry_in_past", "a new key must expire in the future", field="expires_at"
        )
