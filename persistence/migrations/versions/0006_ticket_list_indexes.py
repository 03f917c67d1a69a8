"""ticket list indexes: each caller's list and work queue, newest first

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `GET /v1/tickets` pages newest first by (created_at, ticket_no); without these a page of a
# big merchant's or of everyone's tickets sorts every matching row.
INDEXES = {
    "ix_tickets_created_at_ticket_no": ["created_at", "ticket_no"],
    "ix_tickets_status_created_at": ["status", "created_at", "ticket_no"],
    "ix_tickets_merchant_id_created_at": ["merchant_id", "created_at", "ticket_no"],
    "ix_tickets_merchant_id_status_created_at": [
        "merchant_id",
        "status",
        "created_at",
        "ticket_no",
    ],
    "ix_tickets_warehouse_id_created_at": ["warehouse_id", "created_at", "ticket_no"],
    "ix_tickets_warehouse_id_status_created_at": [
        "warehouse_id",
        "status",
        "created_at",
        "ticket_no",
    ],
}
# Most tickets never reach a warehouse: its lists index only those that do.
PARTIAL = {
    "ix_tickets_warehouse_id_created_at": "warehouse_id IS NOT NULL",
    "ix_tickets_warehouse_id_status_created_at": "warehouse_id IS NOT NULL",
}


def upgrade() -> None:
    # Built concurrently, outside the migration's transaction: a table of live tickets keeps
    # taking writes while its indexes are built.
    with op.get_context().autocommit_block():
        for name, columns in INDEXES.items():
            where = PARTIAL.get(name)
            op.create_index(
                name,
                "tickets",
                columns,
                postgresql_concurrently=True,
                postgresql_where=None if where is None else sa.text(where),
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.drop_index(name, table_name="tickets", postgresql_concurrently=True)
