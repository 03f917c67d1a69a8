"""refund success index: succeeded refunds by the moment they succeeded

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_refunds_succeeded_at"
# The dashboard sums every shop's refunds per day they succeeded: the `at` of a succeeded
# refund's last history entry (persistence/dashboard.py writes the same expression). Without
# this index that reads the whole refunds table for a month of it.
SUCCEEDED_AT = "(status_history -> -1 ->> 'at')"


def upgrade() -> None:
    # Built concurrently, outside the migration's transaction: refunds keep being written.
    with op.get_context().autocommit_block():
        op.create_index(
            NAME,
            "refunds",
            [sa.text(SUCCEEDED_AT)],
            postgresql_concurrently=True,
            postgresql_where=sa.text("status = 'succeeded'"),
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name="refunds", postgresql_concurrently=True)
