"""Monitoring streams (the SLA monitor's folds, the outbox, counted marks, the health monitor's state)
and the record of dead letters re-driven through the read API.

The tables are created from their definitions in hub/store/sql_store.py, which are still those of this
revision. Before changing one of them there, freeze its definition here (copy the columns into an
op.create_table), then add the change as a new migration: a fresh database must get the old shape
first.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from hub.store.sql_store import (
    monitor_dossiers_table,
    monitor_marks_table,
    monitor_outbox_table,
    monitor_state_table,
    redrives_table,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = (monitor_dossiers_table, monitor_outbox_table, monitor_marks_table, monitor_state_table, redrives_table)


def upgrade() -> None:
    for table in _TABLES:
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(_TABLES):
        table.drop(op.get_bind())
