"""merchant rules: rule set versions, ticket channel and facts, order line tags, refund bonus

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchant_rule_sets",
        sa.Column(
            "merchant_id", sa.String(64), sa.ForeignKey("merchants.merchant_id"), primary_key=True
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("rules", JSONB(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    # Constant defaults: PostgreSQL adds these columns without rewriting the tables.
    op.add_column(
        "tickets", sa.Column("channel", sa.String(16), server_default="api", nullable=False)
    )
    op.add_column("tickets", sa.Column("facts", JSONB(), nullable=True))
    op.add_column(
        "refunds", sa.Column("bonus_amount", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "order_lines",
        sa.Column("tags", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("order_lines", "tags")
    op.drop_column("refunds", "bonus_amount")
    op.drop_column("tickets", "facts")
    op.drop_column("tickets", "channel")
    op.drop_table("merchant_rule_sets")
