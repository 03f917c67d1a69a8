"""Request dependencies as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.auth import Principal, Role, verify_buyer_token, verify_key
from api.buyer_tokens import BuyerTokens, looks_like_jwt
from api.problems import Problem
from domain.actions import Action, who
from settings import Settings


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _sessions(request)() as session:
        yield session


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _buyer_tokens(request: Request) -> BuyerTokens:
    """Built on first use and kept for the process: its JWKS client caches the platform's keys."""
    tokens: BuyerTokens | None = getattr(request.app.state, "buyer_tokens", None)
    if tokens is None:
        tokens = request.app.state.buyer_tokens = BuyerTokens(_settings(request).auth)
    return tokens


async def _principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """An API key (`ak_…`) or a buyer token (a JWT: three dot-separated parts), told by shape."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Problem(
            401,
            "unauthenticated",
            "send an API key or a buyer token as `Authorization: Bearer <credential>`",
        )
    if looks_like_jwt(token):
        return await verify_buyer_token(_buyer_tokens(request), token)
    async with _sessions(request)() as session:
        principal = await verify_key(session, token, datetime.now(UTC))
        await session.commit()
    return principal


SessionDep = Annotated[AsyncSession, Depends(_session)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
TemporalDep = Annotated[Client, Depends(_temporal)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PrincipalDep = Annotated[Principal, Depends(_principal)]
IdempotencyKeyDep = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=128, min_length=1)
]


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits only the given roles (403 for the others)."""

    async def _check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(roles)
            raise Problem(
                403, "forbidden_role", f"a {principal.role} key cannot do this (needs {allowed})"
            )
        return principal

    return _check


def require_action(action: Action) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits the roles that may ever take `action` (403 for the others)."""
    return require(*(Role(actor) for actor in who(action)))
