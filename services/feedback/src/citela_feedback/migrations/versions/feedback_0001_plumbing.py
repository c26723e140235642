"""Outbox and processed-events tables.

Revision ID: feedback_0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

from citela_common.migrations import create_plumbing_tables

revision: str = "feedback_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_plumbing_tables("feedback")


def downgrade() -> None:
    op.drop_table("processed_events", schema="feedback")
    op.drop_table("outbox", schema="feedback")
