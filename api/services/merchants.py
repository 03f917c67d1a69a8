"""A merchant named in a path: a merchant's key sees only its own; support sees every one."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, Role
from api.problems import Problem
from persistence.policies import merchant_exists


async def known_merchant(session: AsyncSession, merchant_id: str, principal: Principal) -> None:
    """Anything but the caller's own merchant (or, for support, a stored one) is not found."""
    foreign = principal.role is Role.merchant and principal.subject_id != merchant_id
    if foreign or not await merchant_exists(session, merchant_id):
        raise Problem(404, "merchant_not_found", f"no merchant {merchant_id}")
