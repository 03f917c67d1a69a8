"""What a support agent sees in the Temporal UI (the dev server's, as `make dev` serves it),
opened in headless Chromium: an order's tickets found by one query, an ended return read as a
story with nothing left pending, an open ticket saying what happens when its deadline passes,
and the saved queries of docs/SUPPORT.md each finding the ticket it is for. The screenshots go
to docs/screenshots (temporal-ui-*.png)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Locator, Page, ViewportSize, expect
from temporalio.worker import Worker

from activities.ticket_starts import start_ticket
from contracts.tickets import TicketInput
from domain.rules import Outcome, Rule
from domain.tickets import TicketType
from persistence.rules import save_rules
from tests.api.test_courier_webhooks import in_transit, scan
from tests.browser.screenshots import keep, whole_page
from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.shops import new_shop
from tests.support.stack import Stack
from tests.support.tickets import (
    ALL_ACCEPTED,
    MERCHANT,
    SUPPORT,
    WAREHOUSE,
    Opened,
    act,
    open_for_review,
    recently,
    to_state,
)
from tests.workflows.fakes import FakeProvider, new_ticket_no, ticket_input, until_recorded
from workflows.ticket import TicketWorkflow

SUPPORT_MD = Path(__file__).resolve().parents[2] / "docs" / "SUPPORT.md"
VIEWPORT: ViewportSize = {"width": 1440, "height": 1000}
# The UI loads a page's data after the page itself.
SHOWN = 20_000


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    opened = await browser.new_page(viewport=VIEWPORT)
    yield opened
    await opened.close()


def _workflows(ui: str, stack: Stack, query: str) -> str:
    return f"{ui}/namespaces/{stack.temporal.client.namespace}/workflows?query={quote(query)}"


async def _ticket_page(ui: str, stack: Stack, ticket_no: str, tab: str) -> str:
    run_id = (await stack.temporal.client.get_workflow_handle(ticket_no).describe()).run_id
    return f"{ui}/namespaces/{stack.temporal.client.namespace}/workflows/{ticket_no}/{run_id}/{tab}"


async def _shot(page: Page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    await whole_page(page, shot)
    keep(shot, name)


async def _listed(page: Page, ticket_no: str, status: str) -> None:
    """The ticket is a row of the list, with its workflow status."""
    row = page.get_by_role("row").filter(has_text=ticket_no)
    await expect(row).to_have_count(1, timeout=SHOWN)
    await expect(row).to_contain_text(status, ignore_case=True)


async def _user_metadata(page: Page) -> tuple[Locator, Locator, Locator]:
    """The ticket's summary, details and current details, each drawn from Markdown in a frame
    of its own on the User Metadata tab."""
    await page.get_by_role("tab", name="User Metadata").click()
    frames = page.locator("iframe")
    await expect(frames).to_have_count(3, timeout=SHOWN)
    summary, details, current = (frames.nth(i).content_frame.locator("body") for i in range(3))
    return summary, details, current


async def _returned(stack: Stack) -> tuple[Opened, str]:
    """A return ticket taken to its end: approved, shipped back, delivered by the courier's
    webhook, checked in and inspected at the warehouse, refunded."""
    opened, tracking_no = await in_transit(stack)
    for status in ("picked_up", "in_transit", "delivered"):
        await scan(stack, tracking_no, status)
    await stack.ticket_when(opened.buyer, opened.ticket_no, "awaiting_inspection")
    async with stack.client(WAREHOUSE) as warehouse:
        checked_in = await warehouse.post("/v1/warehouse/scans", json={"code": tracking_no})
    assert checked_in.status_code == 200, checked_in.text
    inspected = await act(stack, WAREHOUSE, opened.ticket_no, "inspection", {"lines": ALL_ACCEPTED})
    assert inspected.status_code == 200, inspected.text
    await stack.ticket_when(opened.buyer, opened.ticket_no, "completed")
    await stack.temporal.client.get_workflow_handle(opened.ticket_no).result()
    return opened, tracking_no


async def test_an_agent_finds_an_orders_ticket_and_reads_its_ended_return_as_a_story(
    stack: Stack, dev_ui_url: str, page: Page, tmp_path: Path
) -> None:
    opened, tracking_no = await _returned(stack)

    await page.goto(_workflows(dev_ui_url, stack, f'OrderId="{opened.order_id}"'))
    await _listed(page, opened.ticket_no, "COMPLETED")
    await _shot(page, tmp_path, "temporal-ui-order-tickets.png")

    await page.goto(await _ticket_page(dev_ui_url, stack, opened.ticket_no, "history"))
    await page.get_by_role("button", name="Compact").click()
    history = page.get_by_role("table")
    # Each activity says what it did, in the words of the ticket's steps.
    for summary in (
        "Assess the risk of buyer",
        "Record approved_by_merchant: awaiting_merchant_review → awaiting_buyer_return",
        "Record return_shipped: awaiting_buyer_return → return_in_transit",
        f"Follow the return parcel SF {tracking_no}",
        "Record return_delivered: return_in_transit → awaiting_inspection",
        "Record inspection_passed: awaiting_inspection → refunding",
    ):
        await expect(history.get_by_text(summary).first).to_be_visible(timeout=SHOWN)
    pending_tab = page.get_by_role("tab", name=re.compile("^Pending Activities"))
    await expect(pending_tab).to_have_accessible_name("Pending Activities 0")
    await _shot(page, tmp_path, "temporal-ui-ended-return.png")

    # The poll the ticket no longer needed was stopped before the ticket ended.
    await page.goto(await _ticket_page(dev_ui_url, stack, opened.ticket_no, "pending-activities"))
    await expect(page.get_by_text("Workflow Type")).to_be_visible(timeout=SHOWN)
    await expect(pending_tab).to_have_accessible_name("Pending Activities 0")
    await expect(page.get_by_text("track_parcel")).to_have_count(0)

    static, details, current = await _user_metadata(page)
    await expect(static).to_have_text(f"return_refund · order {opened.order_id} · CNY 38.00")
    for sentence in (
        f"Ticket {opened.ticket_no} opened by buyer on order {opened.order_id}",
        "Reason: no_longer_needed. Lines: L1 x2, L2 x1.",
        "Quoted refund: CNY 38.00.",
    ):
        await expect(details).to_contain_text(sentence)
    for sentence in (
        "State: completed",
        "Next actor: nobody",
        "Deadline: none",
        "Refund: succeeded at sandbox",
        "Refund amount: CNY 38.00",
        "Refunded so far: CNY 38.00",
        "Buyer risk: low",
        "Last step: refund of CNY 38.00 settled at sandbox",
    ):
        await expect(current).to_contain_text(sentence)
    await _shot(page, tmp_path, "temporal-ui-ended-return-details.png")


async def test_an_open_ticket_says_who_acts_next_and_what_its_deadline_does(
    stack: Stack, dev_ui_url: str, page: Page, tmp_path: Path
) -> None:
    opened = await open_for_review(stack)

    await page.goto(await _ticket_page(dev_ui_url, stack, opened.ticket_no, "history"))
    _, _, current = await _user_metadata(page)
    for sentence in (
        "State: awaiting_merchant_review",
        "Next actor: merchant",
        "UTC, then approve automatically (seller timeout)",
        "Refund: not started",
        "Last step: waiting for the merchant\N{RIGHT SINGLE QUOTATION MARK}s review",
    ):
        await expect(current).to_contain_text(sentence)
    await _shot(page, tmp_path, "temporal-ui-open-ticket-details.png")


async def test_a_ticket_under_its_merchants_rules_names_the_rule_that_decided(
    stack: Stack, dev_ui_url: str, page: Page, tmp_path: Path
) -> None:
    merchant = await new_shop(stack, "Rules in the UI shop")
    async with stack.sessions() as session:
        await save_rules(
            session,
            merchant,
            [
                Rule(
                    id="card-review",
                    name="big card payments get a person",
                    when="payment_method == 'card' && quoted_amount > 1000",
                    then=Outcome(manual_review=True),
                )
            ],
            "support:s-1",
        )
        await session.commit()
    buyer = await stack.new_buyer()
    order_id = new_order_id()
    order = order_body(
        [line("L1", 2, 1500)],
        buyer=buyer.split(":")[1],
        merchant=merchant,
        method="card",
        status="delivered",
        delivered_at=recently(),
    )
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post(
            "/v1/tickets", json=application(order_id, ("L1", 2), type="return_refund")
        )
    assert created.status_code == 201, created.text
    ticket_no = created.json()["ticket_no"]
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")

    await page.goto(await _ticket_page(dev_ui_url, stack, ticket_no, "history"))
    _, details, current = await _user_metadata(page)
    await expect(details).to_contain_text(f"Merchant rules {merchant}-rules-v1.")
    for sentence in (
        f"Merchant rules: rule card-review ({merchant}-rules-v1) fired on payment_method = ",
        "quoted_amount = 3000: manual review: no automatic approval",
        "then escalate to support instead of auto-approval",
    ):
        await expect(current).to_contain_text(sentence)
    await _shot(page, tmp_path, "temporal-ui-merchant-rules.png")


# --- the saved queries of docs/SUPPORT.md ----------------------------------------------------


async def _refund_failed(stack: Stack) -> Opened:
    """A refund the card's bank refuses (the sandbox told to fail it): support must retry."""
    buyer = await stack.new_buyer()
    order_id = new_order_id()
    order = order_body([line("L1", 2, 1500)], buyer=buyer.split(":")[1], method="card")
    async with stack.client("platform:shop") as platform, stack.sandbox() as sandbox:
        await put_order(platform, order_id, order)
        reference = (await platform.get(f"/v1/orders/{order_id}")).json()["payment"]["reference"]
        rule = await sandbox.post(
            "/v1/control/rules",
            json={"match_payment_reference": reference, "outcome": "fail", "reason": "card_closed"},
        )
        assert rule.status_code in (200, 201), rule.text
    async with stack.client(buyer) as http:
        created = await http.post("/v1/tickets", json=application(order_id, ("L1", 1)))
    assert created.status_code == 201, created.text
    opened = Opened(created.json()["ticket_no"], order_id, buyer)
    await stack.ticket_when(buyer, opened.ticket_no, "refund_failed")
    return opened


