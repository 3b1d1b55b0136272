"""Payments and postal policies: what PayGov and VNPost acknowledged, and refused callbacks.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from hub.sql_store import paygov_table, security_events_table, vnpost_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = (paygov_table, vnpost_table, security_events_table)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
