"""Alarms, their audit trail and each (rule, series) rule state.

At most one open alarm (ACTIVE_UNACK or ACTIVE_ACK) per (originator, rule): a partial
unique index, which PostgreSQL and SQLite both support.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('ACTIVE_UNACK', 'ACTIVE_ACK')")


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("originator", sa.String(200), nullable=False),
        sa.Column(
            "device_id", sa.Uuid(), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("metric_name", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_ts", sa.BigInteger(), nullable=False),
        sa.Column("end_ts", sa.BigInteger(), nullable=False),
        sa.Column("ack_ts", sa.BigInteger(), nullable=True),
        sa.Column("clear_ts", sa.BigInteger(), nullable=True),
        sa.Column("assignee", sa.String(254), nullable=True),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
    )
    op.create_index(
        "uq_alarms_open", "alarms", ["originator", "rule_id"], unique=True,
        postgresql_where=OPEN, sqlite_where=OPEN,
    )  # fmt: skip
    op.create_index("ix_alarms_device_start", "alarms", ["device_id", "start_ts"])
    op.create_index("ix_alarms_status", "alarms", ["status"])
    op.create_table(
        "alarm_audit",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "alarm_id", sa.Uuid(), sa.ForeignKey("alarms.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at_ts", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
    )
    op.create_index("ix_alarm_audit_alarm", "alarm_audit", ["alarm_id", "at_ts"])
    op.create_table(
        "alarm_rule_states",
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("series_key", sa.String(200), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alarm_rule_states")
    op.drop_index("ix_alarm_audit_alarm", table_name="alarm_audit")
    op.drop_table("alarm_audit")
    op.drop_index("ix_alarms_status", table_name="alarms")
    op.drop_index("ix_alarms_device_start", table_name="alarms")
    op.drop_index("uq_alarms_open", table_name="alarms")
    op.drop_table("alarms")
