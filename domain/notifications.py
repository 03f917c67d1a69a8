"""Who is told what when a ticket moves (SPEC §7), and the words, in zh-CN (default) and en.

Pure rules: the planner in `persistence.notifications` supplies the facts and the contacts.
"""

# Chinese text uses full-width commas and colons, as its readers expect.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from domain.events import TicketEvent
from domain.money import format_minor
from domain.tickets import Actor, TicketStatus

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")


class Recipient(StrEnum):
    buyer = "buyer"
    merchant = "merchant"
    finance = "finance"
    order_system = "order_system"


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    inbox = "inbox"
    webhook = "webhook"


def locale_of(value: str | None) -> str:
    """The template locale for a stored locale: `en`, `en-US` -> en; anything else zh-CN."""
    return "en" if value and value.lower().startswith("en") else DEFAULT_LOCALE


# --- who ---------------------------------------------------------------------------------------

# Money reaching the warehouse is when finance books the return (check-in).
FINANCE_EVENTS = frozenset(
    {TicketEvent.return_delivered, TicketEvent.inspection_passed, TicketEvent.inspection_failed}
)
_MERCHANT_EVENTS = frozenset(
    {
        TicketEvent.submitted_for_review,
        TicketEvent.merchant_reminded,
        TicketEvent.inspection_passed,
        TicketEvent.inspection_failed,
        TicketEvent.checkin_timeout,
        TicketEvent.refund_settled,
        TicketEvent.refund_failed,
        TicketEvent.refund_reversed,
        TicketEvent.return_lost,
    }
)
# Steps the buyer must hear of although the ticket's state stays the same.
_BUYER_EVENTS = frozenset(
    {
        TicketEvent.refund_redirected_to_balance,
        TicketEvent.return_label_issued,
        TicketEvent.return_label_failed,
    }
)
# Escalations, cancellations and closings end or suspend the merchant's part.
_MERCHANT_STATUSES = frozenset(
    {TicketStatus.under_arbitration, TicketStatus.cancelled, TicketStatus.closed}
)


@dataclass(frozen=True)
class Step:
    """What a recorded transition says, as far as the audience depends on it."""

    event: TicketEvent
    from_status: TicketStatus | None
    to_status: TicketStatus
    next_actor: Actor | None = None


def audience(step: Step) -> list[Recipient]:
    """Buyer on every change of state; merchant on reviews, reminders, escalations, inspection
    results, refunds and whatever it must act on; finance at warehouse check-in."""
    told = []
    if step.from_status != step.to_status or step.event in _BUYER_EVENTS:
        told.append(Recipient.buyer)
    if (
        step.event in _MERCHANT_EVENTS
        or step.to_status in _MERCHANT_STATUSES
        or (step.next_actor == Actor.merchant and step.from_status != step.to_status)
    ):
        told.append(Recipient.merchant)
    if step.event in FINANCE_EVENTS:
        told.append(Recipient.finance)
    return told


@dataclass(frozen=True)
class Contact:
    role: Recipient
    recipient_id: str
    locale: str = DEFAULT_LOCALE
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None


@dataclass(frozen=True)
class FixedRecipients:
    """The recipients configured rather than found with the ticket: finance's mailbox and the
    shop's order system; a missing address leaves that recipient out."""

    finance_email: str | None = None
    finance_locale: str = DEFAULT_LOCALE
    order_system_webhook_url: str | None = None


def channels(contact: Contact) -> list[tuple[Channel, str | None]]:
    """(channel, address) pairs: buyer email/SMS/inbox, merchant email/inbox/webhook, finance
    email, the order system its webhook; a channel without an address is left out."""
    wanted: list[tuple[Channel, str | None]] = []
    if contact.role in (Recipient.buyer, Recipient.merchant, Recipient.finance) and contact.email:
        wanted.append((Channel.email, contact.email))
    if contact.role is Recipient.buyer and contact.phone:
        wanted.append((Channel.sms, contact.phone))
    if contact.role in (Recipient.buyer, Recipient.merchant):
        wanted.append((Channel.inbox, None))
    if contact.role in (Recipient.merchant, Recipient.order_system) and contact.webhook_url:
        wanted.append((Channel.webhook, contact.webhook_url))
    return wanted


@dataclass(frozen=True)
class OrderStatusView:
    """What the shop's order system is told about an order's after-sales side."""

    after_sales_status: str
    refunded_total: int
    closed: bool


