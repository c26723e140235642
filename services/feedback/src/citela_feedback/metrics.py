"""Prometheus metrics of the feedback service (``citela_feedback_*``).

The outbox backlog and the age of its oldest event are the shared
``citela_outbox_backlog_events{service="feedback"}`` and
``citela_outbox_oldest_event_age_seconds{service="feedback"}``.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACCEPTED = Counter(
    "citela_feedback_accepted_total",
    "Feedback accepted, by channel (portal, partner) and outcome (submitted, revised).",
    ["channel", "outcome"],
)
REJECTED = Counter(
    "citela_feedback_rejected_total",
    "Feedback rejected, by channel and reason (unknown_entry, outside_territory, comment…).",
    ["channel", "reason"],
)
RETRACTED = Counter(
    "citela_feedback_retracted_total",
    "Feedback retracted, by reason (author, account_deleted, moderation).",
    ["reason"],
)
GROUP_COMMIT_SIZE = Histogram(
    "citela_feedback_group_commit_size",
    "Single feedback POSTs written together in one group (one transaction per tenant).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
IDEMPOTENT_REPLAYS = Counter(
    "citela_feedback_idempotent_replays_total",
    "Requests answered with the stored first response of their Idempotency-Key, by channel.",
    ["channel"],
)
RATE_LIMITED = Counter(
    "citela_feedback_rate_limited_requests_total",
    "Requests refused with 429, by what was limited (api_key, login).",
    ["scope"],
)
RATE_LIMIT_FALLBACK = Counter(
    "citela_feedback_rate_limit_fallback_total",
    "Rate-limit decisions taken in process because Redis did not answer (failing open).",
)
MODERATION_ACTIONS = Counter(
    "citela_feedback_moderation_actions_total",
    "Moderation decisions, by action (approve, hide, retract) and who took them.",
    ["action", "by"],
)
SCREENING_FLAGS = Counter(
    "citela_feedback_screening_flags_total",
    "Comments held by the automatic pre-screening, by reason (insult, spam).",
    ["reason"],
)
MAILS = Counter(
    "citela_feedback_mails_total",
    "Mails sent, by kind and outcome (sent, failed).",
    ["kind", "outcome"],
)
