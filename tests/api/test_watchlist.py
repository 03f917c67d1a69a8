"""The support watchlist through the API: support only, add or update, remove."""

from __future__ import annotations

import uuid

from tests.support.stack import Stack

SUPPORT = "support:s-1"


def _buyer() -> str:
    return f"b-watch-{uuid.uuid4().hex[:8]}"


async def test_support_adds_updates_lists_and_removes_a_buyer(stack: Stack) -> None:
    buyer_id = _buyer()
    url = f"/v1/watchlist/{buyer_id}"
    async with stack.client(SUPPORT) as support:
        added = await support.put(url, json={"reason": "  three chargebacks this month "})
        updated = await support.put(url, json={"reason": "chargebacks and empty-box claims"})
        listed = (await support.get("/v1/watchlist", params={"limit": 200})).json()
        removed = await support.delete(url)
        removed_again = await support.delete(url)
        after = (await support.get("/v1/watchlist", params={"limit": 200})).json()

    assert added.status_code == 200, added.text
    assert added.json()["buyer_id"] == buyer_id
    assert added.json()["reason"] == "three chargebacks this month"
    assert added.json()["added_by"] == "s-1"
    assert updated.status_code == 200
    assert updated.json()["reason"] == "chargebacks and empty-box claims"
    mine = [e for e in listed["items"] if e["buyer_id"] == buyer_id]
    assert [e["reason"] for e in mine] == ["chargebacks and empty-box claims"]
    assert removed.status_code == 204 and removed.content == b""
    assert removed_again.status_code == 404
    assert removed_again.json()["code"] == "not_on_watchlist"
    assert removed_again.headers["content-type"] == "application/problem+json"
    assert buyer_id not in [e["buyer_id"] for e in after["items"]]


async def test_the_watchlist_pages_by_cursor(stack: Stack) -> None:
    prefix = f"b-page-{uuid.uuid4().hex[:6]}"
    buyers = [f"{prefix}-{n}" for n in range(3)]
    seen: list[str] = []
    async with stack.client(SUPPORT) as support:
        for buyer_id in buyers:
            assert (await support.put(f"/v1/watchlist/{buyer_id}", json={"reason": "x"})).is_success
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await support.get("/v1/watchlist", params=params)).json()
            seen += [e["buyer_id"] for e in page["items"]]
            assert len(page["items"]) <= 2
            cursor = page["next_cursor"]
            if cursor is None:
                break
        bad = await support.get("/v1/watchlist", params={"cursor": "%%%"})
        for buyer_id in buyers:
            await support.delete(f"/v1/watchlist/{buyer_id}")

    assert [b for b in seen if b.startswith(prefix)] == buyers
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


async def test_only_support_may_touch_the_watchlist(stack: Stack) -> None:
    buyer_id = _buyer()
    answers = []
    for label in ("buyer:b-501", "merchant:m-1001", "warehouse:wh-1001", "platform:shop"):
        async with stack.client(label) as other:
            answers += [
                await other.get("/v1/watchlist"),
                await other.put(f"/v1/watchlist/{buyer_id}", json={"reason": "spite"}),
                await other.delete(f"/v1/watchlist/{buyer_id}"),
            ]
    async with stack.client(None) as anonymous:
        unauthenticated = await anonymous.get("/v1/watchlist")
    async with stack.client(SUPPORT) as support:
        listed = (await support.get("/v1/watchlist", params={"limit": 200})).json()
        blank = await support.put(f"/v1/watchlist/{buyer_id}", json={"reason": "   "})
        missing = await support.put(f"/v1/watchlist/{buyer_id}", json={})

    assert [a.status_code for a in answers] == [403] * len(answers)
    assert {a.json()["code"] for a in answers} == {"forbidden_role"}
    assert unauthenticated.status_code == 401
    assert buyer_id not in [e["buyer_id"] for e in listed["items"]]
    assert blank.status_code == 422 and blank.json()["code"] == "validation_error"
    assert blank.json()["errors"][0]["field"] == "reason"
    assert missing.status_code == 422
