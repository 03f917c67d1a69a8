"""line reasons: a ticket line's own reason code

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ticket_lines", sa.Column("reason_code", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("ticket_lines", "reason_code")
