"""People's accounts: registration, email confirmation, sign-in, tokens, roles in tenants,
export and erasure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citela_common.auth import InvalidToken, Role, TokenType, UserPrincipal
from citela_common.db import utcnow
from citela_common.web import Problem, field_error
from citela_feedback import events, tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.domain.moderation import ModerationStatus
from citela_feedback.ids import new_id
from citela_feedback.intake import retract
from citela_feedback.mailer import confirmation_mail
from citela_feedback.metrics import MAILS, RATE_LIMITED
from citela_feedback.models import (
    Account,
    Feedback,
    FeedbackRevision,
    IdempotencyRecord,
    RefreshToken,
    StaffRole,
)
from citela_feedback.schemas import (
    AccountOut,
    ExportedFeedback,
    ExportOut,
    FeedbackOut,
    RevisionOut,
    StaffOut,
    TokenOut,
)
from citela_feedback.views import Reader, feedback_out

ANONYMOUS = "anonymous"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def roles_of(session: Session, account_id: str) -> dict[str, set[Role]]:
    roles: dict[str, set[Role]] = defaultdict(set)
    for row in session.scalars(select(StaffRole).where(StaffRole.account_id == account_id)):
        roles[row.tenant_id].add(Role(row.role))
    return dict(roles)


def assign_staff(session: Session, tenant: str, email: str, roles: Iterable[Role]) -> StaffOut:
    """Give the account registered under ``email`` these roles in the tenant (replacing its
    roles there); 422 when no account uses the address."""
    account = session.scalar(select(Account).where(Account.email == normalise_email(email)))
    if account is None:
        raise Problem(
            422,
            "No account uses this email address; the person must register first.",
            slug="validation",
            errors=[field_error("body.email", "no account with this address", "unknown")],
        )
    wanted = sorted(set(roles))
    tenants.set_roles(session, tenant, account, wanted)
    return StaffOut(account_id=account.id, email=account.email, roles=wanted)


def signed_in(session: Session, principal: UserPrincipal) -> Account:
    """The account of a signed-in person (401 once it is deleted)."""
    account = session.get(Account, principal.account_id)
    if account is None:
        raise Problem(401, "This account no longer exists.", slug="unauthenticated")
    return account


def unconfirmed(session: Session, email: str) -> Account | None:
    """The account under ``email`` while its address is not confirmed yet."""
    account = session.scalar(select(Account).where(Account.email == normalise_email(email)))
    return account if account is not None and account.email_confirmed_at is None else None


def current_feedback(session: Session, account_id: str) -> list[FeedbackOut]:
    """The person's current feedback in every tenant, newest first, with their own text."""
    rows = session.scalars(
        select(Feedback)
        .where(Feedback.account_id == account_id, Feedback.retracted_at.is_(None))
        .order_by(Feedback.created_at.desc(), Feedback.id)
    ).all()
    return [feedback_out(f, Reader.AUTHOR) for f in rows]


def account_out(session: Session, account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        email=account.email,
        display_name=account.display_name,
        email_confirmed=account.email_confirmed_at is not None,
        operator=account.operator,
        roles={t: sorted(r) for t, r in roles_of(session, account.id).items()},
        created_at=account.created_at,
    )


def _email_taken() -> Problem:
    """The refusal of an address already registered (checked first, then by the unique key)."""
    return Problem(
        409,
        "An account already uses this email address.",
        slug="email-taken",
        title="Adresse électronique déjà utilisée",
        errors=[field_error("body.email", "already registered; sign in instead", "taken")],
    )


def create_account(
    session: Session,
    ctx: FeedbackContext,
    email: str,
    password: str,
    *,
    display_name: str | None = None,
    confirmed: bool = False,
    operator: bool = False,
) -> Account:
    email = normalise_email(email)
    if session.scalar(select(Account.id).where(Account.email == email)) is not None:
        raise _email_taken()
    account = Account(
        id=new_id(),
        email=email,
        password_hash=ctx.passwords.hash(password),
        display_name=display_name,
        email_confirmed_at=utcnow() if confirmed else None,
        operator=operator,
        created_at=utcnow(),
    )
    session.add(account)
    try:
        session.flush()
    except IntegrityError:
        raise _email_taken() from None
    return account


