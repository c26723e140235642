"""outbox: partial index on the unsent rows for the relay, instead of the index on sent_at

Revision ID: feedback_relay
Revises: feedback_0003
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

from citela_common.migrations import create_relay_plumbing, drop_relay_plumbing

revision: str = "feedback_relay"
down_revision: str | None = "feedback_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_relay_plumbing("feedback")


def downgrade() -> None:
    drop_relay_plumbing("feedback")
