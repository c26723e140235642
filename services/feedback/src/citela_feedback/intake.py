"""Feedback intake: check submissions, work out the rows they change, and write them with a
few Core statements — feedback, history, outbox events — in the caller's transaction.

A unit of intake (one request, or one batch) reads the authors' current feedback first (one
query), decides every submission in memory, then ``write`` inserts the new rows and updates
the replaced ones, each table in one statement. Statements name the tenant explicitly: the
hot path does not go through the ORM's per-statement tenancy filter (same guarantee: every
row read or written here carries the unit's tenant).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, cast

from sqlalchemy import Table, TextClause, and_, bindparam, select, text, update
from sqlalchemy.orm import Session

from citela_common import bulk
from citela_common.events.models import FEEDBACK_TOPIC, Channel
from citela_common.outbox import STAGED
from citela_feedback import events, idempotency, pgsql
from citela_feedback.domain import moderation, rules
from citela_feedback.domain.redaction import redact
from citela_feedback.domain.rules import TenantRules, Violation
from citela_feedback.domain.screening import screen
from citela_feedback.ids import new_id
from citela_feedback.models import Feedback, FeedbackRevision, Outbox
from citela_feedback.schemas import FeedbackIn, Outcome

FEEDBACKS = cast(Table, Feedback.__table__)
REVISIONS = cast(Table, FeedbackRevision.__table__)
OUTBOX = cast(Table, Outbox.__table__)


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

    @classmethod
    def of(cls, item: FeedbackIn) -> Submission:
        """What a POSTed feedback (alone or a batch's item) submits: the one place that reads
        the body's fields into the intake."""
        return cls(
            item.entry_id, item.satisfaction, item.importance, item.comment, item.collected_at
        )


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


class ConcurrentChange(Exception):
    """A feedback this unit read was changed by another transaction since: run it again."""


@dataclass
class FeedbackState:
    """A feedback's row (the columns of ``feedbacks``), as the intake reads and writes it."""

    id: str
    tenant_id: str
    entry_id: str
    author_kind: str
    account_id: str | None
    partner_app_id: str | None
    partner_user_ref: str | None
    author_key: str
    current_key: str | None
    channel: str
    satisfaction: int
    importance: int
    comment: str | None
    comment_redacted: str | None
    revision: int
    moderation_status: str
    moderation_flags: list[dict[str, str]]
    moderation_note: str | None
    moderated_by: str | None
    moderated_at: datetime | None
    submitted_at: datetime
    created_at: datetime
    updated_at: datetime
    retracted_at: datetime | None
    retraction_reason: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> FeedbackState:
        return cls(**{name: row[name] for name in FEEDBACK_COLUMNS})


FEEDBACK_COLUMNS = tuple(f.name for f in fields(FeedbackState))
# What a new version of a feedback changes (the rest is set once, when it is created).
_REVISED_COLUMNS = (
    "channel",
    "satisfaction",
    "importance",
    "comment",
    "comment_redacted",
    "revision",
    "moderation_status",
    "moderation_flags",
    "moderation_note",
    "moderated_by",
    "moderated_at",
    "submitted_at",
    "updated_at",
)
_CURRENT_QUERY = select(*(FEEDBACKS.c[c] for c in FEEDBACK_COLUMNS))
_REVISE = (
    update(FEEDBACKS)
    .where(
        FEEDBACKS.c.tenant_id == bindparam("t_tenant"),
        FEEDBACKS.c.id == bindparam("t_id"),
        FEEDBACKS.c.revision == bindparam("t_stored"),
    )
    .values({c: bindparam(f"v_{c}") for c in _REVISED_COLUMNS})
)
_CURRENT_ONE = _CURRENT_QUERY.where(
    FEEDBACKS.c.tenant_id == bindparam("t_tenant"),
    FEEDBACKS.c.current_key == bindparam("t_key"),
)


@dataclass(frozen=True)
class Accepted:
    feedback: FeedbackState  # as of this submission (a later one in the unit may change it)
    outcome: Outcome


def current_key(author: Author, entry_id: str) -> str:
    return hashlib.sha256(f"{author.key}\x1f{entry_id}".encode()).hexdigest()


@dataclass
class _Slot:
    """One author's feedback on one entry in this unit: its state, and what is stored."""

    state: FeedbackState
    stored_revision: int | None  # None: not stored yet (inserted by write())
    open_revision: dict[str, Any] | None = None  # its newest revision row staged in this unit


@dataclass
class Intake:
    """One unit of intake work for one tenant (a request or a batch), in ``session``'s
    transaction. ``verdict(entry_id)`` says why an entry may not be rated (None: it may)."""

    session: Session
    tenant: str
    rules: TenantRules
    secret: str
    verdict: Callable[[str], Violation | None]
    _slots: dict[str, _Slot | None] = field(default_factory=dict)
    _revisions: list[dict[str, Any]] = field(default_factory=list)
    _events: list[dict[str, Any]] = field(default_factory=list)
    _close: list[str] = field(default_factory=list)  # stored feedback ids whose revision closes
    _verdicts: dict[str, Violation | None] = field(default_factory=dict)  # per entry, this unit

    # --- reads ------------------------------------------------------------------------------

    def known(self, key: str, row: Mapping[Any, Any] | None) -> None:
        """Take the current feedback of ``key`` as read by the caller (None: there is none)."""
        if key not in self._slots:
            self._slots[key] = None if row is None else _stored(row)

    def prefetch(self, pairs: Iterable[tuple[Author, str]]) -> None:
        """Read the current feedback of many (author, entry) pairs in one query (batches)."""
        self.prefetch_keys(current_key(a, e) for a, e in pairs)

    def prefetch_keys(self, keys_wanted: Iterable[str]) -> None:
        """Read the current feedback of many current keys in one query."""
        keys = sorted(set(keys_wanted) - set(self._slots))
        for chunk in range(0, len(keys), 1000):
            part = keys[chunk : chunk + 1000]
            query = _CURRENT_QUERY.where(
                FEEDBACKS.c.tenant_id == self.tenant,
                bulk.among(self.session, FEEDBACKS.c.current_key, part),
            )
            found = {r.current_key: r for r in self.session.connection().execute(query).mappings()}
            for key in part:
                row = found.get(key)
                self._slots[key] = None if row is None else _stored(row)

    def _slot(self, key: str) -> _Slot | None:
        if key not in self._slots:
            row = (
                self.session.connection()
                .execute(_CURRENT_ONE, {"t_tenant": self.tenant, "t_key": key})
                .mappings()
                .first()
            )
            self._slots[key] = None if row is None else _stored(row)
        return self._slots[key]

    # --- decisions ------------------------------------------------------------------------

    def submit(self, author: Author, submission: Submission, now: datetime) -> Accepted:
        """Decide one submission (written by ``write``), or raise Rejected with every
        violation found."""
        violations = rules.check_comment(self.rules, submission.comment)
        entry = submission.entry_id
        if entry in self._verdicts:  # a batch rates few entries many times
            entry_problem = self._verdicts[entry]
        else:
            entry_problem = self._verdicts[entry] = self.verdict(entry)
        if entry_problem is not None:
            violations.insert(0, entry_problem)
        date_problem = date_violation(submission.collected_at, now)
        if date_problem is not None:
            violations.append(date_problem)
        if violations:
            raise Rejected(violations)
        comment = rules.normalise_comment(submission.comment)
        key = current_key(author, submission.entry_id)
        slot = self._slot(key)
        current = slot.state if slot is not None else None
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
        status = moderation.initial_status(comment, self.rules.moderation_mode, screening)
        redacted = redact(comment).text if comment else None
        flags = [{"reason": f.reason.value, "detail": f.detail} for f in screening.flags]

        if slot is None:
            state = FeedbackState(
                id=new_id(),
                tenant_id=self.tenant,
                entry_id=submission.entry_id,
                author_kind=author.kind,
                account_id=author.account_id,
                partner_app_id=author.app_id,
                partner_user_ref=author.user_ref,
                author_key=author.key,
                current_key=key,
                channel=author.channel.value,
                satisfaction=submission.satisfaction,
                importance=submission.importance,
                comment=comment,
                comment_redacted=redacted,
                revision=1,
                moderation_status=status.value,
                moderation_flags=flags,
                moderation_note=None,
                moderated_by=None,
                moderated_at=None,
                submitted_at=given_at,
                created_at=now,
                updated_at=now,
                retracted_at=None,
                retraction_reason=None,
            )
            slot = self._slots[key] = _Slot(state, None)
            outcome = Outcome.SUBMITTED
        else:
            state = slot.state
            if slot.open_revision is not None:
                slot.open_revision["replaced_at"] = now  # staged earlier in this unit
            elif slot.stored_revision is not None and state.revision == slot.stored_revision:
                self._close.append(state.id)
            state.revision += 1
            state.channel = author.channel.value
            state.satisfaction = submission.satisfaction
            state.importance = submission.importance
            state.comment = comment
            state.comment_redacted = redacted
            state.moderation_status = status.value
            state.moderation_flags = flags
            state.moderation_note = None
            state.moderated_by = None
            state.moderated_at = None
            state.submitted_at = given_at
            state.updated_at = now
            outcome = Outcome.REVISED
        revision = {
            "tenant_id": self.tenant,
            "feedback_id": state.id,
            "revision": state.revision,
            "channel": state.channel,
            "satisfaction": state.satisfaction,
            "importance": state.importance,
            "comment": comment,
            "comment_redacted": redacted,
            "submitted_at": given_at,
            "received_at": now,
            "replaced_at": None,
        }
        self._revisions.append(revision)
        slot.open_revision = revision
        self._events.append(
            events.current_envelope(state, self.secret, first=outcome is Outcome.SUBMITTED, at=now)
        )
        return Accepted(state, outcome)

    # --- writes -----------------------------------------------------------------------------

    def write(self, now: datetime, claims: Sequence[dict[str, Any]] = ()) -> bool:
        """Write what the accepted submissions changed, with ``claims``: the Idempotency-Keys'
        records (columns of ``idempotency_keys``) holding the responses. False when a live
        record holds one of those keys already (nothing written: the caller rolls back and
        replays).

        A concurrent first post of the same author and entry fails here on the unique current
        key (IntegrityError), a concurrent revision with ConcurrentChange: the caller runs the
        unit again, and sees them. On PostgreSQL the key's record and every insert go in one
        statement (data-modifying CTEs, the inserts conditional on the key's)."""
        slots = [s for s in self._slots.values() if s is not None and s.open_revision is not None]
        if not slots:
            return all(idempotency.record(self.session, claim) for claim in claims)
        conn = self.session.connection()
        revised = [s for s in slots if s.stored_revision is not None]
        if revised:
            changed = conn.execute(
                _REVISE,
                [
                    {
                        "t_tenant": self.tenant,
                        "t_id": s.state.id,
                        "t_stored": s.stored_revision,
                        **{f"v_{c}": getattr(s.state, c) for c in _REVISED_COLUMNS},
                    }
                    for s in revised
                ],
            ).rowcount
            if changed != len(revised):
                raise ConcurrentChange()
        if self._close:
            conn.execute(
                update(REVISIONS)
                .where(
                    and_(
                        REVISIONS.c.tenant_id == self.tenant,
                        bulk.among(self.session, REVISIONS.c.feedback_id, self._close),
                        REVISIONS.c.replaced_at.is_(None),
                    )
                )
                .values(replaced_at=now)
            )
        tables: list[tuple[Table, list[dict[str, Any]]]] = [
            (FEEDBACKS, [dict(vars(s.state)) for s in slots if s.stored_revision is None]),
            (REVISIONS, list(self._revisions)),
            (
                OUTBOX,
                [
                    {
                        "event_id": e["id"],
                        "topic": FEEDBACK_TOPIC,
                        "tenant": e["tenant"],
                        "event_type": e["type"],
                        "envelope": e,
                        "created_at": now,
                        "sent_at": None,
                    }
                    for e in self._events
                ],
            ),
        ]
        if conn.dialect.name == "postgresql":
            if not _pg_write(self.session, claims, tables):
                return False
        else:
            if not all(idempotency.record(self.session, claim) for claim in claims):
                return False
            for table, rows in tables:
                if rows:
                    conn.execute(table.insert(), rows)
        self.session.info[STAGED] = True  # the relay is woken when this transaction commits
        self._close.clear()
        self._revisions.clear()
        self._events.clear()
        for s in slots:
            s.stored_revision = s.state.revision
            s.open_revision = None
        return True


def _stored(row: Mapping[Any, Any]) -> _Slot:
    state = FeedbackState.from_row(row)
    return _Slot(state, state.revision)


def _json(rows: list[dict[str, Any]]) -> str:
    return pgsql.json_text(rows)


def _pg_write(
    session: Session,
    claims: Sequence[dict[str, Any]],
    tables: list[tuple[Table, list[dict[str, Any]]]],
) -> bool:
    """One statement: the keys' records (if any), then, only if every one was stored, the rows
    of each table, each table's rows one JSON parameter (json_to_recordset, as
    citela_common.bulk)."""
    shape = tuple((table.name, tuple(rows[0])) for table, rows in tables if rows)
    params: dict[str, Any] = {
        f"rows_{i}": _json(rows) for i, rows in enumerate(rows for _t, rows in tables if rows)
    }
    if claims:
        params["claim"] = _json(list(claims))
        params["n_claims"] = len(claims)
    ok = session.connection().execute(_pg_statement(bool(claims), shape), params).scalar()
    return bool(ok)


_BY_NAME = {t.name: t for t in (FEEDBACKS, REVISIONS, OUTBOX)}


@lru_cache(maxsize=64)
def _pg_statement(claimed: bool, shape: tuple[tuple[str, tuple[str, ...]], ...]) -> TextClause:
    parts: list[str] = []
    if claimed:
        parts.append(f"claim AS ({idempotency.PG_CLAIM})")
        parts.append("go AS (SELECT count(*) = :n_claims AS ok FROM claim)")
    else:
        parts.append("go AS (SELECT true AS ok)")
    for i, (name, keys) in enumerate(shape):
        insert = pgsql.insert_from_json(_BY_NAME[name], keys, f"rows_{i}")
        parts.append(f"w{i} AS ({insert} WHERE (SELECT ok FROM go))")  # noqa: S608
    # Identifiers come from the metadata, values only from bound parameters.
    return text("WITH " + ", ".join(parts) + " SELECT ok FROM go")  # noqa: S608


def retract(session: Session, feedback: Feedback, reason: str, now: datetime) -> None:
    """The feedback stops counting: no longer current, a ``retracted`` event staged."""
    feedback.retracted_at = now
    feedback.retraction_reason = reason
    feedback.current_key = None
    events.stage_retracted(session, feedback, reason, now)