def confirmation_link(ctx: FeedbackContext, account: Account) -> str:
    token = ctx.tokens.issue(
        account.id,
        TokenType.EMAIL_CONFIRMATION,
        ctx.tokens.confirmation_ttl,
        email=account.email,
    ).token
    # The portal's page confirms through this API and offers a new link when it expired.
    return f"{ctx.settings.portal_public_url.rstrip('/')}/compte/confirmation?token={token}"


def send_confirmation(ctx: FeedbackContext, email: str, link: str, name: str | None) -> None:
    """Runs after the response (background task): a mail server hiccup never loses an account;
    the person asks for a new link."""
    try:
        ctx.mailer.send(confirmation_mail(email, link, name))
        MAILS.labels(kind="confirmation", outcome="sent").inc()
    except Exception as exc:  # any delivery failure is logged and counted, never raised
        from citela_common.logging import get_logger

        MAILS.labels(kind="confirmation", outcome="failed").inc()
        get_logger(__name__).warning("mail.failed", kind="confirmation", error=repr(exc))


def confirm_email(session: Session, ctx: FeedbackContext, token: str) -> Account:
    try:
        claims = ctx.tokens.decode(token, TokenType.EMAIL_CONFIRMATION)
    except InvalidToken as exc:
        raise Problem(
            400,
            f"The confirmation link is not valid: {exc}. Ask for a new one.",
            slug="invalid-confirmation",
            title="Lien de confirmation invalide ou expiré",
            errors=[field_error("token", str(exc), "invalid")],
        ) from None
    account = session.get(Account, str(claims["sub"]))
    if account is None or account.email != claims.get("email"):
        raise Problem(
            400,
            "The confirmation link is for an account or address that no longer exists.",
            slug="invalid-confirmation",
            title="Lien de confirmation invalide ou expiré",
            errors=[field_error("token", "unknown account or changed address", "stale")],
        )
    if account.email_confirmed_at is None:
        account.email_confirmed_at = utcnow()
    return account


# --- sign-in -------------------------------------------------------------------------------


def _bad_credentials() -> Problem:
    return Problem(
        401,
        "Unknown email address or wrong password.",
        slug="invalid-credentials",
        title="Identifiants incorrects",
        headers={"WWW-Authenticate": 'Bearer realm="citela"'},
    )


def login(session: Session, ctx: FeedbackContext, email: str, password: str) -> TokenOut:
    email = normalise_email(email)
    decision = ctx.limiter.hit(f"login:{email}", ctx.settings.login_rate_limit_per_minute)
    if not decision.allowed:
        RATE_LIMITED.labels(scope="login").inc()
        raise Problem(
            429,
            "Too many sign-in attempts for this address; wait before trying again.",
            slug="rate-limited",
            headers={"Retry-After": str(decision.retry_after_s)},
            retry_after_s=decision.retry_after_s,
        )
    account = session.scalar(select(Account).where(Account.email == email))
    if not ctx.passwords.verify(account.password_hash if account else None, password):
        raise _bad_credentials()
    assert account is not None
    if ctx.passwords.needs_rehash(account.password_hash):
        account.password_hash = ctx.passwords.hash(password)
    return issue_tokens(session, ctx, account)


def issue_tokens(session: Session, ctx: FeedbackContext, account: Account) -> TokenOut:
    access = ctx.tokens.issue_access(
        account.id, roles_of(session, account.id), operator=account.operator
    )
    refresh = ctx.tokens.issue_refresh(account.id)
    session.add(
        RefreshToken(
            jti=refresh.jti,
            account_id=account.id,
            expires_at=refresh.expires_at,
            created_at=utcnow(),
        )
    )
    return TokenOut(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=int(ctx.tokens.access_ttl.total_seconds()),
    )


def _refused_refresh(reason: str) -> Problem:
    return Problem(
        401,
        f"The refresh token is refused: {reason}.",
        slug="invalid-refresh-token",
        title="Session expirée",
        headers={"WWW-Authenticate": 'Bearer realm="citela"'},
    )


def refresh(session: Session, ctx: FeedbackContext, token: str) -> TokenOut | Problem:
    """Rotate: the refresh token is used up and a new pair issued (with fresh roles).

    A used-up token presented again means someone replays it: every session of the account
    ends, and the refusal is *returned* so that the caller commits the revocation first.
    """
    try:
        claims = ctx.tokens.decode(token, TokenType.REFRESH)
    except InvalidToken as exc:
        raise _refused_refresh(str(exc)) from None
    row = session.get(RefreshToken, str(claims["jti"]), with_for_update=True)
    if row is None:
        raise _refused_refresh("it is unknown")
    if row.revoked_at is not None:
        revoke_all(session, row.account_id)
        return _refused_refresh("it was already used or revoked")
    account = session.get(Account, row.account_id)
    if account is None:
        raise _refused_refresh("the account no longer exists")
    row.revoked_at = utcnow()
    return issue_tokens(session, ctx, account)


