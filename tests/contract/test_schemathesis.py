"""Schemathesis over the OpenAPI document, with the key of each role, against the live stack: no
request gets a 5xx, every answer is one the document describes (status, content type, body,
required headers), a request the document forbids is refused, and a method a path lacks is 405
with `Allow`.

Bounded so the module stays within a few minutes on two cores: each operation gets the
document's examples, schemathesis' coverage cases (boundaries, missing and mistyped fields) and
`MAX_EXAMPLES` generated requests, valid and invalid, derandomized from `SEED`, never shrunk.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode

from api.app import create_app
from api.auth import Role, hash_key, issue_key
from api.problems import PROBLEM_JSON
from persistence.models import ApiKey, Merchant, Warehouse
from tests.support.stack import Stack

SEED = 20261123
# 10 in the test command; `SCHEMATHESIS_MAX_EXAMPLES=100 make test` digs deeper.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
]
# A drawn `key_id` could name any key, one another test still uses: every call that names a key
# names this one, which the run makes for itself, past any id the database hands out.
SPARE_KEY_ID = 2**31 - 1

# The document the cases are drawn from, built at import because schemathesis makes one test per
# operation then; `test_the_live_api_serves_the_document_tested` holds the live one to it.
DOCUMENT: dict[str, Any] = create_app().openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.seed = SEED
schema.config.update(parameters={"path.key_id": SPARE_KEY_ID})
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    no_shrink=True,
    deterministic=True,
    database="none",
    # The key is the role's, sent by the test; a drawn `Authorization` would only be replaced.
    with_security_parameters=False,
)
schema.config.checks.update(included_check_names=CHECKS)


@pytest.fixture(scope="module")
async def keys(stack: Stack) -> dict[str, str]:
    """A key per role, each with a subject of its own, so nothing the run changes (a watchlist
    entry, a policy, an inbox) is another test's."""
    tag = uuid.uuid4().hex[:8]
    merchant, warehouse = f"m-c{tag}", f"wh-c{tag}"
    keys = {Role.buyer.value: stack.keys[await stack.new_buyer()]}
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant, name="Contract shop"))
        await session.flush()
        session.add(
            Warehouse(warehouse_id=warehouse, merchant_id=merchant, name="Contract DC", address="-")
        )
        subjects = {
            Role.merchant: merchant,
            Role.warehouse: warehouse,
            Role.support: f"s-c{tag}",
            Role.platform: None,
        }
        for role, subject in subjects.items():
            keys[role.value] = await issue_key(session, role, subject, f"contract {role}")
        session.add(
            ApiKey(
                key_id=SPARE_KEY_ID,
                key_hash=hash_key(f"contract-spare-{tag}"),
                prefix="contract",
                role=Role.buyer,
                subject_id=f"b-c{tag}",
                label="contract spare",
            )
        )
    return keys


@pytest.fixture(scope="module")
async def loop(stack: Stack) -> asyncio.AbstractEventLoop:
    """The event loop the stack serves in. A schemathesis test is synchronous: while its request
    is in flight, in a thread, the test runs this loop so the API and the worker can answer."""
    return asyncio.get_running_loop()


async def test_the_live_api_serves_the_document_tested(stack: Stack) -> None:
    async with stack.client(None) as http:
        answer = await http.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == DOCUMENT


async def test_a_method_a_path_lacks_is_405_naming_every_method_it_has(stack: Stack) -> None:
    async with stack.client(None) as http:
        answer = await http.delete("/v1/orders/O-CONTRACT")
    assert answer.status_code == 405
    # Two routes share the path, one per method: `Allow` names both.
    assert answer.headers["Allow"] == "GET, PUT"
    assert answer.headers["Content-Type"] == PROBLEM_JSON
    assert answer.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("role", sorted(Role))
@schema.parametrize()
def test_no_request_breaks_the_contract(
    case: schemathesis.Case,
    role: str,
    stack: Stack,
    keys: dict[str, str],
    loop: asyncio.AbstractEventLoop,
) -> None:
    call = asyncio.to_thread(
        case.call_and_validate,
        base_url=stack.api_url,
        headers={"Authorization": f"Bearer {keys[role]}"},
        timeout=30,
    )
    loop.run_until_complete(call)
