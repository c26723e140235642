"""answers dated when collected: feedbacks.submitted_at, feedback_revisions.received_at

Partner apps may send an answer collected earlier (``collected_at``): it is dated then, and
the time it was received is kept apart. Existing rows were all dated when received.

Revision ID: feedback_0003
Revises: feedback_0002
Create Date: 2026-11-28 10:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import citela_common.db

revision: str = "feedback_0003"
down_revision: str | None = "feedback_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added nullable, filled from the existing dates, then made required (batch mode: SQLite
    # rebuilds the table; PostgreSQL alters it in place).
    with op.batch_alter_table("feedbacks", schema="feedback") as batch_op:
        batch_op.add_column(
            sa.Column("submitted_at", citela_common.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("feedback_revisions", schema="feedback") as batch_op:
        batch_op.add_column(
            sa.Column("received_at", citela_common.db.UTCDateTime(timezone=True), nullable=True)
        )
    feedbacks = sa.table(
        "feedbacks",
        sa.column("submitted_at"),
        sa.column("updated_at"),
        schema="feedback",
    )
    op.execute(feedbacks.update().values(submitted_at=feedbacks.c.updated_at))
    revisions = sa.table(
        "feedback_revisions",
        sa.column("received_at"),
        sa.column("submitted_at"),
        schema="feedback",
    )
    op.execute(revisions.update().values(received_at=revisions.c.submitted_at))
    with op.batch_alter_table("feedbacks", schema="feedback") as batch_op:
        batch_op.alter_column(
            "submitted_at",
            existing_type=citela_common.db.UTCDateTime(timezone=True),
            nullable=False,
        )
    with op.batch_alter_table("feedback_revisions", schema="feedback") as batch_op:
        batch_op.alter_column(
            "received_at",
            existing_type=citela_common.db.UTCDateTime(timezone=True),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback_revisions", schema="feedback") as batch_op:
        batch_op.drop_column("received_at")
    with op.batch_alter_table("feedbacks", schema="feedback") as batch_op:
        batch_op.drop_column("submitted_at")
