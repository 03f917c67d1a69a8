"""api key lifecycle: expiry, rotation, last use

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:12:40.518302
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("rotated_from", sa.Integer(), nullable=True))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        "api_keys_rotated_from_fkey", "api_keys", "api_keys", ["rotated_from"], ["key_id"]
    )


def downgrade() -> None:
    op.drop_constraint("api_keys_rotated_from_fkey", "api_keys", type_="foreignkey")
    op.drop_column("api_keys", "last_used_at")
    op.drop_column("api_keys", "rotated_from")
    op.drop_column("api_keys", "expires_at")
