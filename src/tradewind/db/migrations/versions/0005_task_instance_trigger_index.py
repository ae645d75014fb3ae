"""index of task instances by trigger

A triggerer that sees triggers fire (or end their tasks) finds the deferred task instances
by ``trigger_id``, and the clean-up of triggers nobody waits for looks the other way; without
an index each was a scan of every task instance. Airflow has the same (``ti_trigger_id``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 18:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("idx_task_instance_trigger_id"), ["trigger_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idx_task_instance_trigger_id"))
