"""Session-wide real infrastructure: PostgreSQL (migrated by Alembic) and Temporal servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from contracts.search_attributes import ALL_KEYS
from persistence.db import make_engine, make_session_factory
from stack.temporal_dev import FAIRNESS
from tests.support import temporal as servers
from tests.support.database import fresh_database, server_url
from tests.support.servers import free_port
from tests.support.stack import Stack, running_stack
from tests.support.temporal import dev_server_path


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_url(tmp_path_factory.mktemp("pg")) as server, fresh_database(server) as url:
        yield url


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def dev_ui_url() -> str:
    """The Temporal UI of `dev_env`, as support opens it."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
async def dev_env(dev_ui_url: str) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal CLI dev server with its UI, and the search attributes of SPEC §9."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        search_attributes=ALL_KEYS,
        data_converter=pydantic_data_converter,
        ui=True,
        ui_port=int(dev_ui_url.rsplit(":", 1)[1]),
        dev_server_log_level="error",
        dev_server_extra_args=["--ui-disable-news-fetch", *FAIRNESS],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: durable timers of days pass in milliseconds."""
    async with servers.time_skipping_server() as env:
        yield env


@pytest.fixture(scope="session")
async def stack(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    dev_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """API, worker and sandbox payment provider on the dev server and the test database."""
    async with running_stack(
        database_url, sessions, dev_env, tmp_path_factory.mktemp("stack")
    ) as running:
        yield running