def order_status_changed(last_told: OrderStatusView | None, now: OrderStatusView) -> bool:
    """Tell the order system when the after-sales status differs from what it was last told."""
    if last_told is None:
        return now.after_sales_status != "none" or now.refunded_total > 0 or now.closed
    return last_told != now


# --- what --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    subject: str
    detail: str = ""


# event -> (zh-CN, en). Placeholders: ticket_no, order_id, amount, carrier, tracking_no.
_TEXTS: dict[TicketEvent, tuple[Template, Template]] = {
    TicketEvent.submitted_for_review: (
        Template("售后申请 {ticket_no} 已提交，等待商家审核", "商家将在截止时间前审核该申请。"),
        Template(
            "After-sales request {ticket_no} awaits the merchant's review",
            "The merchant reviews the request before the deadline.",
        ),
    ),
    TicketEvent.merchant_reminded: (
        Template(
            "提醒：售后申请 {ticket_no} 待审核",
            "请在截止时间前审核该申请，逾期将按规则自动处理。",
        ),
        Template(
            "Reminder: request {ticket_no} awaits your review",
            "Please review the request before the deadline; after it, the rules decide.",
        ),
    ),
    TicketEvent.approved_by_rule: (
        Template("售后申请 {ticket_no} 已自动通过", "订单尚未发货，退款 {amount} 已自动批准。"),
        Template(
            "Refund on {ticket_no} approved automatically",
            "The order had not shipped, so the refund of {amount} was approved automatically.",
        ),
    ),
    TicketEvent.refund_released_on_first_scan: (
        Template("售后申请 {ticket_no} 已极速退款", "快递已揽收退货包裹，退款 {amount} 已发起。"),
        Template(
            "Fast refund on {ticket_no}",
            "The courier has your return parcel, so the refund of {amount} is on its way.",
        ),
    ),
    TicketEvent.evidence_requested: (
        Template(
            "售后申请 {ticket_no} 需要补充凭证", "请在截止时间前上传照片凭证，商家才会开始审核。"
        ),
        Template(
            "Request {ticket_no} needs evidence photos",
            "Please add photos before the deadline; the merchant reviews the request after that.",
        ),
    ),
    TicketEvent.evidence_added: (
        Template("售后申请 {ticket_no} 已补充凭证"),
        Template("Evidence was added to request {ticket_no}"),
    ),
    TicketEvent.evidence_timeout: (
        Template("售后申请 {ticket_no} 已关闭", "未在期限内补充凭证，申请已自动关闭。"),
        Template(
            "Request {ticket_no} was closed",
            "No evidence photos arrived before the deadline, so the request was closed.",
        ),
    ),
    TicketEvent.rule_decided: (
        Template("售后申请 {ticket_no} 已按商家规则判定"),
        Template("The merchant's rules were applied to request {ticket_no}"),
    ),
    TicketEvent.approved_by_merchant_rule: (
        Template("售后申请 {ticket_no} 已自动同意", "该申请符合商家的售后规则，已自动同意。"),
        Template(
            "Request {ticket_no} approved automatically",
            "The request meets the merchant's after-sales rules, so it was approved at once.",
        ),
    ),
    TicketEvent.approved_automatically: (
        Template("售后申请 {ticket_no} 已自动同意", "商家未在期限内处理，申请已按规则自动同意。"),
        Template(
            "Request {ticket_no} approved automatically",
            "The merchant did not answer in time, so the request was approved by the rules.",
        ),
    ),
    TicketEvent.approved_by_merchant: (
        Template("商家已同意售后申请 {ticket_no}"),
        Template("The merchant approved request {ticket_no}"),
    ),
    TicketEvent.rejected_by_merchant: (
        Template("商家已拒绝售后申请 {ticket_no}", "如有异议，可在截止时间前申请平台介入。"),
        Template(
            "The merchant rejected request {ticket_no}",
            "If you disagree, ask support to step in before the deadline.",
        ),
    ),
    TicketEvent.escalated_by_buyer: (
        Template("买家已申请平台介入：{ticket_no}", "平台客服将处理该申请。"),
        Template("The buyer asked support to step in on {ticket_no}", "Support decides next."),
    ),
    TicketEvent.escalated_by_merchant: (
        Template("商家已申请平台介入：{ticket_no}", "平台客服将处理该申请。"),
        Template("The merchant asked support to step in on {ticket_no}", "Support decides next."),
    ),
    TicketEvent.escalated_instead_of_auto_approval: (
        Template("售后申请 {ticket_no} 已转平台客服审核", "该申请需要人工审核，不会自动同意。"),
        Template(
            "Request {ticket_no} passed to support for review",
            "This request needs a person's review and is not approved automatically.",
        ),
    ),
    TicketEvent.escalated_instead_of_auto_acceptance: (
        Template("退货 {ticket_no} 已转平台客服处理", "仓库未及时验收，需人工处理。"),
        Template(
            "Return {ticket_no} passed to support",
            "The warehouse did not check the parcel in on time; a person decides.",
        ),
    ),
    TicketEvent.cancelled_by_buyer: (
        Template("售后申请 {ticket_no} 已撤销", "买家已撤销该申请。"),
        Template("Request {ticket_no} withdrawn", "The buyer withdrew the request."),
    ),
    TicketEvent.buyer_return_timeout: (
        Template("售后申请 {ticket_no} 已关闭", "未在期限内寄回商品，申请已自动取消。"),
        Template(
            "Request {ticket_no} cancelled",
            "The goods were not sent back in time, so the request was cancelled.",
        ),
    ),
    TicketEvent.return_shipped: (
        Template("退货已寄出：{ticket_no}", "快递：{carrier} {tracking_no}"),
        Template("Return shipped for {ticket_no}", "Parcel: {carrier} {tracking_no}"),
    ),
    TicketEvent.return_label_issued: (
        Template(
            "退货面单已生成：{ticket_no}",
            "快递：{carrier} {tracking_no}。"
            "打印面单或出示二维码，到快递网点寄回即可，无需填写单号。",
        ),
        Template(
            "Your return label for {ticket_no} is ready",
            "Parcel: {carrier} {tracking_no}. Print the label or show its QR code at a drop-off "
            "point; there is no tracking number to type.",
        ),
    ),
    TicketEvent.return_label_failed: (
        Template("请自行寄回商品：{ticket_no}", "未能生成退货面单，请寄回商品后填写快递单号。"),
        Template(
            "Please ship the return for {ticket_no} yourself",
            "No return label could be issued; send the goods back and tell us the tracking number.",
        ),
    ),
    TicketEvent.return_delivered: (
        Template("退货已签收入仓：{ticket_no}", "快递：{carrier} {tracking_no}，等待仓库验收。"),
        Template(
            "Return parcel for {ticket_no} delivered to the warehouse",
            "Parcel: {carrier} {tracking_no}; the warehouse inspects it next.",
        ),
    ),
    TicketEvent.return_lost: (
        Template("退货包裹丢失，已自动退款：{ticket_no}", "退款金额 {amount}。"),
        Template(
            "Return parcel for {ticket_no} lost: refunded automatically",
            "Refund of {amount}.",
        ),
    ),
    TicketEvent.return_delivery_overdue: (
        Template("退货包裹超时未送达：{ticket_no}", "已转平台客服处理。"),
        Template("Return parcel for {ticket_no} overdue", "Support takes it from here."),
    ),
    TicketEvent.inspection_passed: (
        Template("退货验收通过：{ticket_no}", "仓库已验收退回的商品。"),
        Template(
            "Returned goods for {ticket_no} passed inspection",
            "The warehouse checked the goods in and accepted them.",
        ),
    ),
    TicketEvent.inspection_failed: (
        Template("退货验收未通过：{ticket_no}", "商家将决定部分退款或将商品退回买家。"),
        Template(
            "Returned goods for {ticket_no} failed inspection",
            "The merchant decides on a partial refund or sending the goods back.",
        ),
    ),
    TicketEvent.checkin_timeout: (
        Template("退货已自动验收：{ticket_no}", "仓库未在期限内验收，商品已按规则自动接收。"),
        Template(
            "Return {ticket_no} accepted automatically",
            "The warehouse did not check the parcel in on time, so it was accepted.",
        ),
    ),
    TicketEvent.inspection_resolved_partial_refund: (
        Template("商家提出部分退款：{ticket_no}", "部分退款金额 {amount}。"),
        Template("Partial refund offered on {ticket_no}", "Partial refund of {amount}."),
    ),
    TicketEvent.inspection_resolved_return_to_buyer: (
        Template("商品将退回买家：{ticket_no}", "如有异议，可在截止时间前申请平台介入。"),
        Template(
            "The goods of {ticket_no} go back to the buyer",
            "If you disagree, ask support to step in before the deadline.",
        ),
    ),
    TicketEvent.resolve_inspection_timeout: (
        Template("验收结果未处理，已转平台客服：{ticket_no}"),
        Template("Failed inspection of {ticket_no} unresolved: passed to support"),
    ),
    TicketEvent.difference_paid: (
        Template("换货差价已支付：{ticket_no}", "差价 {amount} 已确认，商家将发出换货。"),
        Template(
            "Difference paid on {ticket_no}",
            "The difference of {amount} is confirmed; the merchant ships the replacement.",
        ),
    ),
    TicketEvent.difference_payment_timeout: (
        Template("换货差价未支付，改为退款：{ticket_no}", "退回商品的退款金额 {amount}。"),
        Template(
            "Difference on {ticket_no} not paid: refunded instead",
            "The returned goods are refunded: {amount}.",
        ),
    ),
    TicketEvent.difference_refund_declined: (
        Template(
            "换货差价退款复核未通过：{ticket_no}",
            "差价不予退还，商家将照常发出换货。如有异议，可在截止时间前申请平台介入。",
        ),
        Template(
            "Difference refund on {ticket_no} declined at second approval",
            "The difference is not refunded; the merchant ships the replacement all the same. "
            "If you disagree, ask support to step in before the deadline.",
        ),
    ),
    TicketEvent.replacement_shipped: (
        Template("换货已发出：{ticket_no}", "快递：{carrier} {tracking_no}"),
        Template("Replacement shipped for {ticket_no}", "Parcel: {carrier} {tracking_no}"),
    ),
    TicketEvent.reship_timeout: (
        Template("商家未按时发出换货，已转平台客服：{ticket_no}"),
        Template("Replacement for {ticket_no} not shipped in time: passed to support"),
    ),
    TicketEvent.receipt_confirmed: (
        Template("已确认收货，换货完成：{ticket_no}"),
        Template("Replacement received: {ticket_no} is complete"),
    ),
    TicketEvent.receipt_timeout: (
        Template("换货已自动确认收货：{ticket_no}"),
        Template("Replacement receipt confirmed automatically: {ticket_no}"),
    ),
    TicketEvent.second_approval_granted: (
        Template("退款已通过复核：{ticket_no}", "退款金额 {amount}。"),
        Template("Refund on {ticket_no} passed second approval", "Refund of {amount}."),
    ),
    TicketEvent.second_approval_declined: (
        Template("退款复核未通过：{ticket_no}", "如有异议，可在截止时间前申请平台介入。"),
        Template(
            "Refund on {ticket_no} declined at second approval",
            "If you disagree, ask support to step in before the deadline.",
        ),
    ),
    TicketEvent.closed_after_rejection: (
        Template("售后申请 {ticket_no} 已关闭"),
        Template("Request {ticket_no} closed"),
    ),
    TicketEvent.arbitrated_refund: (
        Template("平台裁定全额退款：{ticket_no}", "退款金额 {amount}。"),
        Template("Support decided a full refund on {ticket_no}", "Refund of {amount}."),
    ),
    TicketEvent.arbitrated_partial_refund: (
        Template("平台裁定部分退款：{ticket_no}", "退款金额 {amount}。"),
        Template("Support decided a partial refund on {ticket_no}", "Refund of {amount}."),
    ),
    TicketEvent.arbitrated_reject: (
        Template("平台裁定驳回申请：{ticket_no}"),
        Template("Support rejected the claim on {ticket_no}"),
    ),
    TicketEvent.arbitrated_return_to_buyer: (
        Template("平台裁定商品退回买家：{ticket_no}", "不予退款。"),
        Template("Support decided the goods of {ticket_no} go back to the buyer", "No refund."),
    ),
    TicketEvent.refund_refused: (
        Template("退款无法执行：{ticket_no}", "平台客服将跟进处理。"),
        Template("The refund on {ticket_no} could not be granted", "Support follows up."),
    ),
    TicketEvent.refund_settled: (
        Template("退款已到账：{ticket_no}", "退款金额 {amount} 已退回。"),
        Template("Refund settled on {ticket_no}", "{amount} went back to the buyer."),
    ),
    TicketEvent.refund_failed: (
        Template("退款失败：{ticket_no}", "支付渠道拒绝了退款，平台客服将跟进处理。"),
        Template(
            "Refund failed on {ticket_no}",
            "The payment provider refused the refund; support follows up.",
        ),
    ),
    TicketEvent.refund_redirected_to_balance: (
        Template(
            "退款将退至账户余额：{ticket_no}",
            "原支付已无法退款，退款 {amount} 将退至您的账户余额。",
        ),
        Template(
            "Refund on {ticket_no} goes to your balance",
            "The original payment can no longer be refunded, so {amount} is credited to your "
            "store-credit balance instead.",
        ),
    ),
    TicketEvent.refund_reversed: (
        Template("退款被银行退回：{ticket_no}", "银行退回了退款 {amount}，平台客服将跟进处理。"),
        Template(
            "Refund on {ticket_no} came back",
            "The bank returned the refund of {amount}; support follows up.",
        ),
    ),
    TicketEvent.refund_retried: (
        Template("退款重新发起：{ticket_no}", "平台客服已重新发起退款 {amount}。"),
        Template("Refund sent again on {ticket_no}", "Support sent the refund of {amount} again."),
    ),
    TicketEvent.settlement_overdue: (
        Template("退款处理超时：{ticket_no}", "平台正在跟进退款 {amount}。"),
        Template(
            "Refund on {ticket_no} overdue", "Support is following up the refund of {amount}."
        ),
    ),
}

