"""What every command shares: settings, the database and Temporal as the other processes reach
them, the two consoles, and how a refusal or an outage becomes an exit status.

Exit status: 0 done, 1 refused or problems found (the reason is printed), 2 a usage error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api import faults
from api.auth import Principal, Role
from api.problems import Problem
from persistence.db import make_engine, make_session_factory
from settings import Settings, get_settings
from stack.consistency import database_url

OK, PROBLEMS, USAGE = 0, 1, 2
# Who acts when a command acts as support: `support:cli` unless `--support-id` names someone.
SUPPORT_ID = "cli"


def out() -> Console:
    """Built per use: a console bound at import would keep the stdout of that moment."""
    return Console()


def err() -> Console:
    return Console(stderr=True)


def settings() -> Settings:
    return get_settings()


def support(subject_id: str | None) -> Principal:
    return Principal(role=Role.support, subject_id=subject_id or SUPPORT_ID, key_id=None)


@asynccontextmanager
async def database(config: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """`DATABASE_URL`, or the embedded PostgreSQL of `make dev` in DATA_DIR (stack.consistency)."""
    with ExitStack() as held:
        try:
            url = held.enter_context(database_url(config))
        except RuntimeError as missing:
            raise no_database(missing) from missing
        engine = make_engine(url, pool_size=2)
        try:
            yield make_session_factory(engine)
        finally:
            await engine.dispose()


def no_database(error: RuntimeError) -> Problem:
    """Neither `DATABASE_URL` nor an embedded PostgreSQL that starts."""
    return faults.unavailable(faults.DATABASE_UNAVAILABLE, str(error))


async def temporal(config: Settings) -> Client:
    """A client as the API's: the pydantic converter, and an unreachable server refused soon."""
    try:
        return await Client.connect(
            config.temporal_address,
            namespace=config.temporal_namespace,
            data_converter=pydantic_data_converter,
            retry_config=faults.TEMPORAL_RETRY,
        )
    except RuntimeError as error:
        raise faults.unavailable(
            faults.TEMPORAL_UNAVAILABLE,
            f"Temporal at {config.temporal_address} does not answer ({error})",
        ) from error


def run(work: Coroutine[Any, Any, int]) -> None:
    """Run a command's work and leave with its exit status."""
    try:
        code = asyncio.run(work)
    except Problem as problem:
        err().print(f"{_kind(problem)} ({problem.code}): {problem.detail}", markup=False)
        code = PROBLEMS
    except ValidationError as invalid:
        invalid_fields(invalid)
        code = USAGE
    except faults.DATABASE_FAULTS as error:
        err().print(f"the database did not answer: {error}", markup=False)
        code = PROBLEMS
    raise typer.Exit(code)


def invalid_fields(invalid: ValidationError) -> None:
    for error in invalid.errors():
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        err().print(f"invalid {where}: {error['msg']}", markup=False)


def _kind(problem: Problem) -> str:
    return "refused" if problem.status < 500 else "unavailable"
