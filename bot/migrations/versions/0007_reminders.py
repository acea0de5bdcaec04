"""Reminders of calls a person asked for: the instrument, the commune (for the office) and where to write back
(encrypted, like the outbox's addresses). See bot/reminders.py.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_key", sa.String(64), nullable=False, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("instrument", sa.String(64), nullable=False, index=True),
        sa.Column("commune", sa.String(32), nullable=True),
        sa.Column("opened", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_key", "instrument", name="uq_reminders_user_instrument"),
    )


def downgrade() -> None:
    op.drop_table("reminders")
