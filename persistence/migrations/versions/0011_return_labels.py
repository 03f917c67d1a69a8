"""return labels: the courier's label of a ticket's return parcel, and the address an order
was delivered to (the label's sender)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("shipping_address", sa.Text(), nullable=True))
    op.create_table(
        "return_labels",
        sa.Column(
            "ticket_no",
            sa.String(32),
            sa.ForeignKey("tickets.ticket_no", ondelete="CASCADE"),
            primary_key=True,
        ),
        # The key the courier saw: asking again with it gives the same label.
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.Column("label_id", sa.String(64), nullable=False),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("tracking_no", sa.String(64), nullable=False),
        sa.Column("dropoff_code", sa.String(64), nullable=False),
        sa.Column("document_url", sa.Text(), nullable=True),
        sa.Column("warehouse_id", sa.String(64), nullable=True),
        sa.Column("sender_name", sa.Text(), nullable=False),
        sa.Column("sender_address", sa.Text(), nullable=False),
        sa.Column("recipient_name", sa.Text(), nullable=False),
        sa.Column("recipient_address", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("carrier", "tracking_no"),
    )
    op.create_index("ix_return_labels_tracking_no", "return_labels", ["tracking_no"])


def downgrade() -> None:
    op.drop_index("ix_return_labels_tracking_no", table_name="return_labels")
    op.drop_table("return_labels")
    op.drop_column("orders", "shipping_address")
