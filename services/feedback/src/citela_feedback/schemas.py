"""What the feedback API accepts and returns (documented in its OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from citela_common.auth import Permission, Role
from citela_common.events.envelope import TENANT_PATTERN
from citela_feedback.domain.moderation import ModerationAction, ModerationStatus
from citela_feedback.domain.rules import COMMENT_HARD_LIMIT, MatrixCut, ModerationMode, TenantRules
from citela_feedback.domain.scales import (
    IMPORTANCE_DOC,
    IMPORTANCE_LABELS,
    SATISFACTION_DOC,
    SATISFACTION_LABELS,
)

TenantCode = Annotated[
    str,
    StringConstraints(pattern=TENANT_PATTERN.pattern),
    Field(description="code of the tenant (collectivité), e.g. agglo-pau"),
]
TerritoryCode = Annotated[
    str,
    StringConstraints(pattern=r"^(region:[0-9]{2}|[0-9][0-9AB][0-9]{0,7})$"),
    Field(
        description="INSEE code of a commune or département, SIREN of an EPCI, or "
        "`region:<INSEE code>` for a région (a bare 2-digit code is a département: "
        "'75' is Paris, 'region:75' Nouvelle-Aquitaine)"
    ),
]
Score = Annotated[int, Field(ge=1, le=5)]
EntryId = Annotated[
    str,
    StringConstraints(min_length=3, max_length=250, pattern=r"^[a-z0-9-]+:\S.*$"),
    Field(
        description="catalogue entry id, `<source>:<remote id>`",
        examples=["service-public:mairie-64445"],
    ),
]
UserRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
    Field(description="partner apps: the opaque, stable reference of their user"),
]
Password = Annotated[
    str,
    StringConstraints(min_length=10, max_length=256),
    Field(description="10 characters or more"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str
    reason: str = Field(description="in English, for developers")
    code: str


# --- accounts and tokens -----------------------------------------------------------------


class RegisterIn(Strict):
    email: EmailStr
    password: Password
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class LoginIn(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RefreshIn(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class ConfirmIn(Strict):
    token: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class ResendIn(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type
    expires_in: int = Field(description="seconds until the access token expires")


class AccountOut(BaseModel):
    id: str
    email: str
    display_name: str | None
    email_confirmed: bool
    operator: bool
    roles: dict[str, list[Role]] = Field(description="staff roles, by tenant")
    created_at: datetime


class ConfirmedOut(BaseModel):
    status: Literal["confirmed"] = "confirmed"
    email: str


# --- tenants -----------------------------------------------------------------------------


class TenantIn(Strict):
    code: TenantCode
    name: Annotated[str, StringConstraints(min_length=2, max_length=200)]
    siren: Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")] = Field(
        description="SIREN of the collectivité (9 digits)"
    )
    territory_codes: list[TerritoryCode] = Field(min_length=1, max_length=500)
    rules: TenantRules = Field(default_factory=TenantRules)


class RulesPatch(Strict):
    comment_required: bool | None = None
    comment_max_length: int | None = Field(None, ge=20, le=COMMENT_HARD_LIMIT)
    min_answers: int | None = Field(None, ge=1, le=1000)
    matrix_cut: MatrixCut | None = None
    public_averages: bool | None = None
    moderation_mode: ModerationMode | None = None


class TenantPatch(Strict):
    name: Annotated[str, StringConstraints(min_length=2, max_length=200)] | None = None
    territory_codes: list[TerritoryCode] | None = Field(None, min_length=1, max_length=500)
    rules: RulesPatch | None = None


class TenantOut(BaseModel):
    code: str
    name: str
    siren: str
    territory_codes: list[str]
    rules: TenantRules
    created_at: datetime


class TenantPublicOut(BaseModel):
    """What the portal needs to know before a citizen writes."""

    code: str
    name: str
    territory_codes: list[str]
    comment_required: bool
    comment_max_length: int
    public_averages: bool


class StaffIn(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    roles: list[Role] = Field(min_length=1, max_length=3)


class StaffOut(BaseModel):
    account_id: str
    email: str
    roles: list[Role]


# --- partner apps ------------------------------------------------------------------------


class PartnerAppIn(Strict):
    name: Annotated[str, StringConstraints(min_length=2, max_length=200)]
    contact_email: EmailStr | None = None
    rate_limit_per_minute: int | None = Field(
        None, ge=1, le=100_000, description="default: the platform's setting"
    )


class PartnerAppOut(BaseModel):
    id: str
    name: str
    contact_email: str | None
    rate_limit_per_minute: int | None
    created_at: datetime


PartnerScope = Literal["feedback:read", "feedback:write"]


class ApiKeyIn(Strict):
    label: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    scopes: list[PartnerScope] = Field(min_length=1, max_length=2)
    tenants: list[TenantCode] | None = Field(
        None,
        max_length=50,
        description="tenants the key may act for (default: this tenant); the caller must be "
        "admin of each",
    )


class ApiKeyOut(BaseModel):
    id: str
    app_id: str
    prefix: str
    label: str | None
    scopes: list[Permission]
    tenants: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, store it safely")


# --- feedback ----------------------------------------------------------------------------


class FeedbackIn(Strict):
    entry_id: EntryId
    satisfaction: Score = Field(description=SATISFACTION_DOC)
    importance: Score = Field(description=IMPORTANCE_DOC)
    comment: Annotated[str, StringConstraints(max_length=COMMENT_HARD_LIMIT)] | None = Field(
        None,
        description="free text in French; personal data in it is masked in what the service "
        "shares; the tenant may require it and limit its length",
    )
    user_ref: UserRef | None = None
    collected_at: AwareDatetime | None = Field(
        None,
        description="partner apps only: when their user gave this answer, where it was collected "
        "earlier and uploaded later (an offline kiosk, a paper survey); ISO 8601 with a time "
        "zone, at most 365 days ago and not in the future (5 minutes of clock skew allowed). "
        "It dates the answer in the statistics (`submitted_at`); an answer older than the "
        "user's current feedback on the entry is refused (409, or a rejected batch item). "
        "Absent: the answer is dated when the service receives it",
        examples=["2026-10-14T10:30:00+02:00"],
    )


class Outcome(StrEnum):
    SUBMITTED = "submitted"
    REVISED = "revised"
    UNCHANGED = "unchanged"


class FeedbackOut(BaseModel):
    id: str
    tenant: str
    entry_id: str
    satisfaction: int = Field(description=SATISFACTION_DOC)
    satisfaction_label: str
    importance: int = Field(description=IMPORTANCE_DOC)
    importance_label: str
    comment: str | None = Field(
        description="the author's own text for its author; the redacted text for staff; "
        "null when absent, or hidden from this reader"
    )
    comment_status: ModerationStatus
    channel: str
    user_ref: str | None = Field(None, description="partner apps: their user's reference")
    revision: int = Field(description="counts every published change of this feedback")
    submitted_at: datetime = Field(
        description="when the current version was given: its `collected_at`, or when it was "
        "received"
    )
    created_at: datetime = Field(description="when the service received the first version")
    updated_at: datetime = Field(description="when the service received the current version")
    retracted_at: datetime | None = None
    moderation_flags: list[dict[str, str]] | None = Field(
        None, description="moderators: why the pre-screening held the comment"
    )


class SubmittedOut(FeedbackOut):
    outcome: Outcome


class BatchIn(Strict):
    items: list[FeedbackIn] = Field(min_length=1, max_length=1000)


class BatchItemOut(BaseModel):
    index: int
    status: Literal["accepted", "rejected"]
    feedback_id: str | None = None
    outcome: Outcome | None = None
    errors: list[FieldError] = Field(default_factory=list)


class BatchOut(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchItemOut]


class RevisionOut(BaseModel):
    revision: int
    satisfaction: int
    importance: int
    comment: str | None
    channel: str
    submitted_at: datetime = Field(
        description="when this version was given: its `collected_at`, or when it was received"
    )
    received_at: datetime = Field(description="when the service received this version")
    replaced_at: datetime | None


class ScalesOut(BaseModel):
    satisfaction: dict[int, str] = Field(default_factory=lambda: dict(SATISFACTION_LABELS))
    importance: dict[int, str] = Field(default_factory=lambda: dict(IMPORTANCE_LABELS))


class ScoresOut(BaseModel):
    entry_id: str
    answers: int
    enough_answers: bool = Field(description="false below the tenant's minimum number of answers")
    satisfaction_mean: float | None
    importance_mean: float | None


# --- moderation --------------------------------------------------------------------------


class ModerationIn(Strict):
    action: ModerationAction
    feedback_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=500
    )
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class ModerationItemOut(BaseModel):
    feedback_id: str
    result: Literal["done", "unchanged", "not_applicable", "not_found"]
    comment_status: ModerationStatus | None = None


class ModerationOut(BaseModel):
    results: list[ModerationItemOut]


# --- personal data -----------------------------------------------------------------------


class ExportedFeedback(BaseModel):
    tenant: str
    id: str
    entry_id: str
    satisfaction: int
    importance: int
    comment: str | None
    comment_status: str
    channel: str
    created_at: datetime
    updated_at: datetime
    retracted_at: datetime | None
    history: list[RevisionOut]


class ExportOut(BaseModel):
    exported_at: datetime
    account: AccountOut
    feedback: list[ExportedFeedback]
