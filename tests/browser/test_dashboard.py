"""The dashboard page in real headless Chromium (Debian's): a merchant's own shop and support's
view of every shop, drawn by the vendored Chart.js from the seeded shop's figures."""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from domain.money import format_minor
from tests.api.test_dashboard import (
    REVIEW,
    Shop,
    new_shop,
    refunded_before_shipment,
    seed_shop,
    waiting_for_review,
)
from tests.browser.page_failures import watch
from tests.browser.screenshots import keep, whole_page
from tests.support.stack import Stack

VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
async def shop(stack: Stack) -> Shop:
    return await seed_shop(stack)


def duration(seconds: float | None) -> str:
    """What the page writes for a duration (dashboard.js `duration`)."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{math.floor(seconds + 0.5)} s"
    if seconds / 60 < 90:
        return f"{math.floor(seconds / 60 + 0.5)} min"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


# Every chart on the page: its Chart.js instance, and how much of its canvas is drawn on.
DRAWN = """() => [...document.querySelectorAll('#board canvas')].map((canvas) => {
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let painted = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] > 0) {
      painted += 1;
      colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    }
  }
  const box = canvas.getBoundingClientRect();
  const panel = canvas.closest('.panel').getBoundingClientRect();
  return {
    id: canvas.id,
    inside: box.height > 0 && box.top >= panel.top && box.bottom <= panel.bottom,
    chart: Boolean(chart),
    labels: chart ? chart.data.labels : [],
    data: chart ? chart.data.datasets.map((set) => set.data) : [],
    painted: painted / (canvas.width * canvas.height),
    colours: colours.size,
  };
})"""


async def _open_with_key(page: Page, url: str, key: str) -> dict[str, Any]:
    """Open the page, give it the key, and return the dashboard answer it drew."""
    await page.goto(url)
    key_field = page.get_by_label("API key of a merchant or of support")
    await expect(key_field).to_be_focused()
    await key_field.fill(key)
    async with page.expect_response(lambda r: "/v1/dashboard?" in r.url) as answer:
        await page.keyboard.press("Enter")
    response = await answer.value
    assert response.status == 200, await response.text()
    await expect(page.locator("#board")).to_have_attribute("aria-busy", "false")
    data: dict[str, Any] = await response.json()
    return data


async def _charts(page: Page) -> dict[str, dict[str, Any]]:
    # Laid out for good: a chart whose size fed its own box's would keep the page growing.
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.wait_for_timeout(600)
    assert await page.evaluate("document.documentElement.scrollHeight") == height
    drawn = {chart["id"]: chart for chart in await page.evaluate(DRAWN)}
    for chart in drawn.values():
        assert chart["chart"], chart["id"]
        # Bars, axes and labels: a blank or single-colour canvas would be 0 and 1.
        assert chart["painted"] > 0.02 and chart["colours"] > 3, chart
        assert chart["inside"], chart
    return drawn


async def _check_cards(page: Page, board: dict[str, Any]) -> None:
    """The figure cards say what the answer says."""
    await expect(page.locator("#fig-opened")).to_have_text(str(board["tickets"]["opened"]))
    approval = board["approval"]
    rate = "—" if approval["rate"] is None else f"{approval['rate'] * 100:.1f} %"
    await expect(page.locator("#fig-approval")).to_have_text(rate)
    await expect(page.locator("#fig-approval-note")).to_have_text(
        f"{approval['approved']} of {approval['decided']} decided"
    )
    overall = board["resolution"]["overall"]
    await expect(page.locator("#fig-median")).to_have_text(duration(overall["median_seconds"]))
    await expect(page.locator("#fig-p90")).to_have_text(duration(overall["p90_seconds"]))
    amounts = [
        format_minor(each["total"], each["currency"]) for each in board["refunded"]["currencies"]
    ]
    await expect(page.locator("#fig-refunded li")).to_have_text(amounts or ["nothing"])
    await expect(page.locator("#fig-due")).to_have_text(str(board["deadlines"]["count"]))
    rows = page.locator("#due tbody tr")
    await expect(rows).to_have_count(len(board["deadlines"]["first"]))
    for index, due in enumerate(board["deadlines"]["first"]):
        await expect(rows.nth(index).locator("td").first).to_have_text(due["ticket_no"])


async def _check_seeded_shop(page: Page, shop: Shop) -> None:
    """The seeded shop's figures as a person reads them, written out here."""
    await expect(page.locator("#fig-opened")).to_have_text("6")
    await expect(page.locator("#fig-opened-note")).to_have_text("2 still open")
    await expect(page.locator("#fig-approval")).to_have_text("80.0 %")
    await expect(page.locator("#fig-approval-note")).to_have_text("4 of 5 decided")
    await expect(page.locator("#fig-median-note")).to_have_text("4 resolved")
    await expect(page.locator("#fig-refunded li")).to_have_text(
        ["CNY 80.50", "JPY 3,000", "KWD 12.345"]
    )
    await expect(page.locator("#fig-due")).to_have_text("1")
    row = page.locator("#due tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator("td")).to_have_text(
        [
            shop.tickets["waiting"],
            shop.merchant_id,
            "Awaiting merchant review",
            "Merchant",
            # "1 Dec, 20:15 (in 11 h 59 min)": the review deadline of 12 h, minus the seeding.
            re.compile(r".+ \(in 1[01] h \d+ min\)"),
            re.compile(r".+"),
        ]
    )
    drawn = await _charts(page)
    status = drawn["chart-status"]
    assert dict(zip(status["labels"], status["data"][0], strict=True)) == {
        "Awaiting merchant review": 1,
        "Rejected": 1,
        "Completed": 4,
    }
    reason = drawn["chart-reason"]
    assert dict(zip(reason["labels"], reason["data"][0], strict=True)) == {
        "No longer needed": 4,
        "Quality issue": 1,
        "Damaged in transit": 1,
    }
    resolution = drawn["chart-resolution"]
    assert resolution["labels"] == ["Refund only (3)", "Return refund (1)", "Exchange (0)"]
    refunds = {c: sum(drawn[f"chart-refund-{c}"]["data"][0]) for c in ("CNY", "JPY", "KWD")}
    assert refunds == pytest.approx({"CNY": 80.50, "JPY": 3000, "KWD": 12.345})


