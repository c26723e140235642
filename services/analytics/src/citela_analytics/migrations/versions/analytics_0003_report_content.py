"""reports: the report's content as JSON (the web renders it) instead of a built HTML page

Revision ID: analytics_0003
Revises: analytics_relay
Create Date: 2026-12-03 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "analytics_0003"
down_revision: str | None = "analytics_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A report built as HTML has no content to render: it reads as failed, to ask again.
    op.execute(
        "UPDATE analytics.reports SET status = 'failed', "
        "error = 'built by an earlier version: ask for the report again' "
        "WHERE status = 'done'"
    )
    with op.batch_alter_table("reports", schema="analytics") as batch_op:
        batch_op.add_column(sa.Column("content", sa.JSON(), nullable=True))
        batch_op.drop_column("html")


def downgrade() -> None:
    with op.batch_alter_table("reports", schema="analytics") as batch_op:
        batch_op.add_column(sa.Column("html", sa.Text(), nullable=True))
        batch_op.drop_column("content")
