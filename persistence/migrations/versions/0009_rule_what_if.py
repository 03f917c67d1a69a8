"""rule what-if: runs and their per-ticket results

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "what_if_runs",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column(
            "merchant_id",
            sa.String(64),
            sa.ForeignKey("merchants.merchant_id"),
            nullable=False,
            index=True,
        ),
        sa.Column("rules", JSONB(), nullable=False),
        sa.Column("period_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("totals", JSONB(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "what_if_results",
        sa.Column(
            "run_id",
            sa.String(80),
            sa.ForeignKey("what_if_runs.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("ticket_no", sa.String(32), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("comparison", JSONB(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("what_if_results")
    op.drop_table("what_if_runs")
