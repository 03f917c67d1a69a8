"""The scan station page in real headless Chromium (Debian's): scan, read the answer, inspect."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.support.stack import Stack
from tests.support.tickets import WAREHOUSE, act, to_state

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


async def test_a_warehouse_clerk_scans_a_return_and_records_its_inspection(
    stack: Stack, browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    opened = await to_state(stack, "awaiting_buyer_return")
    tracking_no = f"SF-{uuid.uuid4().hex[:12].upper()}"
    parcel = {"carrier": "SF", "tracking_no": tracking_no}
    shipped = await act(stack, opened.buyer, opened.ticket_no, "return-shipment", parcel)
    assert shipped.status_code == 200, shipped.text

    page = await browser.new_page(viewport={"width": 1100, "height": 1300})
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.on("requestfailed", lambda request: failures.append(request.url))
    await page.goto(f"{stack.api_url}/warehouse/station")

    # Asked once for the key, which the page keeps.
    key_field = page.get_by_label("API key of this warehouse")
    await expect(key_field).to_be_focused()
    await page.keyboard.type(stack.keys[WAREHOUSE])
    await page.keyboard.press("Enter")
    scan_field = page.get_by_label("Scan a parcel: tracking number or ticket number")
    await expect(scan_field).to_be_focused()
    await page.reload()
    await expect(scan_field).to_be_focused()

    # The scanner types the parcel's code and ends with Enter.
    await page.keyboard.type(tracking_no)
    await page.keyboard.press("Enter")
    answer = page.locator("#answer")
    await expect(answer).to_have_attribute("aria-live", "assertive")
    await expect(answer.locator("#outcome")).to_have_text("Inspect")
    await expect(answer.locator("#message")).to_have_text(
        f"inspect for ticket {opened.ticket_no} (checked in now)"
    )
    await expect(answer.locator("tbody tr")).to_have_count(2)
    await expect(answer.locator("tbody tr").first).to_contain_text("Item L1")
    await stack.ticket_when(WAREHOUSE, opened.ticket_no, "awaiting_inspection")

    # The inspection by keyboard: accepted starts at the quantity; one Enter records it.
    await expect(page.get_by_label("Accepted: Item L1")).to_be_focused()
    await expect(page.get_by_label("Accepted: Item L1")).to_have_value("2")
    await expect(page.get_by_label("Accepted: Item L2")).to_have_value("1")
    await page.keyboard.press("Tab")  # rejected L1
    await page.keyboard.press("Tab")  # accepted L2
    await page.keyboard.press("Tab")  # rejected L2
    await page.keyboard.press("Tab")  # notes
    await expect(page.get_by_label("Notes")).to_be_focused()
    await page.keyboard.type("outer box dented, goods intact")
    await page.keyboard.press("Tab")
    await page.keyboard.type("https://img.test/parcel-1.jpg")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Record inspection")).to_be_focused()
    await page.screenshot(path=str(ARTIFACTS / "scan-station-inspection.png"), full_page=True)
    await page.keyboard.press("Enter")

    result = page.get_by_role("status").filter(has_text="Inspection recorded")
    recorded = (
        rf"Inspection recorded for {opened.ticket_no}: the ticket is now (refunding|completed)"
    )
    await expect(result).to_have_text(re.compile(recorded))
    await expect(scan_field).to_be_focused()
    await page.screenshot(path=str(ARTIFACTS / "scan-station.png"), full_page=True)

    detail = await stack.ticket_when(WAREHOUSE, opened.ticket_no, "refunding", "completed")
    assert detail["inspection"]["notes"] == "outer box dented, goods intact"
    assert detail["inspection"]["photos"] == ["https://img.test/parcel-1.jpg"]
    assert detail["inspection"]["passed"] is True

    # Scanned again, the parcel is known to be in already.
    await page.keyboard.type(opened.ticket_no)
    await page.keyboard.press("Enter")
    await expect(answer.locator("#outcome")).to_have_text("Already received")
    assert failures == []
    await page.close()
