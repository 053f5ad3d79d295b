"""Anomalies name the event (excursion) they open, so later reports can refer to it.

Rows from before this revision have no event id (NULL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("anomaly_detections") as batch:
        batch.add_column(sa.Column("event_id", sa.Uuid(), nullable=True))
        batch.create_index("ix_anomalies_event", ["event_id"])


def downgrade() -> None:
    with op.batch_alter_table("anomaly_detections") as batch:
        batch.drop_index("ix_anomalies_event")
        batch.drop_column("event_id")
