"""search at scale: finer tsvector statistics, territory lookups by code and département

Revision ID: catalogue_0003
Revises: catalogue_relay
Create Date: 2026-12-03 12:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "catalogue_0003"
down_revision: str | None = "catalogue_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A territory filter looks its communes up by code, EPCI or département (an OR of the
    # three: each needs an index for a bitmap OR instead of a scan of the tenant's rows).
    op.create_index("ix_territories_code", "territories", ["tenant_id", "code"], schema="catalogue")
    op.create_index(
        "ix_territories_departement",
        "territories",
        ["tenant_id", "departement_code"],
        schema="catalogue",
    )
    if op.get_bind().dialect.name == "postgresql":
        # Search orders matches by title through an index, or finds them through the GIN
        # index, as the lexeme statistics say; the default target (100) keeps 1,000 lexemes,
        # too few to tell a rare word from a middling one in a catalogue of 100,000 entries.
        op.execute("ALTER TABLE catalogue.entries ALTER COLUMN search_vector SET STATISTICS 1000")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE catalogue.entries ALTER COLUMN search_vector SET STATISTICS -1")
    op.drop_index("ix_territories_departement", "territories", schema="catalogue")
    op.drop_index("ix_territories_code", "territories", schema="catalogue")
