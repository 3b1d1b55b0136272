"""Projection bookkeeping: active/building generation per projection, and offsets per generation.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_projections",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("active_generation", sa.Integer, nullable=False),
        sa.Column("active_version", sa.Integer, nullable=False),
        sa.Column("building_generation", sa.Integer, nullable=True),
    )
    op.create_table(
        "hub_projection_offsets",
        sa.Column("projection", sa.String(64), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_projection_offsets")
    op.drop_table("hub_projections")
