"""National portal mirror: what the portal acknowledged per dossier, and the policy's replay marks.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_dvcqg_mirror",
        sa.Column("dossier_code", sa.String(64), primary_key=True),
        sa.Column("sent_version", sa.Integer, nullable=False),
        sa.Column("sent_digest", sa.String(64), nullable=True),
        sa.Column("on_portal", sa.Boolean, nullable=False),
        sa.Column("acked_steps", sa.Text, nullable=False),
        sa.Column("uncertain", sa.Boolean, nullable=False),
        sa.Column("attempt_version", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hub_policy_marks",
        sa.Column("policy", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_policy_marks")
    op.drop_table("hub_dvcqg_mirror")
