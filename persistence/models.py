"""Tables. Money columns are BIGINT minor units next to their ISO currency; timestamps are aware."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from domain.money import exponent


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB}


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Merchant(Base):
    __tablename__ = "merchants"

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    email: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class Warehouse(Base):
    __tablename__ = "warehouses"

    warehouse_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.merchant_id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class Buyer(Base):
    __tablename__ = "buyers"

    buyer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    """An API key is stored only as its SHA-256; the prefix lets people tell keys apart. A key
    works until `expires_at` (none: no end) unless `revoked_at` is set, which ends it at once."""

    __tablename__ = "api_keys"

    key_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The key this one replaced by a rotation; the old one works on until its overlap ends.
    rotated_from: Mapped[int | None] = mapped_column(ForeignKey("api_keys.key_id"))
    # Written at most once a minute per key (`persistence.keys.mark_used`): authenticating
    # stays a read nearly always.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Order(Base):
    __tablename__ = "orders"
    # Its timestamps come back with the INSERT or UPDATE that sets them: no read-back.
    __mapper_args__ = {"eager_defaults": True}

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(String(64), index=True)
    merchant_id: Mapped[str] = mapped_column(String(64), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    shipping_fee: Mapped[int] = mapped_column(BigInteger)
    payment: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Where the order was delivered: a return label's sender address.
    shipping_address: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    after_sales_status: Mapped[str] = mapped_column(String(24), default="none")
    refunded_total: Mapped[int] = mapped_column(BigInteger, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="OrderLine.position",
        lazy="selectin",
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(
        ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'::jsonb"))

    order: Mapped[Order] = relationship(back_populates="lines")


class Ticket(Base):
    """The ticket's read model: the API writes the application, the workflow its state."""

    __tablename__ = "tickets"
    # Its timestamps come back with the INSERT or UPDATE that sets them: the opening answers
    # with the row it wrote, without reading it back.
    __mapper_args__ = {"eager_defaults": True}
    # Lists are newest first, by cursor on (created_at, ticket_no): each caller's list (everyone,
    # a merchant, a warehouse) and each work queue (a status, a merchant's or a warehouse's
    # status) is a range of one of these, read in order, so a page costs the same however deep.
    __table_args__ = (
        Index("ix_tickets_created_at_ticket_no", "created_at", "ticket_no"),
        Index("ix_tickets_status_created_at", "status", "created_at", "ticket_no"),
        Index("ix_tickets_merchant_id_created_at", "merchant_id", "created_at", "ticket_no"),
        Index(
            "ix_tickets_merchant_id_status_created_at",
            "merchant_id",
            "status",
            "created_at",
            "ticket_no",
        ),
        # Most tickets never reach a warehouse: its lists index only those that do.
        Index(
            "ix_tickets_warehouse_id_created_at",
            "warehouse_id",
            "created_at",
            "ticket_no",
            postgresql_where=text("warehouse_id IS NOT NULL"),
        ),
        Index(
            "ix_tickets_warehouse_id_status_created_at",
            "warehouse_id",
            "status",
            "created_at",
            "ticket_no",
            postgresql_where=text("warehouse_id IS NOT NULL"),
        ),
    )

    ticket_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    buyer_id: Mapped[str] = mapped_column(String(64), index=True)
    merchant_id: Mapped[str] = mapped_column(String(64), index=True)
    warehouse_id: Mapped[str | None] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(24))
    reason_code: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    destination: Mapped[str] = mapped_column(String(16), default="original")
    # Where exactly: the bank account of a transfer, the currency of a balance credit.
    destination_details: Mapped[dict[str, Any] | None]
    currency: Mapped[str] = mapped_column(String(3))
    requested_amount: Mapped[int | None] = mapped_column(BigInteger)
    quoted_amount: Mapped[int] = mapped_column(BigInteger)
    granted_amount: Mapped[int | None] = mapped_column(BigInteger)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    breakdown: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(32), index=True)

    @property
    def currency_exponent(self) -> int:
        """Digits of the amounts' minor units (CNY 2, JPY 0, KWD 3), for whoever shows them."""
        return exponent(self.currency)

    next_actor: Mapped[str | None] = mapped_column(String(16))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    on_timeout: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[dict[str, Any]]
    # Where the ticket came from (domain.tickets.Channel), set by the platform or support.
    channel: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    # What merchant rules read of the ticket when it opened (domain.rules.TicketFacts, the buyer's
    # risk left out: the workflow assesses it); a what-if re-decides the ticket from them.
    facts: Mapped[dict[str, Any] | None]
    # An exchange for other items: the replacements and their price difference
    # (domain.exchanges.ExchangeTerms); None for the same items back and other types.
    exchange: Mapped[dict[str, Any] | None]
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_by_role: Mapped[str] = mapped_column(String(16))
    service_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_level: Mapped[str | None] = mapped_column(String(8))
    risk_reasons: Mapped[list[Any]] = mapped_column(default=list)
    evidence_summary: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list[TicketLine]] = relationship(
        cascade="all, delete-orphan", order_by="TicketLine.line_id", lazy="selectin"
    )