def logout(session: Session, ctx: FeedbackContext, token: str) -> None:
    try:
        claims = ctx.tokens.decode(token, TokenType.REFRESH)
    except InvalidToken:
        return
    row = session.get(RefreshToken, str(claims["jti"]))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def revoke_all(session: Session, account_id: str) -> None:
    now = utcnow()
    for row in session.scalars(
        select(RefreshToken).where(
            RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None)
        )
    ):
        row.revoked_at = now


# --- personal data ---------------------------------------------------------------------------


def export(session: Session, account: Account) -> ExportOut:
    """Everything the service holds about the person, their original comments included."""
    feedbacks = session.scalars(
        select(Feedback)
        .where(Feedback.account_id == account.id)
        .order_by(Feedback.tenant_id, Feedback.created_at, Feedback.id)
    ).all()
    history: dict[str, list[RevisionOut]] = defaultdict(list)
    if feedbacks:
        for rev in session.scalars(
            select(FeedbackRevision)
            .where(FeedbackRevision.feedback_id.in_([f.id for f in feedbacks]))
            .order_by(FeedbackRevision.revision)
        ):
            history[rev.feedback_id].append(
                RevisionOut(
                    revision=rev.revision,
                    satisfaction=rev.satisfaction,
                    importance=rev.importance,
                    comment=rev.comment,
                    channel=rev.channel,
                    submitted_at=rev.submitted_at,
                    received_at=rev.received_at,
                    replaced_at=rev.replaced_at,
                )
            )
    return ExportOut(
        exported_at=utcnow(),
        account=account_out(session, account),
        feedback=[
            ExportedFeedback(
                tenant=f.tenant_id,
                id=f.id,
                entry_id=f.entry_id,
                satisfaction=f.satisfaction,
                importance=f.importance,
                comment=f.comment,
                comment_status=f.moderation_status,
                channel=f.channel,
                created_at=f.created_at,
                updated_at=f.updated_at,
                retracted_at=f.retracted_at,
                history=history[f.id],
            )
            for f in feedbacks
        ],
    )


@dataclass(frozen=True)
class Erasure:
    retracted: int
    anonymous_scores_kept: int


def erase(session: Session, ctx: FeedbackContext, account: Account, now: datetime) -> Erasure:
    """Delete the account and its personal data, in every tenant, in one transaction.

    Downstream, each current feedback is retracted (``account_deleted``): its comment and its
    pseudonymous author disappear from every consumer. Its scores survive as a new anonymous
    feedback (new id, no author, no comment, original date), published as ``submitted``, so
    the authority's statistics keep them while nothing links them to the person any more.
    """
    retracted = kept = 0
    feedbacks = session.scalars(select(Feedback).where(Feedback.account_id == account.id)).all()
    for fb in feedbacks:
        if fb.retracted_at is None:
            retract(session, fb, "account_deleted", now)
            retracted += 1
            anonymous = Feedback(
                id=new_id(),
                tenant_id=fb.tenant_id,
                entry_id=fb.entry_id,
                author_kind=ANONYMOUS,
                author_key=f"{ANONYMOUS}:{new_id()}",
                current_key=None,
                channel=fb.channel,
                satisfaction=fb.satisfaction,
                importance=fb.importance,
                comment=None,
                comment_redacted=None,
                revision=1,
                moderation_status=ModerationStatus.NONE.value,
                moderation_flags=[],
                submitted_at=fb.submitted_at,
                created_at=fb.created_at,
                updated_at=fb.updated_at,
            )
            session.add(anonymous)
            session.flush()
            events.stage_current(session, anonymous, ctx.secret, first=True)
            kept += 1
        session.execute(delete(FeedbackRevision).where(FeedbackRevision.feedback_id == fb.id))
        session.delete(fb)
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.account_id == account.id))
    session.execute(delete(StaffRole).where(StaffRole.account_id == account.id))
    session.execute(delete(RefreshToken).where(RefreshToken.account_id == account.id))
    session.delete(account)
    return Erasure(retracted, kept)
