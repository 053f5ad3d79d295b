"""Model lifecycle: feedback on anomalies, quality metrics, retraining candidates.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ml_models") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("rejection_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("retrain_schedule", sa.String(100), nullable=True))
        batch.add_column(sa.Column("retrained_at", _TZ, nullable=True))
    op.execute("UPDATE ml_models SET status = 'inactive' WHERE NOT is_active")
    op.create_table(
        "anomaly_feedback",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("anomaly_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["anomaly_id"], ["anomaly_detections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
    )
    op.create_index("uq_anomaly_feedback_anomaly", "anomaly_feedback", ["anomaly_id"], unique=True)
    op.create_table(
        "model_metrics",
        sa.Column("model_id", sa.Uuid(), primary_key=True),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum_s", sa.Float(), nullable=False),
        sa.Column("latency_buckets", sa.JSON(), nullable=False),
        sa.Column("first_scored_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_scored_ts", sa.BigInteger(), nullable=True),
        sa.Column("true_positives", sa.Integer(), nullable=False),
        sa.Column("false_positives", sa.Integer(), nullable=False),
        sa.Column("evaluation", sa.JSON(), nullable=True),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["ml_models.id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("model_metrics")
    op.drop_table("anomaly_feedback")
    with op.batch_alter_table("ml_models") as batch:
        batch.drop_column("retrained_at")
        batch.drop_column("retrain_schedule")
        batch.drop_column("rejection_reason")
        batch.drop_column("status")
