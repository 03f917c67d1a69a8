"""`aftersales` run as an operator runs it, against the suite's stack: the test database, the
Temporal dev server and the stack's task queue, named by the environment as for any process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
from typer.testing import CliRunner, Result

from aftersales_cli.main import app
from settings import get_settings
from tests.support.stack import Stack

UI_URL = "http://temporal-ui.test:8233"
Cli = Callable[..., Awaitable[Result]]


def cli_environment(stack: Stack) -> dict[str, str]:
    settings = stack.settings
    return {
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": stack.temporal.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": stack.temporal.client.namespace,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "TEMPORAL_UI_URL": UI_URL,
        "DATA_DIR": str(settings.data_dir),
        # Wide enough that no table folds a ticket number.
        "COLUMNS": "400",
    }


@pytest.fixture
def cli(stack: Stack) -> Iterator[Cli]:
    """`await cli("tickets", "show", no)`: the command in a thread of its own (it runs its own
    event loop, as the console script does), with settings read afresh from its environment."""
    runner = CliRunner()
    env = cli_environment(stack)

    def invoke(args: tuple[str, ...]) -> Result:
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args), env=env)
        finally:
            get_settings.cache_clear()

    async def run(*args: str) -> Result:
        return await asyncio.to_thread(invoke, args)

    yield run
