"""harvest_runs.reason: why a run failed as a whole, in French (nothing archived)

Revision ID: ingest_run_reason
Revises: ingest_relay
Create Date: 2026-12-03 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_run_reason"
down_revision: str | None = "ingest_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_runs", schema="ingest") as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("harvest_runs", schema="ingest") as batch_op:
        batch_op.drop_column("reason")
