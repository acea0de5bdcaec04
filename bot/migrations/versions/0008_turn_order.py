"""Each chat's line of messages on PostgreSQL: places given as messages reach any worker, and how many are served,
so that several workers take a chat's turns in the order its messages arrived. See `Store.take_ticket`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turn_order",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("served", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("turn_order")
