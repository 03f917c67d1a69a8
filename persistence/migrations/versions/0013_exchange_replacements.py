"""exchanges for other items: the merchants' catalogue and each ticket's replacement terms

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_items",
        sa.Column("merchant_id", sa.String(64), primary_key=True),
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("unit_price >= 0", name="ck_catalogue_items_price"),
    )
    op.add_column("tickets", sa.Column("exchange", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "exchange")
    op.drop_table("catalogue_items")