async def _high_risk(stack: Stack) -> Opened:
    """A ticket of a buyer support put on the watchlist."""
    buyer = await stack.new_buyer()
    async with stack.client(SUPPORT) as support:
        listed = await support.put(
            f"/v1/watchlist/{buyer.split(':')[1]}", json={"reason": "parcels reported empty"}
        )
    assert listed.is_success, listed.text
    order_id = new_order_id()
    order = order_body([line("L1", 1, 2500)], buyer=buyer.split(":")[1], status="delivered")
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post(
            "/v1/tickets", json=application(order_id, ("L1", 1), type="return_refund")
        )
    assert created.status_code == 201, created.text
    opened = Opened(created.json()["ticket_no"], order_id, buyer)
    await stack.ticket_when(buyer, opened.ticket_no, "awaiting_merchant_review")
    return opened


async def _past_its_deadline(stack: Stack) -> str:
    """A ticket whose review deadline passed while no worker ran (the engine was down): its
    timer fired, but nothing has applied the outcome yet. Started as the API starts tickets, on
    a task queue of its own whose worker stops once the ticket waits for the merchant."""
    queue = f"ui-{uuid.uuid4().hex[:8]}"
    provider = FakeProvider()
    base = ticket_input(new_ticket_no())
    ticket: TicketInput = base.model_copy(
        update={
            "order_id": f"T-PAST-{uuid.uuid4().hex[:6].upper()}",
            "merchant_id": "m-1001",
            "type": TicketType.return_refund,
            "order_shipped": True,
            "order_delivered": True,
            "policy": base.policy.model_copy(
                update={"merchant_review": timedelta(seconds=3), "review_reminders": []}
            ),
        }
    )
    async with Worker(
        stack.temporal.client,
        task_queue=queue,
        workflows=[TicketWorkflow],
        activities=provider.activities(),
    ):
        handle = await start_ticket(
            stack.temporal.client, queue, ticket, rpc_timeout=timedelta(seconds=10)
        )
        async with asyncio.timeout(20):
            submitted = await until_recorded(stack.temporal, provider, "submitted_for_review")
    deadline = submitted.deadline_at
    assert deadline is not None
    await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1)
    described = await handle.describe()
    assert described.status is not None and described.status.name == "RUNNING"
    return ticket.ticket_no


