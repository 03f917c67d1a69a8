"""Support's API keys: issue, list, rotate, expire, revoke (SPEC §8).

No `Idempotency-Key` here: replaying an answer would mean storing the plain key it carried. A
support key may rotate, expire or revoke itself: whoever holds a leaked key must be able to end
it, and `python -m stack.keys` is the way back in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from api.auth import Principal, Role
from api.deps import SessionDep, SettingsDep, require
from api.problems import PROBLEM_JSON
from api.schemas.keys import (
    ExpireKeyBody,
    IssuedKeyView,
    IssueKeyBody,
    KeyPage,
    KeyView,
    RotatedKeyView,
    RotateKeyBody,
)
from api.services import keys as service
from domain.bounds import MAX_INTEGER
from persistence.models import ApiKey

router = APIRouter(
    prefix="/v1/keys",
    tags=["keys"],
    responses={403: {"description": "only a support key manages keys"}},
)
SupportDep = Annotated[Principal, Depends(require(Role.support))]
_ENDED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "the key is revoked (`key_revoked`) or has expired (`key_expired`)",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}
KeyId = Annotated[int, Path(ge=1, le=MAX_INTEGER)]


@router.post("", status_code=201, response_model=IssuedKeyView)
async def issue_key(body: IssueKeyBody, session: SessionDep, _: SupportDep) -> IssuedKeyView:
    """A new key; the answer is the only place its plain text appears."""
    now = datetime.now(UTC)
    issued = await service.issue(
        session, body.role, body.subject_id, body.label, body.expires_at, now
    )
    await session.commit()
    return IssuedKeyView(**_view(issued.row, now).model_dump(), api_key=issued.plain)


@router.get("", response_model=KeyPage)
async def list_keys(
    session: SessionDep,
    _: SupportDep,
    role: Role | None = None,
    subject_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
) -> KeyPage:
    """Keys newest first, one page at a time (`next_cursor` until exhausted); never a secret."""
    before = cursor
    rows = await service.page(
        session, role=role, subject_id=subject_id, limit=limit + 1, before=before
    )
    now = datetime.now(UTC)
    page = rows[:limit]
    return KeyPage(
        items=[_view(row, now) for row in page],
        next_cursor=str(page[-1].key_id) if len(rows) > limit else None,
    )


@router.post("/{key_id}/rotate", status_code=201, response_model=RotatedKeyView, responses=_ENDED)
async def rotate_key(
    key_id: KeyId,
    session: SessionDep,
    settings: SettingsDep,
    _: SupportDep,
    body: RotateKeyBody | None = None,
) -> RotatedKeyView:
    """A successor key, shown once; the old one keeps working for the overlap."""
    body = body or RotateKeyBody()
    overlap = body.overlap if body.overlap is not None else settings.auth.key_rotation_overlap
    now = datetime.now(UTC)
    issued, previous = await service.rotate(session, key_id, overlap, body.expires_at, now)
    await session.commit()
    return RotatedKeyView(
        **_view(issued.row, now).model_dump(),
        api_key=issued.plain,
        previous=_view(previous, now),
    )


@router.post("/{key_id}/expire", response_model=KeyView, responses=_ENDED)
async def expire_key(
    key_id: KeyId, body: ExpireKeyBody, session: SessionDep, _: SupportDep
) -> KeyView:
    """Set when the key stops working (a past time: now)."""
    now = datetime.now(UTC)
    row = await service.expire(session, key_id, body.at, now)
    await session.commit()
    return _view(row, now)


@router.post("/{key_id}/revoke", response_model=KeyView)
async def revoke_key(key_id: KeyId, session: SessionDep, _: SupportDep) -> KeyView:
    """End the key at once; its next call is 401."""
    now = datetime.now(UTC)
    row = await service.revoke(session, key_id, now)
    await session.commit()
    return _view(row, now)


def _view(row: ApiKey, now: datetime) -> KeyView:
    return KeyView(
        key_id=row.key_id,
        prefix=row.prefix,
        role=Role(row.role),
        subject_id=row.subject_id,
        label=row.label,
        status=service.status_of(row, now),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        rotated_from=row.rotated_from,
    )
