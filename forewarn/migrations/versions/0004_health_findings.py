"""Model health monitor: findings, their escalations per channel, and scan runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "health_findings",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("check_name", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_seen", _TZ, nullable=False),
        sa.Column("opened_at", _TZ, nullable=False),
        sa.Column("resolved_at", _TZ, nullable=True),
    )
    op.create_index(
        "uq_health_findings_fingerprint", "health_findings", ["fingerprint"], unique=True
    )
    op.create_index("ix_health_findings_status", "health_findings", ["status", "check_name"])
    op.create_table(
        "health_escalations",
        sa.Column("finding_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["finding_id"], ["health_findings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("finding_id", "channel"),
    )
    op.create_table(
        "health_scans",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("started_at", _TZ, nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("models_total", sa.Integer(), nullable=False),
        sa.Column("models_active", sa.Integer(), nullable=False),
        sa.Column("findings_open", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("escalated", sa.Integer(), nullable=False),
        sa.Column("escalation_failures", sa.Integer(), nullable=False),
    )
    op.create_index("ix_health_scans_started_at", "health_scans", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_health_scans_started_at", table_name="health_scans")
    op.drop_table("health_scans")
    op.drop_table("health_escalations")
    op.drop_index("ix_health_findings_status", table_name="health_findings")
    op.drop_index("uq_health_findings_fingerprint", table_name="health_findings")
    op.drop_table("health_findings")
