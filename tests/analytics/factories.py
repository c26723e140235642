"""Events and helpers for the analytics tests: feedback and catalogue events as the other
services publish them, staff tokens, and a deterministic sentiment backend."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from citela_analytics.sentiment import Score
from citela_common.auth import Role, TokenService
from citela_common.events import CloudEvent, make_event
from citela_common.events.models import (
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    Channel,
    EntryKind,
    FeedbackRetracted,
    FeedbackRevised,
    FeedbackSubmitted,
    Provenance,
    SentimentLabel,
)
from citela_common.settings import Settings

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def fid() -> str:
    return f"fb-{next(_ids):08d}"


def entry(
    remote_id: str,
    title: str,
    policy_area: str | None = "Culture",
    *,
    version: int = 1,
    commune: str = "64445",
    epci: str = "200067254",
) -> CatalogueEntryUpserted:
    return CatalogueEntryUpserted(
        entry_id=f"service-public:{remote_id}",
        version=version,
        kind=EntryKind.SERVICE,
        title=title,
        policy_area=policy_area,
        commune_codes=[commune],
        epci_codes=[epci],
        departement_codes=["64"],
        provenance=Provenance(source="service-public", remote_id=remote_id, licence="lov2"),
        updated_at=NOW,
    )


def entry_removed(remote_id: str, version: int) -> CatalogueEntryRemoved:
    return CatalogueEntryRemoved(
        entry_id=f"service-public:{remote_id}", version=version, removed_at=NOW
    )


def submitted(
    feedback_id: str,
    remote_id: str,
    importance: int,
    satisfaction: int,
    comment: str | None = None,
    *,
    at: datetime = NOW,
    author: str | None = None,
) -> FeedbackSubmitted:
    return FeedbackSubmitted(
        feedback_id=feedback_id,
        entry_id=f"service-public:{remote_id}",
        author_ref=author or f"a-{feedback_id}",
        channel=Channel.PORTAL,
        satisfaction=satisfaction,
        importance=importance,
        comment=comment,
        revision=1,
        submitted_at=at,
    )


def revised(
    feedback_id: str,
    remote_id: str,
    importance: int,
    satisfaction: int,
    comment: str | None = None,
    *,
    revision: int = 2,
    at: datetime = NOW + timedelta(hours=1),
) -> FeedbackRevised:
    return FeedbackRevised(
        feedback_id=feedback_id,
        entry_id=f"service-public:{remote_id}",
        author_ref=f"a-{feedback_id}",
        channel=Channel.PORTAL,
        satisfaction=satisfaction,
        importance=importance,
        comment=comment,
        revision=revision,
        submitted_at=at,
    )


def retracted(feedback_id: str, remote_id: str) -> FeedbackRetracted:
    return FeedbackRetracted(
        feedback_id=feedback_id,
        entry_id=f"service-public:{remote_id}",
        retracted_at=NOW + timedelta(hours=2),
    )


def event(data: Any, tenant: str, source: str = "/citela/feedback") -> CloudEvent:
    return make_event(data, tenant=tenant, source=source)


def staff_token(settings: Settings, tenant: str, *roles: Role) -> str:
    return (
        TokenService(settings)
        .issue_access("staff-analyst", {tenant: list(roles or (Role.ANALYST,))})
        .token
    )


NEGATIVE_WORDS = ("trop", "jamais", "impossible", "attente", "fermé", "injoignable", "nul")
POSITIVE_WORDS = ("aimable", "merci", "efficace", "rapide", "chaleureux", "parfait", "super")


class KeywordBackend:
    """A deterministic stand-in for a real sentiment backend (same protocol)."""

    name = "test-keywords"

    def __init__(self, model_version: str = "1") -> None:
        self.model_version = model_version
        self.calls: list[int] = []

    def score(self, texts: list[str]) -> list[Score]:
        self.calls.append(len(texts))
        return [self._one(t) for t in texts]

    @staticmethod
    def _one(text: str) -> Score:
        lowered = text.lower()
        neg = sum(w in lowered for w in NEGATIVE_WORDS)
        pos = sum(w in lowered for w in POSITIVE_WORDS)
        if neg > pos:
            return Score(SentimentLabel.NEGATIVE, -0.8, 0.9)
        if pos > neg:
            return Score(SentimentLabel.POSITIVE, 0.8, 0.9)
        return Score(SentimentLabel.NEUTRAL, 0.0, 0.6)


def labels(scores: Sequence[Score]) -> list[str]:
    return [s.label.value for s in scores]
