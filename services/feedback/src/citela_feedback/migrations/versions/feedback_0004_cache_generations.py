"""cache_generations: a counter per scope of what the intake caches in process

Revision ID: feedback_0004
Revises: feedback_relay
Create Date: 2026-12-03 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "feedback_0004"
down_revision: str | None = "feedback_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cache_generations",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_cache_generations")),
        schema="feedback",
    )


def downgrade() -> None:
    op.drop_table("cache_generations", schema="feedback")
