"""Feedback intake: check a submission, store it (replacing the author's current one, history
kept), and stage its event in the outbox — all in the caller's transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.events.models import Channel
from citela_feedback import events, readmodel
from citela_feedback.domain import moderation, rules
from citela_feedback.domain.redaction import redact
from citela_feedback.domain.rules import TenantRules, Violation
from citela_feedback.domain.screening import screen
from citela_feedback.ids import new_id
from citela_feedback.models import CatalogueEntry, Feedback, FeedbackRevision, Tenant
from citela_feedback.schemas import Outcome


@dataclass(frozen=True)
class Author:
    """Who gives the feedback: a citizen's account, or a partner app's user."""

    kind: Literal["citizen", "partner"]
    account_id: str | None = None
    app_id: str | None = None
    user_ref: str | None = None

    @property
    def key(self) -> str:
        if self.kind == "citizen":
            return f"citizen:{self.account_id}"
        return f"partner:{self.app_id}:{self.user_ref}"

    @property
    def channel(self) -> Channel:
        return Channel.PORTAL if self.kind == "citizen" else Channel.PARTNER


@dataclass(frozen=True)
class Submission:
    entry_id: str
    satisfaction: int
    importance: int
    comment: str | None
    collected_at: datetime | None = None  # partner apps: when the answer was given, if earlier


# A partner's clock may run a little ahead of ours; a year back is as far as an offline answer
# may still count (beyond, it would rewrite a past the authority has already reported on).
CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)
OLDER_THAN_CURRENT = "older_than_current"


def date_violation(collected_at: datetime | None, now: datetime) -> Violation | None:
    if collected_at is None:
        return None
    if collected_at > now + CLOCK_SKEW:
        return Violation("collected_at", "is in the future", "in_future")
    if collected_at < now - MAX_AGE:
        return Violation("collected_at", "is more than 365 days ago", "too_old")
    return None


class Rejected(Exception):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.reason}" for v in violations))
        self.violations = violations

    @property
    def reason(self) -> str:
        return self.violations[0].code


@dataclass(frozen=True)
class Accepted:
    feedback: Feedback
    outcome: Outcome


def current_key(author: Author, entry_id: str) -> str:
    return hashlib.sha256(f"{author.key}\x1f{entry_id}".encode()).hexdigest()


@dataclass
class Intake:
    """One unit of intake work for one tenant (a request or a batch): caches what it reads."""

    session: Session
    tenant: Tenant
    secret: str
    _entries: dict[str, CatalogueEntry | None] = field(default_factory=dict)
    _verdicts: dict[str, Violation | None] = field(default_factory=dict)
    _current: dict[str, Feedback | None] = field(default_factory=dict)

    def prefetch(self, pairs: list[tuple[Author, str]]) -> None:
        """Load the current feedback of many (author, entry) pairs in one query (batches)."""
        keys = sorted({current_key(a, e) for a, e in pairs} - set(self._current))
        for chunk in range(0, len(keys), 500):
            part = keys[chunk : chunk + 500]
            found = {
                fb.current_key: fb
                for fb in self.session.scalars(
                    select(Feedback).where(Feedback.current_key.in_(part))
                )
            }
            for key in part:
                self._current[key] = found.get(key)

    def _current_of(self, key: str) -> Feedback | None:
        if key not in self._current:
            self._current[key] = self.session.scalar(
                select(Feedback).where(Feedback.current_key == key)
            )
        return self._current[key]

    @cached_property
    def rules(self) -> TenantRules:
        return TenantRules.model_validate(self.tenant.rules)

    def entry_violation(self, entry_id: str) -> Violation | None:
        if entry_id in self._verdicts:
            return self._verdicts[entry_id]
        entry = readmodel.live_entry(self.session, entry_id)
        verdict: Violation | None = None
        if entry is None:
            verdict = Violation(
                "entry_id", "no such entry in this authority's catalogue", "unknown_entry"
            )
        elif entry.removed_at is not None:
            verdict = Violation(
                "entry_id", "this entry was removed from the catalogue", "entry_removed"
            )
        else:
            place = readmodel.place_of(entry)
            communes = readmodel.communes(self.session, place.commune_codes)
            if not rules.in_territory(place, self.tenant.territory_codes, communes):
                verdict = Violation(
                    "entry_id",
                    "this entry is outside the authority's territory",
                    "outside_territory",
                )
        self._verdicts[entry_id] = verdict
        return verdict

    def submit(self, author: Author, submission: Submission, now: datetime) -> Accepted:
        """Store one submission, or raise Rejected with every violation found."""
        tenant_rules = self.rules
        violations = rules.check_comment(tenant_rules, submission.comment)
        entry_problem = self.entry_violation(submission.entry_id)
        if entry_problem is not None:
            violations.insert(0, entry_problem)
        date_problem = date_violation(submission.collected_at, now)
        if date_problem is not None:
            violations.append(date_problem)
        if violations:
            raise Rejected(violations)
        comment = rules.normalise_comment(submission.comment)
        key = current_key(author, submission.entry_id)
        current = self._current_of(key)
        given_at = submission.collected_at or now
        if (
            submission.collected_at is not None
            and current is not None
            and submission.collected_at < current.submitted_at
        ):
            # Uploaded late but given earlier: the author's newer answer stays current.
            raise Rejected(
                [
                    Violation(
                        "collected_at",
                        "the author's current feedback on this entry was given later "
                        f"({current.submitted_at.isoformat()}); an older answer does not "
                        "replace it",
                        OLDER_THAN_CURRENT,
                    )
                ]
            )
        if current is not None and (
            current.satisfaction,
            current.importance,
            current.comment,
            current.channel,
        ) == (submission.satisfaction, submission.importance, comment, author.channel.value):
            return Accepted(current, Outcome.UNCHANGED)

        screening = screen(comment)
        status = moderation.initial_status(comment, tenant_rules.moderation_mode, screening)
        redacted = redact(comment).text if comment else None
        flags = [{"reason": f.reason.value, "detail": f.detail} for f in screening.flags]

        if current is None:
            feedback = Feedback(
                id=new_id(),
                tenant_id=self.tenant.tenant_id,
                entry_id=submission.entry_id,
                author_kind=author.kind,
                account_id=author.account_id,
                partner_app_id=author.app_id,
                partner_user_ref=author.user_ref,
                author_key=author.key,
                current_key=key,
                revision=1,
                created_at=now,
            )
            self.session.add(feedback)
            outcome = Outcome.SUBMITTED
        else:
            feedback = current
            feedback.revision += 1
            for old in self.session.scalars(
                select(FeedbackRevision).where(
                    FeedbackRevision.feedback_id == feedback.id,
                    FeedbackRevision.replaced_at.is_(None),
                )
            ):
                old.replaced_at = now
            outcome = Outcome.REVISED
        feedback.channel = author.channel.value
        feedback.satisfaction = submission.satisfaction
        feedback.importance = submission.importance
        feedback.comment = comment
        feedback.comment_redacted = redacted
        feedback.moderation_status = status.value
        feedback.moderation_flags = flags
        feedback.moderation_note = None
        feedback.moderated_by = None
        feedback.moderated_at = None
        feedback.submitted_at = given_at
        feedback.updated_at = now
        self.session.add(
            FeedbackRevision(
                tenant_id=self.tenant.tenant_id,
                feedback_id=feedback.id,
                revision=feedback.revision,
                channel=feedback.channel,
                satisfaction=feedback.satisfaction,
                importance=feedback.importance,
                comment=comment,
                comment_redacted=redacted,
                submitted_at=given_at,
                received_at=now,
            )
        )
        self._current[key] = feedback
        # A concurrent first post of the same author and entry fails on the unique current_key
        # when the unit of work flushes; the caller then runs it again and sees that post.
        events.stage_current(
            self.session, feedback, self.secret, first=outcome is Outcome.SUBMITTED
        )
        return Accepted(feedback, outcome)


def retract(session: Session, feedback: Feedback, reason: str, now: datetime) -> None:
    """The feedback stops counting: no longer current, a ``retracted`` event staged."""
    feedback.retracted_at = now
    feedback.retraction_reason = reason
    feedback.current_key = None
    events.stage_retracted(session, feedback, reason, now)
