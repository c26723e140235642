"""Typed, versioned payloads of every event type on the bus: the contract between services.

Each payload class names its CloudEvents ``type`` and its topic. A breaking change is a new
class with a new ``.vN`` type; both are published during the migration window.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from citela_common.events.envelope import CloudEvent

CATALOGUE_TOPIC = "citela.catalogue"
FEEDBACK_TOPIC = "citela.feedback"
ANALYTICS_TOPIC = "citela.analytics"


class EventData(BaseModel):
    """Base of every payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]


# --- catalogue -----------------------------------------------------------------------------


class EntryKind(StrEnum):
    SERVICE = "service"
    DATASET = "dataset"
    EVENT = "event"
    PLACE = "place"


class GeoPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lines: list[str] = Field(default_factory=list, description="street lines, as published")
    postal_code: str | None = None
    city: str | None = None
    commune_code: str | None = Field(None, description="INSEE code of the commune")


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["phone", "email", "website", "form", "fax", "social"]
    value: str
    label: str | None = None


class OpeningSlot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weekday: int = Field(ge=0, le=6, description="0 = lundi … 6 = dimanche")
    opens: str = Field(pattern=r"^\d{2}:\d{2}$")
    closes: str = Field(pattern=r"^\d{2}:\d{2}$")
    note: str | None = None


class DateRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: date
    end: date
    start_time: str | None = None
    end_time: str | None = None


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(description="source name, e.g. service-public, datagouv")
    remote_id: str
    remote_updated_at: datetime | None = None
    licence: str | None = None
    download_url: str | None = None
    downloaded_at: datetime | None = None


class CatalogueEntryUpserted(EventData):
    """A catalogue entry appeared or changed at its source."""

    event_type: ClassVar[str] = "fr.citela.catalogue.entry.upserted.v1"
    topic: ClassVar[str] = CATALOGUE_TOPIC

    entry_id: str = Field(pattern=r"^[a-z0-9-]+:.+$", description="<source>:<remote id>")
    version: int = Field(ge=0, description="monotonic per entry; an older version never wins")
    kind: EntryKind
    title: str = Field(min_length=1)
    description: str = Field("", description="plain text, no HTML or Markdown")
    source_type: str | None = Field(
        None, description="type at the source: office type (mairie, caf…), tourism class…"
    )
    policy_area: str | None = Field(None, description="domaine d'action publique")
    commune_codes: list[str] = Field(default_factory=list)
    epci_codes: list[str] = Field(default_factory=list)
    departement_codes: list[str] = Field(default_factory=list)
    address: Address | None = None
    point: GeoPoint | None = None
    contacts: list[Contact] = Field(default_factory=list)
    opening_hours: list[OpeningSlot] = Field(default_factory=list)
    dates: list[DateRange] = Field(default_factory=list)
    url: str | None = None
    provenance: Provenance
    updated_at: datetime


class TerritoryLevel(StrEnum):
    REGION = "region"
    DEPARTEMENT = "departement"
    EPCI = "epci"
    COMMUNE = "commune"
    ARRONDISSEMENT = "arrondissement"


class TerritoryUpserted(EventData):
    """A territory of the official geography (COG), with its place in the hierarchy."""

    event_type: ClassVar[str] = "fr.citela.catalogue.territory.upserted.v1"
    topic: ClassVar[str] = CATALOGUE_TOPIC

    code: str = Field(description="INSEE code (commune, département, région) or SIREN (EPCI)")
    level: TerritoryLevel
    name: str
    version: int = Field(ge=0)
    region_code: str | None = None
    departement_codes: list[str] = Field(default_factory=list)
    epci_code: str | None = None
    parent_commune_code: str | None = Field(None, description="for municipal arrondissements")
    postal_codes: list[str] = Field(default_factory=list)
    population: int | None = None
    centre: GeoPoint | None = None
    provenance: Provenance


class CatalogueEntryRemoved(EventData):
    """A catalogue entry vanished from its source for longer than the grace period."""

    event_type: ClassVar[str] = "fr.citela.catalogue.entry.removed.v1"
    topic: ClassVar[str] = CATALOGUE_TOPIC

    entry_id: str
    version: int = Field(ge=0)
    removed_at: datetime
    reason: str = "gone from source"


# --- feedback ------------------------------------------------------------------------------


class Channel(StrEnum):
    PORTAL = "portal"
    PARTNER = "partner"


class FeedbackSubmitted(EventData):
    """A first feedback of one author on one catalogue entry."""

    event_type: ClassVar[str] = "fr.citela.feedback.submitted.v1"
    topic: ClassVar[str] = FEEDBACK_TOPIC

    feedback_id: str
    entry_id: str
    author_ref: str = Field(description="pseudonymous, stable per author and tenant")
    channel: Channel
    satisfaction: int = Field(ge=1, le=5)
    importance: int = Field(ge=1, le=5)
    comment: str | None = Field(None, description="redacted text; null when hidden or absent")
    revision: int = Field(1, ge=1)
    submitted_at: datetime = Field(
        description="when the answer was given: when the feedback service received it, or, "
        "for a partner app's answer collected earlier (offline kiosk, paper survey), when it "
        "was collected; statistics count it on this day"
    )


class FeedbackRevised(FeedbackSubmitted):
    """The same author replaced their feedback on the entry; this one is now current."""

    event_type: ClassVar[str] = "fr.citela.feedback.revised.v1"


class FeedbackRetracted(EventData):
    """The feedback no longer counts (withdrawn, or its author deleted their account)."""

    event_type: ClassVar[str] = "fr.citela.feedback.retracted.v1"
    topic: ClassVar[str] = FEEDBACK_TOPIC

    feedback_id: str
    entry_id: str
    retracted_at: datetime
    reason: Literal["author", "account_deleted", "moderation"] = "author"


# --- analytics -----------------------------------------------------------------------------


class SentimentLabel(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class CommentScored(EventData):
    """The sentiment of one feedback comment, as scored by one backend and model version."""

    event_type: ClassVar[str] = "fr.citela.analytics.comment.scored.v1"
    topic: ClassVar[str] = ANALYTICS_TOPIC

    feedback_id: str
    revision: int = Field(ge=1)
    label: SentimentLabel
    score: float = Field(ge=-1, le=1)
    confidence: float = Field(ge=0, le=1)
    backend: str
    model_version: str
    scored_at: datetime


EVENT_MODELS: dict[str, type[EventData]] = {
    m.event_type: m
    for m in (
        CatalogueEntryUpserted,
        CatalogueEntryRemoved,
        TerritoryUpserted,
        FeedbackSubmitted,
        FeedbackRevised,
        FeedbackRetracted,
        CommentScored,
    )
}


class UnknownEventType(ValueError):
    pass


def make_event(
    data: EventData, *, tenant: str, source: str, subject: str | None = None
) -> CloudEvent:
    """Wrap a typed payload into its envelope."""
    return CloudEvent(
        type=data.event_type,
        source=source,
        tenant=tenant,
        subject=subject,
        data=data.model_dump(mode="json"),
    )


def parse_data(event: CloudEvent) -> EventData:
    """The typed payload of an envelope; raises UnknownEventType or pydantic's ValidationError."""
    model = EVENT_MODELS.get(event.type)
    if model is None:
        raise UnknownEventType(event.type)
    return model.model_validate(event.data)


def data_as(event: CloudEvent, model: type[Any]) -> Any:
    return model.model_validate(event.data)
