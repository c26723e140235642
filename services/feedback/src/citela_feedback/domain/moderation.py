"""Moderation states of a comment and the decisions that move between them."""

from __future__ import annotations

from enum import StrEnum

from citela_feedback.domain.rules import ModerationMode
from citela_feedback.domain.screening import Screening


class ModerationStatus(StrEnum):
    NONE = "none"  # no comment
    VISIBLE = "visible"  # published (redacted)
    PENDING = "pending"  # waits for a moderator; its text does not leave the service
    HIDDEN = "hidden"  # a moderator hid it; scores still count, text never leaves


class ModerationAction(StrEnum):
    APPROVE = "approve"
    HIDE = "hide"
    RETRACT = "retract"


def initial_status(
    comment: str | None, mode: ModerationMode, screening: Screening
) -> ModerationStatus:
    """Where a new or replaced comment starts."""
    if not comment:
        return ModerationStatus.NONE
    if mode is ModerationMode.PRE or screening.held:
        return ModerationStatus.PENDING
    return ModerationStatus.VISIBLE


def after(action: ModerationAction, status: ModerationStatus) -> ModerationStatus | None:
    """The status a decision leads to, or None when it does not apply (no comment)."""
    if status is ModerationStatus.NONE and action is not ModerationAction.RETRACT:
        return None
    if action is ModerationAction.APPROVE:
        return ModerationStatus.VISIBLE
    if action is ModerationAction.HIDE:
        return ModerationStatus.HIDDEN
    return status