def saved_queries() -> dict[str, str]:
    """docs/SUPPORT.md's saved queries: each one's screenshot name and its query."""
    text = SUPPORT_MD.read_text().split("## Saved queries", 1)[1]
    found = re.findall(r"```text\n(.+?)\n```\s*\n!\[[^\]]*\]\(screenshots/([\w.-]+)\)", text)
    return {name: query for query, name in found}


async def test_the_saved_support_queries_each_find_the_ticket_they_are_for(
    stack: Stack, dev_ui_url: str, page: Page, tmp_path: Path
) -> None:
    queries = saved_queries()
    escalated = await to_state(stack, "under_arbitration")
    failed = await _refund_failed(stack)
    risky = await _high_risk(stack)
    waiting = await open_for_review(stack)
    late = await _past_its_deadline(stack)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    found_by = {
        "temporal-ui-past-deadline.png": late,
        "temporal-ui-escalated.png": escalated.ticket_no,
        "temporal-ui-refund-failed.png": failed.ticket_no,
        "temporal-ui-high-risk.png": risky.ticket_no,
        "temporal-ui-merchant-open.png": waiting.ticket_no,
    }
    assert set(queries) == set(found_by)
    try:
        for name, query in queries.items():
            filled = query.replace("<now>", now).replace("<merchant id>", MERCHANT.split(":")[1])
            await page.goto(_workflows(dev_ui_url, stack, filled))
            await _listed(page, found_by[name], "RUNNING")
            await _shot(page, tmp_path, name)
    finally:
        await stack.temporal.client.get_workflow_handle(late).terminate(reason="the test is over")