TEMPLATES: Mapping[TicketEvent, Mapping[str, Template]] = MappingProxyType(
    {event: dict(zip(LOCALES, pair, strict=True)) for event, pair in _TEXTS.items()}
)
_FALLBACK = {
    "zh-CN": Template("售后申请 {ticket_no} 有新进展"),
    "en": Template("Request {ticket_no} was updated"),
}

STATUS_LABELS: Mapping[str, Mapping[TicketStatus, str]] = MappingProxyType(
    {
        "zh-CN": {
            TicketStatus.submitted: "已提交",
            TicketStatus.awaiting_buyer_evidence: "待买家补充凭证",
            TicketStatus.awaiting_merchant_review: "待商家审核",
            TicketStatus.awaiting_second_approval: "待退款复核",
            TicketStatus.awaiting_buyer_return: "待买家寄回",
            TicketStatus.return_in_transit: "退货运输中",
            TicketStatus.awaiting_inspection: "待仓库验收",
            TicketStatus.awaiting_difference_payment: "待买家支付换货差价",
            TicketStatus.awaiting_reship: "待商家换货发出",
            TicketStatus.replacement_in_transit: "换货运输中",
            TicketStatus.refunding: "退款中",
            TicketStatus.rejected: "已拒绝",
            TicketStatus.inspection_failed: "验收未通过",
            TicketStatus.under_arbitration: "平台介入中",
            TicketStatus.refund_failed: "退款失败",
            TicketStatus.completed: "已完成",
            TicketStatus.cancelled: "已取消",
            TicketStatus.closed: "已关闭",
        },
        "en": {status: status.value.replace("_", " ") for status in TicketStatus},
    }
)
_FOOTER = {
    "zh-CN": ("订单：{order_id}", "当前状态：{status}", "截止时间：{deadline}"),
    "en": ("Order: {order_id}", "Status: {status}", "Deadline: {deadline}"),
}


