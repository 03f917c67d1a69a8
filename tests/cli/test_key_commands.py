"""`aftersales keys issue | list | revoke`: a key issued by the CLI works on the API until the
CLI revokes it. The list runs as its own process, through `python -m aftersales_cli`."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid

from persistence.models import Merchant
from tests.cli.conftest import Cli, cli_environment
from tests.support.stack import Stack


async def test_a_key_is_issued_listed_and_revoked_and_the_api_follows(
    stack: Stack, cli: Cli
) -> None:
    merchant = f"m-cli-{uuid.uuid4().hex[:8]}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant, name=f"Shop {merchant}"))
    issued = await cli(
        "keys", "issue", "--role", "merchant", "--subject", merchant, "--label", "cli test"
    )
    assert issued.exit_code == 0, issued.output
    match = re.search(r"issued: (\d+) ", issued.stdout)
    assert match, issued.stdout
    key_id = match[1]
    plain = issued.stdout.strip().splitlines()[-1]
    assert plain.startswith("ak_merchant_")
    stack.keys[f"merchant:{merchant}"] = plain
    async with stack.client(f"merchant:{merchant}") as http:
        working = await http.get("/v1/tickets")

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aftersales_cli",
        "keys",
        "list",
        "--role",
        "merchant",
        "--subject",
        merchant,
        env={**os.environ, **cli_environment(stack)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    listed_out, listed_err = await process.communicate()
    revoked = await cli("keys", "revoke", key_id)
    again = await cli("keys", "revoke", "999999999")
    listed_after = await cli("keys", "list", "--subject", merchant)
    async with stack.client(f"merchant:{merchant}") as http:
        refused = await http.get("/v1/tickets")
    bad_role = await cli("keys", "issue", "--role", "owner", "--label", "x")

    assert working.status_code == 200, working.text
    assert process.returncode == 0, listed_err.decode()
    [row] = listed_out.decode().splitlines()
    assert row.startswith(f"{key_id}  ") and f"merchant:{merchant}" in row and "'cli test'" in row
    assert plain not in listed_out.decode()
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.stdout
    assert again.exit_code == 1 and "refused" in again.stderr
    [after] = listed_after.stdout.splitlines()
    assert after.startswith(f"{key_id}  ") and "revoked=-" not in after
    assert refused.status_code == 401 and refused.json()["reason"] == "key_revoked"
    assert bad_role.exit_code == 2
