"""API key rows: only hashes are stored; the plain key exists in the answer that issued it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import ApiKey

# How stale `last_used_at` may get: authenticating writes at most this often per key.
LAST_USED_GRANULARITY = timedelta(minutes=1)


async def insert_key(
    session: AsyncSession,
    *,
    key_hash: str,
    prefix: str,
    role: str,
    subject_id: str | None,
    label: str,
    expires_at: datetime | None = None,
    rotated_from: int | None = None,
) -> ApiKey:
    row = ApiKey(
        key_hash=key_hash,
        prefix=prefix,
        role=role,
        subject_id=subject_id,
        label=label,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row, ["created_at"])
    return row


async def key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return (
        await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))
    ).scalar_one_or_none()


async def get_key(session: AsyncSession, key_id: int, *, lock: bool = False) -> ApiKey | None:
    """One key; `lock` holds it until commit, so a rotation and a revocation never interleave."""
    query = select(ApiKey).where(ApiKey.key_id == key_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def page_keys(
    session: AsyncSession,
    *,
    role: str | None,
    subject_id: str | None,
    limit: int,
    before: int | None,
) -> list[ApiKey]:
    """Keys newest first, those older than key `before` when given."""
    query = select(ApiKey).order_by(ApiKey.key_id.desc()).limit(limit)
    if role is not None:
        query = query.where(ApiKey.role == role)
    if subject_id is not None:
        query = query.where(ApiKey.subject_id == subject_id)
    if before is not None:
        query = query.where(ApiKey.key_id < before)
    return list((await session.execute(query)).scalars())


async def mark_used(session: AsyncSession, row: ApiKey, now: datetime) -> None:
    """Record a use when the last recorded one is older than `LAST_USED_GRANULARITY`; the
    condition is repeated in SQL so concurrent calls write once."""
    stale = now - LAST_USED_GRANULARITY
    if row.last_used_at is not None and row.last_used_at >= stale:
        return
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.key_id == row.key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
