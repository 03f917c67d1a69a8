"""Request dependencies as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.auth import Principal, Role, authenticate
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


async def _principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthenticated", "send an API key as `Authorization: Bearer <key>`")
    async with _sessions(request)() as session:
        principal = await authenticate(session, token.strip())
    if principal is None:
        raise Problem(401, "unauthenticated", "the API key is unknown or revoked")
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
