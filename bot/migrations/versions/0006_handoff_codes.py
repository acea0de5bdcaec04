"""Hand-off codes: the short code a person shows a human advisor, leading to their conversation's pseudonym.

See bot/storage.py (HandoffCodeRow) and bot/handoffs.py.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_codes",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("user_key", sa.String(64), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("handoff_codes")
