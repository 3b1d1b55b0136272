"""Payments and postal policies: what PayGov and VNPost acknowledged, and refused callbacks.

hub_paygov and hub_vnpost are created from their definitions in hub/store/sql_store.py, which are still
those of this revision; hub_security_events is frozen here as it was (0007 adds its count). Before
changing a table there, freeze its definition here (copy the columns into an op.create_table), then add
the change as a new migration: a fresh database must get the old shape first.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.sql_store import paygov_table, vnpost_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = (paygov_table, vnpost_table)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)
    op.create_table(
        "hub_security_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(64), nullable=True),
        sa.Column("dossier_code", sa.String(64), nullable=True),
        sa.Column("remote", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Index("ix_hub_security_events_at", "at"),
    )


def downgrade() -> None:
    op.drop_table("hub_security_events")
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
