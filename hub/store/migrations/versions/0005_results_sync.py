"""Digitised results sync: what the national data store acknowledged per result.

The tables are created from their definitions in hub/store/sql_store.py, which are still those of this
revision. Before changing one of them there, freeze its definition here (copy the columns into an
op.create_table), then add the change as a new migration: a fresh database must get the old shape
first.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from hub.store.sql_store import results_sync_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    results_sync_table.create(op.get_bind())


def downgrade() -> None:
    results_sync_table.drop(op.get_bind())
