"""Every timeline event has words in zh-CN and en, and the rules of who is told."""

# ruff: noqa: RUF001 (Chinese text uses full-width colons)

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import notifications
from domain.events import TicketEvent
from domain.notifications import (
    LOCALES,
    STATUS_LABELS,
    TEMPLATES,
    Channel,
    Contact,
    Facts,
    OrderStatusView,
    Recipient,
    Step,
    audience,
    channels,
    locale_of,
    order_status_changed,
    render,
)
from domain.tickets import Actor, TicketStatus

E = TicketEvent


@pytest.mark.parametrize("event", list(TicketEvent))
def test_every_event_has_both_templates(event: TicketEvent) -> None:
    assert event in TEMPLATES, f"no template for {event!r}"
    assert set(TEMPLATES[event]) == set(LOCALES)
    for locale in LOCALES:
        assert TEMPLATES[event][locale].subject.strip()


def test_every_template_is_of_an_event() -> None:
    assert [key for key in TEMPLATES if not isinstance(key, TicketEvent)] == []


def test_every_status_has_a_label_in_both_languages() -> None:
    for locale in LOCALES:
        assert set(STATUS_LABELS[locale]) == set(TicketStatus)


def _facts(**overrides: object) -> Facts:
    values: dict[str, object] = {
        "ticket_no": "AS20261123-000042",
        "order_id": "O-1",
        "currency": "CNY",
        "amount": 123456,
        "status": TicketStatus.completed,
    }
    values.update(overrides)
    return Facts(**values)  # type: ignore[arg-type]


def test_money_is_formatted_in_minor_units_of_its_currency() -> None:
    zh = render(E.refund_settled, "zh-CN", _facts())
    en = render(E.refund_settled, "en", _facts(currency="JPY", amount=5000))
    assert zh.subject == "退款已到账：AS20261123-000042"
    assert "退款金额 CNY 1,234.56" in zh.body
    assert "当前状态：已完成" in zh.body
    assert "JPY 5,000 went back to the buyer." in en.body
    assert "Status: completed" in en.body


def test_the_locale_decides_the_language_and_zh_cn_is_the_default() -> None:
    assert locale_of("en-US") == "en"
    assert locale_of(None) == locale_of("fr") == locale_of("zh-CN") == "zh-CN"
    message = render(E.return_shipped, "fr", _facts(carrier="SF", tracking_no="SF123"))
    assert message.locale == "zh-CN"
    assert "快递：SF SF123" in message.body


def test_a_deadline_is_shown_when_there_is_one() -> None:
    at = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    body = render(
        E.rejected_by_merchant, "en", _facts(status=TicketStatus.rejected, deadline_at=at)
    )
    assert "Deadline: 2026-11-25 08:30 UTC" in body.body
    assert "Deadline" not in render(E.refund_settled, "en", _facts()).body


def test_an_event_without_words_still_gets_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifications, "TEMPLATES", {})
    message = render(E.refund_settled, "en", _facts())
    assert message.subject == "Request AS20261123-000042 was updated"


S = TicketStatus


@pytest.mark.parametrize(
    ("step", "told"),
    [
        (
            Step(E.submitted_for_review, S.submitted, S.awaiting_merchant_review, Actor.merchant),
            {Recipient.buyer, Recipient.merchant},
        ),
        (
            Step(E.merchant_reminded, S.awaiting_merchant_review, S.awaiting_merchant_review),
            {Recipient.merchant},
        ),
        (
            Step(E.return_shipped, S.awaiting_buyer_return, S.return_in_transit, Actor.warehouse),
            {Recipient.buyer},
        ),
        (
            Step(E.return_delivered, S.return_in_transit, S.awaiting_inspection, Actor.warehouse),
            {Recipient.buyer, Recipient.finance},
        ),
        (
            Step(E.inspection_failed, S.awaiting_inspection, S.inspection_failed, Actor.merchant),
            {Recipient.buyer, Recipient.merchant, Recipient.finance},
        ),
        (
            Step(E.escalated_by_buyer, S.rejected, S.under_arbitration, Actor.support),
            {Recipient.buyer, Recipient.merchant},
        ),
        (
            Step(E.settlement_overdue, S.refunding, S.refunding, Actor.support),
            set(),
        ),
        (Step(E.refund_settled, S.refunding, S.completed), {Recipient.buyer, Recipient.merchant}),
    ],
)
def test_who_is_told(step: Step, told: set[Recipient]) -> None:
    assert set(audience(step)) == told


def test_channels_follow_the_contact_details() -> None:
    buyer = Contact(Recipient.buyer, "b-1", email="b@example.test", phone="+8613800000000")
    assert [ch for ch, _ in channels(buyer)] == [Channel.email, Channel.sms, Channel.inbox]
    assert channels(Contact(Recipient.buyer, "b-2")) == [(Channel.inbox, None)]
    merchant = Contact(Recipient.merchant, "m-1", webhook_url="https://shop.example/hook")
    assert channels(merchant) == [
        (Channel.inbox, None),
        (Channel.webhook, "https://shop.example/hook"),
    ]
    finance = Contact(Recipient.finance, "finance", email="fin@example.test")
    assert channels(finance) == [(Channel.email, "fin@example.test")]


def test_the_order_system_hears_only_of_changes() -> None:
    refunding = OrderStatusView("refunding", 0, False)
    assert not order_status_changed(None, OrderStatusView("none", 0, False))
    assert order_status_changed(None, refunding)
    assert not order_status_changed(refunding, refunding)
    assert order_status_changed(refunding, OrderStatusView("refunded", 9900, True))