@dataclass(frozen=True)
class Facts:
    """What a message may mention; money in minor units of `currency`."""

    ticket_no: str
    order_id: str
    currency: str
    amount: int
    status: TicketStatus
    deadline_at: datetime | None = None
    carrier: str = ""
    tracking_no: str = ""


@dataclass(frozen=True)
class Message:
    locale: str
    subject: str
    body: str


def render(event: TicketEvent, locale: str, facts: Facts) -> Message:
    """The subject and plain-text body of `event` in `locale` (zh-CN unless en)."""
    locale = locale_of(locale)
    template = TEMPLATES.get(event, _FALLBACK)[locale]
    values = {
        "ticket_no": facts.ticket_no,
        "order_id": facts.order_id,
        "amount": format_minor(facts.amount, facts.currency),
        "carrier": facts.carrier,
        "tracking_no": facts.tracking_no,
        "status": STATUS_LABELS[locale][facts.status],
        "deadline": f"{facts.deadline_at:%Y-%m-%d %H:%M} UTC" if facts.deadline_at else "",
    }
    order_line, status_line, deadline_line = _FOOTER[locale]
    lines = [template.subject.format_map(values)]
    if template.detail:
        lines.append(template.detail.format_map(values))
    lines += ["", order_line.format_map(values), status_line.format_map(values)]
    if facts.deadline_at:
        lines.append(deadline_line.format_map(values))
    return Message(locale, template.subject.format_map(values), "\n".join(lines))
