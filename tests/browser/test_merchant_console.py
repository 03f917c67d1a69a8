"""The merchant console (`/merchant`) in real headless Chromium (Debian's): a shop's open tickets
with their deadlines, the filters, a ticket's detail and timeline, approve with a fee, reject, and
a bulk approve followed on its progress bar."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser.page_failures import watch
from tests.browser.screenshots import keep, whole_page
from tests.support.shops import new_shop
from tests.support.stack import Stack
from tests.support.tickets import open_for_review, read

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BULK = 12
# Every text the bulk run's status line shows, kept by the test as the page writes it.
READINGS = """() => {
  window.bulkReadings = [];
  const status = document.getElementById('bulk-status');
  new MutationObserver(() => window.bulkReadings.push(status.textContent))
    .observe(status, { childList: true, characterData: true, subtree: true });
}"""


def _words(code: str) -> str:
    """What the page writes for a code (merchant.js `words`)."""
    text = code.replace("_", " ")
    return text[:1].upper() + text[1:]


async def test_a_merchant_works_its_returns_desk_in_the_browser(
    stack: Stack, browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shop = await new_shop(stack, "Console shop")
    label = f"merchant:{shop}"
    gate = asyncio.Semaphore(6)

    async def reviewed() -> str:
        async with gate:
            return (await open_for_review(stack, type="refund_only", merchant=shop)).ticket_no

    tickets = list(await asyncio.gather(*(reviewed() for _ in range(BULK + 2))))
    fee_ticket, rejected, bulk = tickets[0], tickets[1], tickets[2:]
    first = (await read(stack, label, fee_ticket)).json()
    assert first["on_timeout"], first

    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    failures = watch(page)
    # Every call the page makes here is one the API takes.
    page.on(
        "response",
        lambda answer: (
            failures.append(f"{answer.status}: {answer.url}") if answer.status >= 400 else None
        ),
    )
    await page.goto(f"{stack.api_url}/merchant")

    # Asked once for the key, which the page keeps.
    key_field = page.get_by_label("API key of your shop")
    await expect(key_field).to_be_focused()
    await page.keyboard.type(stack.keys[label])
    await page.keyboard.press("Enter")
    rows = page.locator("#tickets tbody tr")
    await expect(rows).to_have_count(len(tickets))
    await page.reload()
    await expect(rows).to_have_count(len(tickets))

    # Each open ticket with its deadline, and what happens when it passes.
    row = rows.filter(has_text=fee_ticket)
    await expect(row).to_contain_text("Awaiting merchant review")
    await expect(row).to_contain_text(_words(first["on_timeout"]))
    await expect(row).to_contain_text(re.compile(r"\(in \d+ (h|days)\)"))
    await expect(row).to_contain_text(f"{first['currency']} ")
    await whole_page(page, ARTIFACTS / "merchant-console.png")

    # Filters: a type of which the shop has none, then one ticket by its number.
    await page.get_by_label("Type").select_option("return_refund")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#empty")).to_be_visible()
    await expect(rows).to_have_count(0)
    await page.get_by_label("Type").select_option("")
    await page.get_by_label("Ticket number").fill(rejected)
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(rejected)
    await page.get_by_label("Ticket number").fill("")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(len(tickets))

    # A ticket's detail and timeline; approved with a service fee of 5.00.
    await page.get_by_role("button", name=fee_ticket, exact=True).click()
    detail = page.locator("#detail")
    await expect(detail.locator("#detail-no")).to_have_text(fee_ticket)
    await expect(detail.locator("#detail-status")).to_have_text("Awaiting merchant review")
    await expect(detail.locator("#timeline tbody tr").first).to_be_visible()
    await page.get_by_label(re.compile(r"Service fee")).fill("5.00")
    await page.locator("#approve-note").fill("fee for the opened box")
    await whole_page(page, ARTIFACTS / "merchant-console-ticket.png")
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.locator("#action-result")).to_contain_text(f"Approved {fee_ticket}")
    approved = (await read(stack, label, fee_ticket)).json()
    assert approved["service_fee"] == 500, approved
    steps = [step["event"] for step in approved["timeline"]]
    assert "approved_by_merchant" in steps, steps
    await expect(detail.locator("#timeline tbody")).to_contain_text("Approved by merchant")
    await expect(page.locator("#approve-form")).to_be_hidden()

    # Another rejected with a reason.
    await page.get_by_role("button", name=rejected, exact=True).click()
    await expect(detail.locator("#detail-no")).to_have_text(rejected)
    await page.get_by_label("Reason").fill("used")
    await page.get_by_role("button", name="Reject", exact=True).click()
    await expect(page.locator("#action-result")).to_contain_text(f"Rejected {rejected}")
    assert (await read(stack, label, rejected)).json()["status"] == "rejected"

    # The rest ticked at once and approved in bulk, followed on the progress bar.
    await page.get_by_label("Select every ticket waiting for review").check()
    approve_all = page.get_by_role("button", name=f"Approve selected ({BULK})")
    await expect(approve_all).to_be_enabled()
    await page.evaluate(READINGS)
    await approve_all.click()
    status = page.locator("#bulk-status")
    await expect(status).to_contain_text("(finished)", timeout=120_000)
    readings: list[str] = await page.evaluate("() => window.bulkReadings")
    # Every text the bar's status took: the run answered as running, then read to its end.
    assert readings[0].endswith("(running)"), readings
    assert readings[-1] == f"{BULK} of {BULK} handled: {BULK} approved, 0 failed (finished)"
    progress = page.locator("#bulk-progress")
    await expect(progress).to_have_attribute("max", str(BULK))
    assert await progress.evaluate("(bar) => bar.value") == BULK
    await expect(page.locator("#bulk-failures li")).to_have_count(0)
    await whole_page(page, ARTIFACTS / "merchant-console-bulk.png")
    keep(ARTIFACTS / "merchant-console-bulk.png", "merchant-console.png")
    for ticket_no in bulk:
        detail_json = (await read(stack, label, ticket_no)).json()
        assert detail_json["status"] != "awaiting_merchant_review", detail_json
        assert "approved_by_merchant" in [s["event"] for s in detail_json["timeline"]]
    assert failures == []
    await page.close()
