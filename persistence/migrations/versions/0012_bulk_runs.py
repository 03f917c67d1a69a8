"""bulk runs: one action over many tickets of a merchant, and each ticket's outcome

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_runs",
        sa.Column("run_id", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("bulk_id", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("fields", postgresql.JSONB(), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("owner", "bulk_id"),
    )
    op.create_index("ix_bulk_runs_merchant_id", "bulk_runs", ["merchant_id"])
    op.create_table(
        "bulk_results",
        sa.Column(
            "run_id",
            sa.String(200),
            sa.ForeignKey("bulk_runs.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("ticket_no", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("run_id", "ticket_no"),
    )


def downgrade() -> None:
    op.drop_table("bulk_results")
    op.drop_index("ix_bulk_runs_merchant_id", table_name="bulk_runs")
    op.drop_table("bulk_runs")
