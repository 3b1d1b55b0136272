"""Refused callbacks are counted: a row stands for ``count`` refusals of one kind from one address
(a flood becomes a few rows, not one per junk request).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hub_security_events", sa.Column("count", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("hub_security_events") as table:
        table.drop_column("count")
