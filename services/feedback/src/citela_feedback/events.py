"""The events the feedback service publishes, built from its rows, staged in its outbox.

Only what may leave the service goes in: the redacted comment, and only while it is visible
(a pending or hidden comment travels as null); the author as a pseudonymous reference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from citela_common.events.envelope import SPECVERSION, CloudEvent
from citela_common.events.models import (
    FEEDBACK_TOPIC,
    Channel,
    FeedbackRetracted,
    FeedbackRevised,
    FeedbackSubmitted,
    make_event,
)
from citela_common.outbox import add_event
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.domain.pseudonyms import author_ref
from citela_feedback.ids import new_uuid
from citela_feedback.models import Feedback, Outbox

SOURCE = "/citela/feedback"


class CurrentFeedback(Protocol):
    """What the events of a feedback's current state are built from (a ``Feedback`` row, or
    the intake's ``FeedbackState``)."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def entry_id(self) -> str: ...
    @property
    def author_key(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def satisfaction(self) -> int: ...
    @property
    def importance(self) -> int: ...
    @property
    def comment_redacted(self) -> str | None: ...
    @property
    def moderation_status(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def submitted_at(self) -> datetime: ...


_VISIBLE = ModerationStatus.VISIBLE.value
_CHANNELS = {c.value: c.value for c in Channel}


def public_comment(feedback: CurrentFeedback) -> str | None:
    if feedback.moderation_status != _VISIBLE:
        return None
    return feedback.comment_redacted


def _current_event(feedback: CurrentFeedback, secret: str, *, first: bool) -> CloudEvent:
    model = FeedbackSubmitted if first else FeedbackRevised
    data = model(
        feedback_id=feedback.id,
        entry_id=feedback.entry_id,
        author_ref=author_ref(secret, feedback.tenant_id, feedback.author_key),
        channel=Channel(feedback.channel),
        satisfaction=feedback.satisfaction,
        importance=feedback.importance,
        comment=public_comment(feedback),
        revision=feedback.revision,
        submitted_at=feedback.submitted_at,
    )
    return make_event(data, tenant=feedback.tenant_id, source=SOURCE, subject=feedback.id)


def _json_time(value: datetime) -> str:
    """A datetime as pydantic writes it in JSON (ISO 8601, ``Z`` for UTC)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# The last datetime written and its text: a batch stages a thousand events of one instant.
# Matched by identity (an equal instant in another time zone is written differently).
_last_time: tuple[object, str] = (object(), "")


def _time_text(value: datetime) -> str:
    global _last_time  # a one-entry cache, swapped whole (safe between threads)
    last = _last_time
    if last[0] is value:
        return last[1]
    text = _json_time(value)
    _last_time = (value, text)
    return text


def _channel(value: str) -> str:
    found = _CHANNELS.get(value)
    if found is None:
        return Channel(value).value  # raises ValueError, as the event model would
    return found


def current_envelope(
    feedback: CurrentFeedback, secret: str, *, first: bool, at: datetime | None = None
) -> dict[str, Any]:
    """The stored form (CloudEvent JSON, as ``CloudEvent.model_dump(mode="json")``) of
    ``submitted`` (first version) or ``revised``, built without the models: the intake stages
    a thousand per batch from values it validated (tests/feedback/unit check it is the same)."""
    return {
        "id": new_uuid(),
        "source": SOURCE,
        "type": _SUBMITTED if first else _REVISED,
        "specversion": SPECVERSION,
        "time": _time_text(at or datetime.now(UTC)),
        "subject": feedback.id,
        "datacontenttype": "application/json",
        "tenant": feedback.tenant_id,
        "data": {
            "feedback_id": feedback.id,
            "entry_id": feedback.entry_id,
            "author_ref": author_ref(secret, feedback.tenant_id, feedback.author_key),
            "channel": _channel(feedback.channel),
            "satisfaction": feedback.satisfaction,
            "importance": feedback.importance,
            "comment": public_comment(feedback),
            "revision": feedback.revision,
            "submitted_at": _time_text(feedback.submitted_at),
        },
    }


_SUBMITTED = FeedbackSubmitted.event_type
_REVISED = FeedbackRevised.event_type


def stage_current(session: Session, feedback: CurrentFeedback, secret: str, *, first: bool) -> None:
    """Stage ``submitted`` (first version) or ``revised`` (any later state) of a feedback."""
    add_event(session, Outbox, FEEDBACK_TOPIC, _current_event(feedback, secret, first=first))


def stage_retracted(session: Session, feedback: Feedback, reason: str, at: datetime) -> None:
    data = FeedbackRetracted(
        feedback_id=feedback.id,
        entry_id=feedback.entry_id,
        retracted_at=at,
        reason=reason,
    )
    event = make_event(data, tenant=feedback.tenant_id, source=SOURCE, subject=feedback.id)
    add_event(session, Outbox, FEEDBACK_TOPIC, event)