class TicketLine(Base):
    __tablename__ = "ticket_lines"

    ticket_no: Mapped[str] = mapped_column(
        ForeignKey("tickets.ticket_no", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # This line's own reason code; None: the ticket's.
    reason_code: Mapped[str | None] = mapped_column(String(32))


class TimelineEntry(Base):
    """One transition of a ticket; (ticket_no, seq) makes a retried write land once."""

    __tablename__ = "ticket_timeline"
    __table_args__ = (UniqueConstraint("ticket_no", "seq"),)

    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_no", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(48))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Refund(Base):
    """A granted refund and its execution. The idempotency key is fixed before the provider call."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("ticket_no", "seq"),
        # The dashboard's refunds of every shop by the moment they succeeded (migration 0007).
        Index(
            "ix_refunds_succeeded_at",
            text("(status_history -> -1 ->> 'at')"),
            postgresql_where=text("status = 'succeeded'"),
        ),
    )

    refund_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_no"), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    line_quantities: Mapped[dict[str, Any]]
    line_amounts: Mapped[dict[str, Any]]
    shipping_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # Store credit on top of a balance refund (domain.rules store-credit bonus), in the credit's
    # currency; booked as its own balance entry.
    bonus_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    breakdown: Mapped[dict[str, Any]]
    destination: Mapped[str] = mapped_column(String(16))
    destination_details: Mapped[dict[str, Any] | None]
    # A credit in another currency than the order's: the rate, its source and both amounts.
    conversion: Mapped[dict[str, Any] | None]
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_refund_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    status_history: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class BalanceEntry(Base):
    """One movement on a buyer's store-credit balance; the balance is the sum of the entries."""

    __tablename__ = "balance_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="balance_entry_moves_money"),)

    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    buyer_id: Mapped[str] = mapped_column(String(64), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    # Signed minor units: a refund credits (positive), spending debits (negative).
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.refund_id"), index=True)
    # The refund's idempotency key for a refund credit: a retried credit lands once.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    conversion: Mapped[dict[str, Any] | None]
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class Coupon(Base):
    """A compensation coupon issued as a refund's destination, worth the refunded amount."""

    __tablename__ = "coupons"
    __table_args__ = (CheckConstraint("amount > 0", name="coupon_has_value"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(String(64), index=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.refund_id"), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class PaymentEventSeen(Base):
    """Provider webhook events already applied, so a replayed webhook changes nothing."""

    __tablename__ = "payment_events"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.refund_id"))
    received_at: Mapped[datetime] = _created()


class IdempotentRequest(Base):
    """An `Idempotency-Key` seen from one caller, with what it answered."""

    __tablename__ = "idempotent_requests"

    principal: Mapped[str] = mapped_column(String(96), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    scope: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()


class Shipment(Base):
    """A parcel of a ticket: the buyer's return, or the merchant's replacement."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("ticket_no", "direction"),)

    shipment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_no", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str] = mapped_column(String(32))
    tracking_no: Mapped[str] = mapped_column(String(64), index=True)
    shipped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="shipped")


class ReturnLabel(Base):
    """The courier's label for a ticket's return parcel: one per ticket, asked for under one
    idempotency key, so a retried request never books a second parcel."""

    __tablename__ = "return_labels"
    __table_args__ = (UniqueConstraint("carrier", "tracking_no"),)

    ticket_no: Mapped[str] = mapped_column(
        ForeignKey("tickets.ticket_no", ondelete="CASCADE"), primary_key=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    label_id: Mapped[str] = mapped_column(String(64))
    carrier: Mapped[str] = mapped_column(String(32))
    tracking_no: Mapped[str] = mapped_column(String(64), index=True)
    dropoff_code: Mapped[str] = mapped_column(String(64))
    document_url: Mapped[str | None] = mapped_column(Text)
    warehouse_id: Mapped[str | None] = mapped_column(String(64))
    sender_name: Mapped[str] = mapped_column(Text)
    sender_address: Mapped[str] = mapped_column(Text)
    recipient_name: Mapped[str] = mapped_column(Text)
    recipient_address: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Inspection(Base):
    """The warehouse's inspection of a returned parcel, per line."""

    __tablename__ = "inspections"

    ticket_no: Mapped[str] = mapped_column(
        ForeignKey("tickets.ticket_no", ondelete="CASCADE"), primary_key=True
    )
    warehouse_id: Mapped[str | None] = mapped_column(String(64))
    inspector_id: Mapped[str | None] = mapped_column(String(64))
    lines: Mapped[list[Any]]
    notes: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list[Any]] = mapped_column(default=list)
    passed: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketMessage(Base):
    """Conversation on a ticket; stored here, never in the workflow's history."""

    __tablename__ = "ticket_messages"

    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(
        ForeignKey("tickets.ticket_no", ondelete="CASCADE"), index=True
    )
    author_role: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created()


class MerchantPolicy(Base):
    """A merchant's overrides of the global policy; each change is a new version."""

    __tablename__ = "merchant_policies"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.merchant_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    overrides: Mapped[dict[str, Any]]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class MerchantRuleSet(Base):
    """One version of a merchant's rules (domain.rules.RuleSet); a change adds a version, and a
    ticket keeps the version it opened under (frozen in its policy)."""

    __tablename__ = "merchant_rule_sets"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.merchant_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    rules: Mapped[list[Any]]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()


class WhatIfRun(Base):
    """A what-if: a proposed rule set re-deciding a merchant's tickets of a period, by its
    Temporal workflow (the run id is the workflow id); progress and totals as it goes."""

    __tablename__ = "what_if_runs"

    run_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.merchant_id"), index=True)
    rules: Mapped[list[Any]]
    period_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    # domain.what_if.WhatIfTotals, as far as the run has come.
    totals: Mapped[dict[str, Any] | None]
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WhatIfResult(Base):
    """One ticket of a what-if: predicted next to what happened (domain.what_if.Comparison)."""

    __tablename__ = "what_if_results"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("what_if_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    # The ticket's place in the period (opening order): the page cursor.
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(32))
    changed: Mapped[bool] = mapped_column(Boolean)
    comparison: Mapped[dict[str, Any]]


class BulkRun(Base):
    """One action over many tickets of a merchant (contracts.bulk), applied by its Temporal
    workflow (the run id is the workflow id). The bulk id is the caller's: sent again, it finds
    this run and changes nothing."""

    __tablename__ = "bulk_runs"
    __table_args__ = (UniqueConstraint("owner", "bulk_id"),)

    run_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Who started it (api.auth.Principal.name), and the bulk id it gave.
    owner: Mapped[str] = mapped_column(String(80))
    bulk_id: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    # The action's fields, sent once for every ticket, and the digest of the whole request.
    fields: Mapped[dict[str, Any]]
    request_hash: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BulkResult(Base):
    """One ticket of a bulk run: pending until its action is taken or refused."""

    __tablename__ = "bulk_results"
    __table_args__ = (UniqueConstraint("run_id", "ticket_no"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("bulk_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    # The ticket's place in the request: batches and the page cursor.
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    status: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CatalogueItem(Base):
    """An item a merchant sells, as the platform reports it: what an exchange may replace a
    returned item with, at this price."""

    __tablename__ = "catalogue_items"
    __table_args__ = (CheckConstraint("unit_price >= 0", name="ck_catalogue_items_price"),)

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WatchlistEntry(Base):
    """Buyers support watches: their tickets are never approved automatically."""

    __tablename__ = "watchlist"

    buyer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = _created()


class TrackingEvent(Base):
    """A courier's tracking event, stored once per (carrier, event id) however often it comes."""

    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("carrier", "event_id"),)

    tracking_event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(96))
    tracking_no: Mapped[str] = mapped_column(String(64), index=True)
    ticket_no: Mapped[str | None] = mapped_column(
        ForeignKey("tickets.ticket_no", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = _created()


class WarehouseScan(Base):
    """One inbound scan at a warehouse and the answer it got."""

    __tablename__ = "warehouse_scans"

    scan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    warehouse_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(64))
    ticket_no: Mapped[str | None] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    scanned_by: Mapped[str | None] = mapped_column(String(64))
    scanned_at: Mapped[datetime] = _created()


class Notification(Base):
    """One message to one recipient on one channel; the unique key makes a retry send once."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("event_key", "recipient_role", "recipient_id", "channel"),)

    notification_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(96))
    ticket_no: Mapped[str | None] = mapped_column(String(32), index=True)
    order_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(48))
    recipient_role: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
