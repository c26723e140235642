"""Tables of the feedback service (schema ``feedback``).

Rows that belong to an authority carry ``tenant_id`` (TenantScoped) and are read and written
through sessions scoped to that tenant. Accounts and their refresh tokens are the person's,
not an authority's: one account serves every tenant (like a national identity provider).
The catalogue read model (``catalogue_entries``, ``territories``) is this service's own
projection of the catalogue events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from citela_common.db import BigIntPK, UTCDateTime, service_metadata, utcnow
from citela_common.outbox import OutboxMixin, ProcessedEventMixin
from citela_common.tenancy import TenantScoped

SCHEMA = "feedback"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


# --- tenants and people ---------------------------------------------------------------------


class Tenant(TenantScoped, Base):
    """A collectivité that subscribed to the platform."""

    __tablename__ = "tenants"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str] = mapped_column(String(9))
    territory_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Account(Base):
    """A person: a citizen, and authority staff where they hold roles."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(100))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RefreshToken(Base):
    """Issued refresh tokens, so that one can be rotated, revoked, and used once."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StaffRole(TenantScoped, Base):
    __tablename__ = "staff_roles"
    __table_args__ = (Index("ix_staff_roles_account", "account_id"),)

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- partner apps ---------------------------------------------------------------------------


class PartnerApp(TenantScoped, Base):
    __tablename__ = "partner_apps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKey(TenantScoped, Base):
    """A partner app's key: only its prefix and hash are stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32), index=True)
    prefix: Mapped[str] = mapped_column(String(12), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    tenants: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- read model of the catalogue ------------------------------------------------------------


class CatalogueEntry(TenantScoped, Base):
    __tablename__ = "catalogue_entries"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(500))
    policy_area: Mapped[str | None] = mapped_column(String(100))
    commune_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    epci_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    departement_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Territory(TenantScoped, Base):
    __tablename__ = "territories"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str] = mapped_column(String(20), primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    epci_code: Mapped[str | None] = mapped_column(String(12))
    departement_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    region_code: Mapped[str | None] = mapped_column(String(5))
    parent_commune_code: Mapped[str | None] = mapped_column(String(10))


# --- feedback -------------------------------------------------------------------------------


class Feedback(TenantScoped, Base):
    """The current state of one author's feedback on one catalogue entry.

    ``current_key`` (a hash of author and entry) is set while the feedback is current and
    cleared when it is retracted: its unique index makes "one current feedback per author and
    entry" hold even under concurrent posts.
    """

    __tablename__ = "feedbacks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "current_key"),
        Index("ix_feedbacks_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_feedbacks_tenant_entry", "tenant_id", "entry_id"),
        Index("ix_feedbacks_tenant_moderation", "tenant_id", "moderation_status", "created_at"),
        Index("ix_feedbacks_account", "account_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(250))
    author_kind: Mapped[str] = mapped_column(String(10))  # citizen, partner, anonymous
    account_id: Mapped[str | None] = mapped_column(String(32))
    partner_app_id: Mapped[str | None] = mapped_column(String(32))
    partner_user_ref: Mapped[str | None] = mapped_column(String(200))
    author_key: Mapped[str] = mapped_column(String(300))
    current_key: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    satisfaction: Mapped[int] = mapped_column(SmallInteger)
    importance: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    comment_redacted: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    moderation_status: Mapped[str] = mapped_column(String(10))
    moderation_flags: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    moderation_note: Mapped[str | None] = mapped_column(Text)
    moderated_by: Mapped[str | None] = mapped_column(String(32))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the current version's answer was given (a partner app's ``collected_at``, else when
    # it was received); created_at and updated_at are when the service received its versions.
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retraction_reason: Mapped[str | None] = mapped_column(String(20))


class FeedbackRevision(TenantScoped, Base):
    """History: every version the author submitted, the current one included."""

    __tablename__ = "feedback_revisions"
    __table_args__ = (UniqueConstraint("feedback_id", "revision"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    feedback_id: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))
    satisfaction: Mapped[int] = mapped_column(SmallInteger)
    importance: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    comment_redacted: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the answer was given
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyRecord(TenantScoped, Base):
    """The first successful response to an ``Idempotency-Key``, replayed on a retry."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_account", "account_id"),)

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[Any] = mapped_column(JSON, nullable=True)
    account_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- caches ---------------------------------------------------------------------------------


class CacheGeneration(Base):
    """A counter per scope of cached reads (``partners``, ``tenant:<code>``), bumped in the
    transaction that changes what the scope covers (see citela_feedback.generations)."""

    __tablename__ = "cache_generations"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
