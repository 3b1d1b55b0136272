"""Digitised results sync: what the national data store acknowledged per result.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from hub.sql_store import results_sync_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    results_sync_table.create(op.get_bind())


def downgrade() -> None:
    results_sync_table.drop(op.get_bind())
