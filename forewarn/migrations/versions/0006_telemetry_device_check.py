"""Telemetry without a per-row foreign key: writes check their devices once per write.

PostgreSQL checked the foreign key to devices once per row: a trigger call and an index
lookup for each reading tripled the time of a COPY. `telemetry.store` now checks (and on
PostgreSQL locks) the devices of every write once, and deleting a device deletes its
telemetry explicitly (`services.devices.delete_device`). On PostgreSQL the change is
instant; SQLite cannot drop a constraint, so batch mode rebuilds the table (every reading is
copied once, at the first start after the upgrade).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# SQLite keeps foreign keys unnamed: batch mode names them by this convention to drop them.
_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_SQLITE_FK = "fk_telemetry_device_id_devices"
_POSTGRES_FK = "telemetry_device_id_fkey"  # PostgreSQL's own name for 0001's constraint


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_POSTGRES_FK, "telemetry", type_="foreignkey")
        return
    with op.batch_alter_table("telemetry", naming_convention=_NAMES) as batch:
        batch.drop_constraint(_SQLITE_FK, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            _POSTGRES_FK, "telemetry", "devices", ["device_id"], ["id"], ondelete="CASCADE"
        )
        return
    with op.batch_alter_table("telemetry", naming_convention=_NAMES) as batch:
        batch.create_foreign_key(_SQLITE_FK, "devices", ["device_id"], ["id"], ondelete="CASCADE")
