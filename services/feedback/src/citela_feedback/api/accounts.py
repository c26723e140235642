"""Accounts, sign-in and the person's own data: /v1/accounts, /v1/auth/*, /v1/me*."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Response
from fastapi.responses import HTMLResponse

from citela_common.db import utcnow
from citela_common.web import Problem
from citela_feedback import accounts
from citela_feedback.api.deps import Context, CurrentUser, problems
from citela_feedback.metrics import RETRACTED
from citela_feedback.schemas import (
    AccountOut,
    ConfirmedOut,
    ConfirmIn,
    ExportOut,
    FeedbackOut,
    LoginIn,
    RefreshIn,
    RegisterIn,
    ResendIn,
    TokenOut,
)

router = APIRouter(prefix="/v1", tags=["comptes"])


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountOut,
    summary="Create a citizen account; a confirmation link is mailed",
    responses=problems(409, 422),
)
def register(body: RegisterIn, background: BackgroundTasks, ctx: Context) -> AccountOut:
    with ctx.db.transaction() as session:
        account = accounts.create_account(
            session, ctx, body.email, body.password, display_name=body.display_name
        )
        link = accounts.confirmation_link(ctx, account)
        out = accounts.account_out(session, account)
    background.add_task(accounts.send_confirmation, ctx, account.email, link, account.display_name)
    return out


@router.get(
    "/auth/confirm",
    response_class=HTMLResponse,
    summary="Confirm an email address (the link of the mail)",
    responses={
        200: {"content": {"text/html": {}}, "description": "a page saying it is done"},
        **problems(400, 422),
    },
)
def confirm_link(
    token: Annotated[str, Query(min_length=1, max_length=4000)], ctx: Context
) -> HTMLResponse:
    with ctx.db.transaction() as session:
        account = accounts.confirm_email(session, ctx, token)
        email = account.email
    return HTMLResponse(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        "<title>Adresse confirmée — Citéla</title></head><body><main>"
        "<h1>Adresse confirmée</h1>"
        f"<p>Merci : l'adresse {html.escape(email)} est confirmée. Vous pouvez maintenant "
        "donner votre avis sur les services publics de votre territoire.</p>"
        "</main></body></html>"
    )


@router.post(
    "/auth/confirm",
    response_model=ConfirmedOut,
    summary="Confirm an email address (token from the mail)",
    responses=problems(400, 422),
)
def confirm(body: ConfirmIn, ctx: Context) -> ConfirmedOut:
    with ctx.db.transaction() as session:
        account = accounts.confirm_email(session, ctx, body.token)
        return ConfirmedOut(email=account.email)


@router.post(
    "/auth/confirm/resend",
    status_code=202,
    response_class=Response,
    summary="Mail a new confirmation link (answers 202 whether or not the address exists)",
    responses=problems(422),
)
def resend(body: ResendIn, background: BackgroundTasks, ctx: Context) -> Response:
    with ctx.db.transaction() as session:
        account = accounts.unconfirmed(session, body.email)
        if account is not None:
            link = accounts.confirmation_link(ctx, account)
            background.add_task(
                accounts.send_confirmation, ctx, account.email, link, account.display_name
            )
    return Response(status_code=202)


@router.post(
    "/auth/token",
    response_model=TokenOut,
    summary="Sign in with email and password: an access and a refresh token",
    responses=problems(401, 422, 429),
)
def token(body: LoginIn, ctx: Context) -> TokenOut:
    with ctx.db.transaction() as session:
        return accounts.login(session, ctx, body.email, body.password)


@router.post(
    "/auth/refresh",
    response_model=TokenOut,
    summary="Exchange a refresh token (used once) for a new pair",
    responses=problems(401, 422),
)
def refresh(body: RefreshIn, ctx: Context) -> TokenOut:
    with ctx.db.transaction() as session:
        result = accounts.refresh(session, ctx, body.refresh_token)
    if isinstance(result, Problem):
        raise result
    return result


@router.post(
    "/auth/logout",
    status_code=204,
    summary="Revoke a refresh token",
    responses=problems(422),
)
def logout(body: RefreshIn, ctx: Context) -> Response:
    with ctx.db.transaction() as session:
        accounts.logout(session, ctx, body.refresh_token)
    return Response(status_code=204)


@router.get(
    "/me",
    response_model=AccountOut,
    summary="The signed-in person's account",
    responses=problems(401, 403),
)
def me(user: CurrentUser, ctx: Context) -> AccountOut:
    with ctx.db.transaction() as session:
        return accounts.account_out(session, accounts.signed_in(session, user))


@router.get(
    "/me/feedback",
    response_model=list[FeedbackOut],
    summary="The person's current feedback, in every tenant, with their own text",
    responses=problems(401, 403),
)
def my_feedback(user: CurrentUser, ctx: Context) -> list[FeedbackOut]:
    with ctx.db.transaction() as session:
        return accounts.current_feedback(session, user.account_id)


@router.get(
    "/me/export",
    response_model=ExportOut,
    summary="Download all the person's data (JSON)",
    responses=problems(401, 403),
)
def export(user: CurrentUser, ctx: Context) -> Response:
    with ctx.db.transaction() as session:
        data = accounts.export(session, accounts.signed_in(session, user))
    return Response(
        data.model_dump_json(indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="citela-mes-donnees.json"',
            "Cache-Control": "no-store",
        },
    )


@router.delete(
    "/me",
    status_code=204,
    summary="Delete the account: comments retracted everywhere, only anonymous scores kept",
    responses=problems(401, 403),
)
def erase(user: CurrentUser, ctx: Context) -> Response:
    with ctx.db.transaction() as session:
        erasure = accounts.erase(session, ctx, accounts.signed_in(session, user), utcnow())
    if erasure.retracted:
        RETRACTED.labels(reason="account_deleted").inc(erasure.retracted)
    return Response(status_code=204)