async def test_a_merchant_reads_its_own_shop_on_the_dashboard(
    stack: Stack, shop: Shop, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page(viewport=VIEWPORT)
    failures = watch(page)

    board = await _open_with_key(page, f"{stack.api_url}/dashboard", stack.keys[shop.merchant])

    assert board["viewer"] == "merchant"
    await expect(page.locator("#scope")).to_contain_text(f"Shop {shop.merchant_id}")
    await expect(page.locator("#merchant-filter")).to_be_hidden()
    await _check_cards(page, board)
    await _check_seeded_shop(page, shop)
    shot = tmp_path / "dashboard-merchant.png"
    await whole_page(page, shot)
    keep(shot, "dashboard-merchant.png")

    # Kept in this browser: a reload draws the same shop without asking again.
    async with page.expect_response(lambda r: "/v1/dashboard?" in r.url):
        await page.reload()
    await expect(page.locator("#board")).to_have_attribute("aria-busy", "false")
    await expect(page.locator("#fig-opened")).to_have_text("6")
    assert failures == []
    await page.close()


async def test_support_reads_every_shop_and_filters_one_on_the_dashboard(
    stack: Stack, shop: Shop, browser: Browser, tmp_path: Path
) -> None:
    # A second shop, so that "every shop" is more than the seeded one.
    other = await new_shop(stack, review=REVIEW)
    await asyncio.gather(
        refunded_before_shipment(stack, other, "USD", 1_999),
        waiting_for_review(stack, other),
    )
    page = await browser.new_page(viewport=VIEWPORT)
    failures = watch(page)

    every = await _open_with_key(page, f"{stack.api_url}/dashboard", stack.keys["support:s-1"])

    assert every["viewer"] == "support"
    assert every["period"]["merchant_id"] is None
    # Each shop has a ticket due; whatever else is due comes from other tests' shops.
    assert every["deadlines"]["count"] >= 2
    await expect(page.locator("#scope")).to_contain_text("Every shop")
    await expect(page.get_by_label("Merchant (blank: every shop)")).to_be_visible()
    await _check_cards(page, every)
    await _charts(page)
    shot = tmp_path / "dashboard-support.png"
    await whole_page(page, shot)
    keep(shot, "dashboard-support.png")

    await page.get_by_label("Merchant (blank: every shop)").fill(shop.merchant_id)
    async with page.expect_response(lambda r: "/v1/dashboard?" in r.url) as answer:
        await page.keyboard.press("Enter")
    one = await (await answer.value).json()
    await expect(page.locator("#board")).to_have_attribute("aria-busy", "false")
    assert one["period"]["merchant_id"] == shop.merchant_id
    await expect(page.locator("#scope")).to_contain_text(f"Shop {shop.merchant_id}")
    await _check_cards(page, one)
    await _check_seeded_shop(page, shop)
    assert f"merchant={shop.merchant_id}" in page.url
    assert failures == []
    await page.close()


async def test_a_buyers_key_is_told_the_dashboard_is_not_for_it(
    stack: Stack, browser: Browser
) -> None:
    buyer = await stack.new_buyer()
    page = await browser.new_page(viewport=VIEWPORT)
    await page.goto(f"{stack.api_url}/dashboard")
    await page.get_by_label("API key of a merchant or of support").fill(stack.keys[buyer])
    async with page.expect_response(lambda r: "/v1/dashboard?" in r.url) as answer:
        await page.keyboard.press("Enter")
    assert (await answer.value).status == 403

    await expect(page.get_by_role("alert")).to_have_text(
        "The dashboard could not be shown: a buyer key cannot do this (needs merchant, support)"
    )
    await expect(page.locator("#board")).to_be_hidden()
    # Another key can be given from there.
    await page.get_by_role("button", name="Change key").click()
    await expect(page.get_by_label("API key of a merchant or of support")).to_be_focused()
    await page.close()
