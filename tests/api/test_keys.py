"""API keys through support's `/v1/keys` and `python -m stack.keys`: issue, list, rotate with an
overlap, expire, revoke, each one taking effect on the next call the key makes."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = "support:s-1"


def _buyer_id() -> str:
    return f"b-key-{uuid.uuid4().hex[:8]}"


def _as(stack: Stack, api_key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


async def _issue(stack: Stack, **body: Any) -> dict[str, Any]:
    body = {"role": "buyer", "subject_id": _buyer_id(), "label": "test", **body}
    async with stack.client(SUPPORT) as support:
        issued = await support.post("/v1/keys", json=body)
    assert issued.status_code == 201, issued.text
    return dict(issued.json())


async def _calls(stack: Stack, api_key: str) -> httpx.Response:
    """One call a buyer key may make: its own tickets."""
    async with _as(stack, api_key) as http:
        return await http.get("/v1/tickets")


async def _support(stack: Stack, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    async with stack.client(SUPPORT) as support:
        return await support.post(path, json=body)


def _refused(response: httpx.Response, reason: str, words: str) -> None:
    assert response.status_code == 401, response.text
    problem = response.json()
    assert (problem["code"], problem["reason"]) == ("unauthenticated", reason)
    assert words in problem["detail"]
    assert response.headers["content-type"] == "application/problem+json"


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_an_issued_key_works_at_once_and_its_secret_is_never_listed(stack: Stack) -> None:
    issued = await _issue(stack, label="shop app, buyer login")
    api_key = issued["api_key"]
    assert api_key.startswith("ak_buyer_") and issued["prefix"] == api_key[:16]
    assert (issued["status"], issued["expires_at"], issued["revoked_at"]) == ("active", None, None)

    assert (await _calls(stack, api_key)).status_code == 200
    async with stack.client(SUPPORT) as support:
        listed = await support.get("/v1/keys", params={"subject_id": issued["subject_id"]})
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["key_id"] == issued["key_id"] and item["label"] == "shop app, buyer login"
    assert "api_key" not in item and api_key not in listed.text
    assert item["last_used_at"] is not None


async def test_only_support_manages_keys(stack: Stack) -> None:
    issued = await _issue(stack)
    calls = [
        ("POST", "/v1/keys", {"role": "support", "subject_id": "s-2", "label": "mine now"}),
        ("GET", "/v1/keys", None),
        ("POST", f"/v1/keys/{issued['key_id']}/rotate", None),
        ("POST", f"/v1/keys/{issued['key_id']}/expire", {"at": _in(0)}),
        ("POST", f"/v1/keys/{issued['key_id']}/revoke", None),
    ]
    for label in ("buyer:b-501", "merchant:m-1001", "warehouse:wh-1001", "platform:shop"):
        async with stack.client(label) as http:
            for method, path, body in calls:
                answer = await http.request(method, path, json=body)
                assert answer.status_code == 403, (label, path, answer.text)
                assert answer.json()["code"] == "forbidden_role"
    async with stack.client(None) as anonymous:
        assert (await anonymous.get("/v1/keys")).status_code == 401
    # Nothing of the refused calls took effect.
    assert (await _calls(stack, issued["api_key"])).status_code == 200


async def test_a_rotated_key_keeps_working_until_its_overlap_ends(stack: Stack) -> None:
    old = await _issue(stack, label="nightly sync")
    rotated = await _support(stack, f"/v1/keys/{old['key_id']}/rotate", {"overlap": "PT2S"})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["rotated_from"] == old["key_id"] and new["api_key"] != old["api_key"]
    assert (new["role"], new["subject_id"], new["label"]) == (
        "buyer",
        old["subject_id"],
        "nightly sync",
    )
    ends = datetime.fromisoformat(new["previous"]["expires_at"])
    assert timedelta(0) < ends - datetime.now(UTC) <= timedelta(seconds=2)

    assert (await _calls(stack, old["api_key"])).status_code == 200
    assert (await _calls(stack, new["api_key"])).status_code == 200
    await asyncio.sleep((ends - datetime.now(UTC)).total_seconds() + 0.2)
    _refused(await _calls(stack, old["api_key"]), "key_expired", "expired at")
    assert (await _calls(stack, new["api_key"])).status_code == 200


async def test_a_rotation_never_lengthens_the_old_key_and_defaults_to_a_day(stack: Stack) -> None:
    soon = await _issue(stack, expires_at=_in(600))
    later = await _issue(stack)
    kept = (await _support(stack, f"/v1/keys/{soon['key_id']}/rotate")).json()
    default = (await _support(stack, f"/v1/keys/{later['key_id']}/rotate")).json()
    assert kept["previous"]["expires_at"] == soon["expires_at"]
    left = datetime.fromisoformat(default["previous"]["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)
    assert (await _calls(stack, later["api_key"])).status_code == 200


async def test_expire_sets_when_a_key_stops_working(stack: Stack) -> None:
    issued = await _issue(stack)
    path = f"/v1/keys/{issued['key_id']}/expire"
    later = await _support(stack, path, {"at": _in(3600)})
    assert later.status_code == 200, later.text
    assert later.json()["status"] == "active" and later.json()["expires_at"] is not None
    assert (await _calls(stack, issued["api_key"])).status_code == 200

    now = await _support(stack, path, {"at": _in(-1)})
    assert now.json()["status"] == "expired"
    _refused(await _calls(stack, issued["api_key"]), "key_expired", "expired at")
    # An expired key is not brought back; a new one is issued instead.
    revived = await _support(stack, path, {"at": _in(3600)})
    assert (revived.status_code, revived.json()["code"]) == (409, "key_expired")
    _refused(await _calls(stack, issued["api_key"]), "key_expired", "expired at")


async def test_revoke_takes_effect_at_once_and_ends_rotation(stack: Stack) -> None:
    issued = await _issue(stack)
    assert (await _calls(stack, issued["api_key"])).status_code == 200
    revoked = await _support(stack, f"/v1/keys/{issued['key_id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    _refused(await _calls(stack, issued["api_key"]), "key_revoked", "revoked at")

    again = await _support(stack, f"/v1/keys/{issued['key_id']}/revoke")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    rotated = await _support(stack, f"/v1/keys/{issued['key_id']}/rotate")
    assert (rotated.status_code, rotated.json()["code"]) == (409, "key_revoked")


async def test_a_support_key_may_revoke_itself(stack: Stack) -> None:
    own = await _issue(stack, role="support", subject_id="s-key", label="leaked laptop")
    async with _as(stack, own["api_key"]) as http:
        revoked = await http.post(f"/v1/keys/{own['key_id']}/revoke")
        after = await http.get("/v1/keys")
    assert revoked.status_code == 200, revoked.text
    _refused(after, "key_revoked", "revoked at")


async def test_unknown_keys_are_refused(stack: Stack) -> None:
    _refused(await _calls(stack, "ak_buyer_never-issued"), "key_unknown", "unknown")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"role": "buyer", "subject_id": None}, "subject_required", "subject_id"),
        ({"role": "merchant", "subject_id": "m-nobody"}, "unknown_subject", "subject_id"),
        ({"role": "warehouse", "subject_id": "wh-nobody"}, "unknown_subject", "subject_id"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expiry_in_past", "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "validation_error", "expires_at"),
        ({"expires_at": "9999-12-31T23:59:59-05:00"}, "validation_error", "expires_at"),
        ({"role": "admin"}, "validation_error", "role"),
        ({"label": " "}, "validation_error", "label"),
        ({"label": "a\u0000b"}, "validation_error", "label"),
        ({"subject_id": "x" * 65}, "validation_error", "subject_id"),
        ({"key_hash": "0" * 64}, "validation_error", "key_hash"),
    ],
)
async def test_issue_refuses_a_key_that_could_not_work(
    stack: Stack, body: dict[str, Any], code: str, field: str
) -> None:
    request = {"role": "buyer", "subject_id": _buyer_id(), "label": "test", **body}
    async with stack.client(SUPPORT) as support:
        answer = await support.post("/v1/keys", json=request)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    assert field in {error["field"] for error in answer.json()["errors"]}


async def test_key_paths_refuse_unknown_and_out_of_range_ids(stack: Stack) -> None:
    async with stack.client(SUPPORT) as support:
        missing = await support.post(f"/v1/keys/{2**31 - 1}/revoke")
        huge = await support.post(f"/v1/keys/{2**31}/revoke")
        overlap = await support.post("/v1/keys/1/rotate", json={"overlap": "P31D"})
        cursor = await support.get("/v1/keys", params={"cursor": "not-a-cursor"})
        # Ten digits past an INTEGER once answered 500 "integer out of range".
        too_far = await support.get("/v1/keys", params={"cursor": "9999999999"})
    assert (missing.status_code, missing.json()["code"]) == (404, "key_not_found")
    assert (huge.status_code, huge.json()["code"]) == (422, "validation_error")
    assert (overlap.status_code, overlap.json()["code"]) == (422, "validation_error")
    assert (cursor.status_code, cursor.json()["code"]) == (422, "validation_error")
    assert (too_far.status_code, too_far.json()["code"]) == (422, "validation_error")


async def test_the_list_pages_by_cursor_and_filters_by_role_and_subject(stack: Stack) -> None:
    subject = _buyer_id()
    ids = [(await _issue(stack, subject_id=subject, label=f"k{n}"))["key_id"] for n in range(3)]
    seen: list[int] = []
    cursor: str | None = None
    async with stack.client(SUPPORT) as support:
        while True:
            params: dict[str, Any] = {"subject_id": subject, "role": "buyer", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await support.get("/v1/keys", params=params)).json()
            assert len(page["items"]) <= 2
            seen += [item["key_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        merchants = (await support.get("/v1/keys", params={"role": "merchant"})).json()
    assert seen == sorted(ids, reverse=True)
    assert {item["role"] for item in merchants["items"]} == {"merchant"}


async def _command(stack: Stack, *args: str) -> tuple[int, str, str]:
    assert stack.settings.database_url is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stack.keys",
        *args,
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": stack.settings.database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _plain_key(output: str) -> str:
    lines = output.splitlines()
    return lines[lines.index("key (shown once, store it now):") + 1]


async def test_the_admin_command_manages_keys_against_the_database(stack: Stack) -> None:
    subject = _buyer_id()
    code, out, err = await _command(
        stack, "issue", "--role", "buyer", "--subject", subject, "--label", "by hand"
    )
    assert code == 0, err
    first = _plain_key(out)
    assert (await _calls(stack, first)).status_code == 200

    code, out, err = await _command(stack, "list", "--subject", subject)
    assert code == 0, err
    (listed,) = out.splitlines()
    key_id = listed.split()[0]
    assert first[:16] in listed and first not in listed and "active" in listed

    code, out, err = await _command(stack, "rotate", key_id, "--overlap", "3600")
    assert code == 0, err
    second = _plain_key(out)
    assert second != first and f"rotated_from={key_id}" in out
    assert (await _calls(stack, first)).status_code == 200
    assert (await _calls(stack, second)).status_code == 200

    code, out, err = await _command(stack, "expire", key_id, "--at", "now")
    assert code == 0 and "expired" in out, err
    _refused(await _calls(stack, first), "key_expired", "expired at")
    code, out, err = await _command(stack, "list", "--subject", subject)
    newest = out.splitlines()[0].split()[0]
    code, out, err = await _command(stack, "revoke", newest)
    assert code == 0 and "revoked" in out, err
    _refused(await _calls(stack, second), "key_revoked", "revoked at")

    code, _, err = await _command(stack, "revoke", "2147483647")
    assert code == 1 and "key_not_found" in err
    code, _, err = await _command(stack, "issue", "--role", "merchant", "--label", "x")
    assert code == 1 and "subject_required" in err
    code, _, err = await _command(stack, "expire", key_id, "--at", "tomorrow")
    assert code == 2 and "at" in err
