"""``citela tenant-create | tenant-list | staff-add | partner-app-create | api-key-create |
api-key-revoke``: what a platform operator does from a shell."""

# No `from __future__ import annotations`: typer reads the signatures at run time.

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from citela_common.auth import PARTNER_SCOPES, Role
from citela_common.bus import create_bus
from citela_common.db import utcnow
from citela_common.runtime import ServiceRuntime
from citela_common.settings import get_settings
from citela_common.tenancy import scope_to_tenant
from citela_common.web import Problem
from citela_feedback import accounts, partners, tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.domain.rules import ModerationMode, TenantRules
from citela_feedback.models import Account, ApiKey, PartnerApp, Tenant
from citela_feedback.service import build_runtime

console = Console(stderr=True)
out = Console()


def _runtime() -> ServiceRuntime[FeedbackContext]:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = build_runtime(settings, create_bus(settings))
    runtime.migrate()
    return runtime


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]Refusé :[/red] {message}")
    return typer.Exit(2)


def tenant_create(
    code: Annotated[str, typer.Argument(help="tenant code, e.g. agglo-pau")],
    name: Annotated[str, typer.Option(help="name of the collectivité")],
    siren: Annotated[str, typer.Option(help="SIREN (9 digits)")],
    territory: Annotated[
        list[str], typer.Option(help="territory code it covers (repeat the option)")
    ],
    comment_required: Annotated[bool, typer.Option(help="a feedback needs a comment")] = False,
    moderation: Annotated[
        ModerationMode, typer.Option(help="post: held when suspicious; pre: all wait")
    ] = ModerationMode.POST,
) -> None:
    """Create a tenant (collectivité) with its territory and rules."""
    from citela_feedback.schemas import TenantIn

    try:
        spec = TenantIn(
            code=code,
            name=name,
            siren=siren,
            territory_codes=territory,
            rules=TenantRules(comment_required=comment_required, moderation_mode=moderation),
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    runtime = _runtime()
    try:
        with runtime.db.transaction() as session:
            scope_to_tenant(session, code)
            tenants.create(
                session,
                code=spec.code,
                name=spec.name,
                siren=spec.siren,
                territory_codes=spec.territory_codes,
                rules=spec.rules,
            )
    except Problem as exc:
        raise _fail(exc.detail) from None
    console.print(f"Collectivité [bold]{code}[/bold] créée : {name} ({', '.join(territory)})")


def tenant_list() -> None:
    """List the tenants."""
    runtime = _runtime()
    table = Table("code", "nom", "SIREN", "territoire")
    with runtime.db.transaction() as session:
        for t in session.scalars(select(Tenant).order_by(Tenant.tenant_id)):
            table.add_row(t.tenant_id, t.name, t.siren, ", ".join(t.territory_codes))
    out.print(table)


def staff_add(
    email: Annotated[str, typer.Argument(help="the person's email address")],
    tenant: Annotated[str | None, typer.Option(help="tenant where the roles apply")] = None,
    role: Annotated[list[Role] | None, typer.Option(help="admin, analyst or moderator")] = None,
    operator: Annotated[bool, typer.Option(help="make them a platform operator")] = False,
    password: Annotated[
        str | None,
        typer.Option(help="password of a new account (asked when missing)", hide_input=True),
    ] = None,
) -> None:
    """Give a person roles in a tenant (creating their confirmed account if needed)."""
    if not operator and not (tenant and role):
        raise _fail("give --tenant and at least one --role, or --operator")
    runtime = _runtime()
    ctx = runtime.context
    with runtime.db.transaction() as session:
        account = session.scalar(
            select(Account).where(Account.email == accounts.normalise_email(email))
        )
        if account is None:
            secret = password or typer.prompt(
                "Mot de passe du nouveau compte", hide_input=True, confirmation_prompt=True
            )
            if len(secret) < 10:
                raise _fail("the password needs 10 characters or more")
            account = accounts.create_account(session, ctx, email, secret, confirmed=True)
            console.print(f"Compte créé pour {account.email}")
        if operator:
            account.operator = True
        if tenant and role:
            scope_to_tenant(session, tenant)
            if session.get(Tenant, tenant) is None:
                raise _fail(f"no tenant {tenant!r}")
            existing = accounts.roles_of(session, account.id).get(tenant, set())
            tenants.set_roles(session, tenant, account, existing | set(role))
            console.print(f"{account.email} : {', '.join(sorted(existing | set(role)))} à {tenant}")
    if operator:
        console.print(f"{email} est opérateur de la plateforme")


def partner_app_create(
    name: Annotated[str, typer.Argument(help="name of the partner app")],
    tenant: Annotated[str, typer.Option(help="tenant that registers it")],
    rate_limit: Annotated[int | None, typer.Option(help="requests per minute per key")] = None,
) -> None:
    """Register a partner app for a tenant; prints its id."""
    runtime = _runtime()
    with runtime.db.transaction() as session:
        tenants_row = session.get(Tenant, tenant)
        if tenants_row is None:
            raise _fail(f"no tenant {tenant!r}")
        scope_to_tenant(session, tenant)
        app = partners.create_app(
            session, tenant=tenant, name=name, rate_limit_per_minute=rate_limit
        )
    out.print(app.id)


def api_key_create(
    app: Annotated[str, typer.Option(help="partner app id (or its exact name)")],
    tenant: Annotated[str, typer.Option(help="tenant of the app")],
    scope: Annotated[list[str], typer.Option(help="feedback:write and/or feedback:read")],
    for_tenant: Annotated[
        list[str] | None, typer.Option(help="tenants the key acts for (default: --tenant)")
    ] = None,
    label: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Issue an API key: printed once on stdout, stored only as a hash."""
    bad = sorted(set(scope) - {s.value for s in PARTNER_SCOPES})
    if bad:
        raise _fail(f"unknown scopes {bad}; use {sorted(s.value for s in PARTNER_SCOPES)}")
    runtime = _runtime()
    with runtime.db.transaction() as session:
        wanted = sorted(set(for_tenant or [tenant]))
        missing = [t for t in wanted if session.get(Tenant, t) is None]
        if missing:
            raise _fail(f"no tenant {', '.join(missing)}")
        scope_to_tenant(session, tenant)
        row = session.scalar(
            select(PartnerApp).where((PartnerApp.id == app) | (PartnerApp.name == app))
        )
        if row is None:
            raise _fail(f"no partner app {app!r} in {tenant}")
        created = partners.create_key(session, row, scopes=scope, tenants=wanted, label=label)
    console.print(
        f"Clé {created.prefix} pour {row.name} ({', '.join(created.scopes)} ; "
        f"{', '.join(created.tenants)}) — elle ne sera plus jamais affichée :"
    )
    out.print(created.key)


def api_key_revoke(prefix: Annotated[str, typer.Argument(help="the key's prefix")]) -> None:
    """Revoke an API key at once."""
    runtime = _runtime()
    with runtime.db.transaction() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if key is None:
            raise _fail(f"no key with prefix {prefix!r}")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
    console.print(f"Clé {prefix} révoquée")


def register(app: typer.Typer) -> None:
    app.command("tenant-create")(tenant_create)
    app.command("tenant-list")(tenant_list)
    app.command("staff-add")(staff_add)
    app.command("partner-app-create")(partner_app_create)
    app.command("api-key-create")(api_key_create)
    app.command("api-key-revoke")(api_key_revoke)
