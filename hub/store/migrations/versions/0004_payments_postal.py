"""Payments and postal policies: what PayGov and VNPost acknowledged, and refused callbacks.

The tables are created from their definitions in hub/store/sql_store.py, which are still those of this
revision. Before changing one of them there, freeze its definition here (copy the columns into an
op.create_table), then add the change as a new migration: a fresh database must get the old shape
first.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from hub.store.sql_store import paygov_table, security_events_table, vnpost_table

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
