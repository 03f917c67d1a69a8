"""Shops of a test's own, so that what a test sets for its merchant (policy, rules) reaches no
other test's tickets."""

from __future__ import annotations

import uuid

from api.auth import Role, issue_key
from persistence.models import Merchant
from tests.support.stack import Stack


async def new_shop(stack: Stack, name: str) -> str:
    """A merchant with a key under the client label `merchant:<id>`; returns its id."""
    merchant_id = f"m-t{uuid.uuid4().hex[:8]}"
    async with stack.sessions() as session:
        session.add(Merchant(merchant_id=merchant_id, name=name))
        await session.flush()
        stack.keys[f"merchant:{merchant_id}"] = await issue_key(
            session, Role.merchant, merchant_id, name
        )
        await session.commit()
    return merchant_id
