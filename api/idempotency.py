"""`Idempotency-Key`: same key and body -> same answer; same key, other body -> 422."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.problems import Problem
from persistence.models import IdempotentRequest


def request_hash(scope: str, body: Any) -> str:
    canonical = json.dumps([scope, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def replayed(
    session: AsyncSession, principal: Principal, key: str | None, scope: str, digest: str
) -> IdempotentRequest | None:
    """The earlier request under this key, if any; refuses a key reused for another request."""
    if key is None:
        return None
    earlier = await session.get(IdempotentRequest, (principal.name, key))
    if earlier is None:
        return None
    if earlier.scope != scope or earlier.request_hash != digest:
        raise Problem(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        )
    return earlier


def update_id(principal: Principal, key: str | None, digest: str) -> str | None:
    """The id of the Update an action sends: the same for the same caller, key and request, so
    Temporal takes it once however often it is sent. The request's digest is part of it: a key
    reused for another request whose first answer was lost must not be answered with the first
    request's outcome. Without a key, the SDK draws a fresh id."""
    if key is None:
        return None
    return f"{principal.name}:{key}:{digest[:16]}"


def remember(
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    scope: str,
    digest: str,
    resource_id: str,
    status_code: int,
) -> None:
    if key is None:
        return
    session.add(
        IdempotentRequest(
            principal=principal.name,
            key=key,
            scope=scope,
            request_hash=digest,
            resource_id=resource_id,
            status_code=status_code,
        )
    )


async def flush_first(session: AsyncSession) -> None:
    """Let unique constraints speak before anything is committed: a request remembered under a
    key another one holds is still being handled (409 `concurrent_request`)."""
    try:
        await session.flush()
    except IntegrityError as error:
        raise Problem(
            409, "concurrent_request", "the same request is being handled; retry shortly"
        ) from error
