"""Alembic wiring each service reuses for its own schema.

A service ships ``migrations/`` (env.py + versions/) inside its package; its env.py calls
``run_env(metadata)``; ``upgrade(db, package)`` brings the schema to head.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from citela_common.db import Database


def alembic_config(db: Database, package: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files(package) / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["database"] = db
    return cfg


def upgrade(db: Database, package: str, revision: str = "heads") -> None:
    """Create the service's schema if needed and migrate it to ``revision``.

    Every head by default: two changes made side by side may each add a revision on the same
    parent; both apply (their order does not matter, or one would name the other).
    """
    db.ensure_schema()
    command.upgrade(alembic_config(db, package), revision)


def run_env(metadata: MetaData) -> None:
    """Body of a service's ``migrations/env.py`` (online mode only: we always have a DB)."""
    db: Database | None = context.config.attributes.get("database")
    if db is None:  # plain `alembic` command line
        url = context.config.get_main_option("sqlalchemy.url")
        if not url or not metadata.schema:
            raise RuntimeError("sqlalchemy.url and a schema-bound metadata are required")
        db = Database(url, metadata.schema)
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=metadata.schema,
            include_schemas=True,
            render_as_batch=db.is_sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


def create_plumbing_tables(schema: str) -> None:
    """Migration step: the ``outbox`` and ``processed_events`` tables every service has."""
    import sqlalchemy as sa
    from alembic import op

    from citela_common.db import BigIntPK, UTCDateTime

    op.create_table(
        "outbox",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
        schema=schema,
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"], schema=schema)
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
        schema=schema,
    )


def create_relay_plumbing(schema: str) -> None:
    """Migration step: what the outbox relay reads by (see citela_common.outbox.OutboxRelay).

    A partial index on the unsent rows' ids replaces the index on ``sent_at``: the relay scans
    them in id order and the index holds nothing else, however many sent rows pile up. On
    PostgreSQL, a ``NOTIFY`` when rows are inserted would wake the relays of other processes,
    but it takes a database-wide lock across every commit that sends one; the relays notify
    each other instead (only when contended), so no trigger is created here.
    """
    import sqlalchemy as sa
    from alembic import op

    from citela_common.outbox import UNSENT_INDEX

    op.drop_index(f"ix_{schema}_outbox_sent_at", table_name="outbox", schema=schema)
    unsent = sa.text("sent_at IS NULL")
    op.create_index(
        UNSENT_INDEX,
        "outbox",
        ["id"],
        schema=schema,
        postgresql_where=unsent,
        sqlite_where=unsent,
    )


def drop_relay_plumbing(schema: str) -> None:
    """Downgrade of ``create_relay_plumbing``."""
    from alembic import op

    from citela_common.outbox import UNSENT_INDEX

    op.drop_index(UNSENT_INDEX, table_name="outbox", schema=schema)
    op.create_index(f"ix_{schema}_outbox_sent_at", "outbox", ["sent_at"], schema=schema)
