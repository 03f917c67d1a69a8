"""Namespace and custom search attributes of SPEC §9, registered idempotently.

`python -m stack.temporal_admin` is the admin job of docker-compose.yml; the run command calls
`ensure_namespace_and_search_attributes` directly after its Temporal answers.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType as SAType
from temporalio.service import RPCError, RPCStatusCode

from contracts.search_attributes import ALL_KEYS
from observability.logs import configure_from_environment

SEARCH_ATTRIBUTES: dict[str, SAType] = {key.name: key.indexed_value_type for key in ALL_KEYS}

# The spelling `temporal server start-dev --search-attribute Name=Type` expects.
CLI_TYPE_NAMES: dict[SAType, str] = {
    SAType.KEYWORD: "Keyword",
    SAType.DATETIME: "Datetime",
    SAType.INT: "Int",
    SAType.BOOL: "Bool",
}

log = logging.getLogger("aftersales.temporal_admin")
DEFAULT_RETENTION = timedelta(days=7)
# A namespace registered a moment ago is unknown to the other frontends until their
# namespace cache refreshes (10 s by default), so its first writes are retried this long.
_NEW_NAMESPACE_GRACE = 30.0


async def ensure_namespace(
    client: Client, namespace: str, retention: timedelta = DEFAULT_RETENTION
) -> bool:
    """Register `namespace` unless it exists; True when this call registered it."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return False
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    period = Duration()
    period.FromTimedelta(retention)
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace, workflow_execution_retention_period=period
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:  # another admin job won the race
            raise
        return False
    return True


async def registered_search_attributes(client: Client, namespace: str) -> dict[str, SAType]:
    """The namespace's custom search attributes and their types."""
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {name: SAType(kind) for name, kind in response.custom_attributes.items()}


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the §9 attributes the namespace lacks; returns the names added."""
    existing = await registered_search_attributes(client, namespace)
    clashes = [
        f"{name} is {existing[name].name}, expected {kind.name}"
        for name, kind in SEARCH_ATTRIBUTES.items()
        if name in existing and existing[name] != kind
    ]
    if clashes:
        raise RuntimeError(f"search attributes of {namespace!r} disagree: " + "; ".join(clashes))
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in existing}
    if not missing:
        return []
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                name: IndexedValueType.ValueType(kind) for name, kind in missing.items()
            },
        )
    )
    return sorted(missing)


async def ensure_namespace_and_search_attributes(client: Client, namespace: str) -> list[str]:
    """Make `namespace` and the nine search attributes exist; returns the attributes added."""
    registered = await ensure_namespace(client, namespace)
    deadline = time.monotonic() + (_NEW_NAMESPACE_GRACE if registered else 0.0)
    while True:
        try:
            return await ensure_search_attributes(client, namespace)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(1.0)


async def connect_with_retry(address: str, namespace: str, patience: float = 60.0) -> Client:
    """Connect to Temporal, retrying for `patience` seconds while the server is starting."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await Client.connect(address, namespace=namespace)
        except RuntimeError:  # the SDK reports a refused connection as RuntimeError
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(1.0)


async def _main() -> int:
    settings = configure_from_environment()
    address, namespace = settings.temporal_address, settings.temporal_namespace
    log.info("connecting to %s", address)
    try:
        client = await connect_with_retry(address, namespace)
    except RuntimeError as err:
        log.error("cannot reach Temporal at %s: %s", address, err)
        return 1
    added = await ensure_namespace_and_search_attributes(client, namespace)
    summary = ", ".join(added) if added else "none (all present)"
    log.info("namespace %r ready; search attributes added: %s", namespace, summary)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
