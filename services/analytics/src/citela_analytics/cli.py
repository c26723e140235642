"""``citela analytics …``: rescore comments after a model change, recompute, snapshot."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from citela_analytics import jobs, scoring
from citela_analytics.context import AnalyticsContext
from citela_analytics.scoring import ScoringResult
from citela_analytics.service import build_runtime
from citela_common.bus import create_bus
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Mode, get_settings

console = Console(stderr=True)
analytics_app = typer.Typer(
    help="Synthèse : sentiment des commentaires, matrice importance × satisfaction.",
    no_args_is_help=True,
)

TenantOption = Annotated[
    str | None, typer.Option(help="one tenant (collectivité) code; default: every tenant")
]


def _runtime() -> ServiceRuntime[AnalyticsContext]:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = build_runtime(settings, create_bus(settings))
    runtime.migrate()
    return runtime


@analytics_app.command()
def rescore(
    tenant: TenantOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="comments per batch (default CITELA_ANALYTICS_SCORING_BATCH_SIZE)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="count what would be scored, score nothing")
    ] = False,
) -> None:
    """Score every stored comment that has no score of the current backend and model version.

    After the sentiment model or its configuration changed, this rescores the comments scored
    by the previous one (and any comment not scored yet). Each revision is scored once per
    backend and model version: running it twice scores nothing the second time.
    """
    runtime = _runtime()
    backend = runtime.context.backend.get()
    with runtime.db.transaction() as session:
        stale = scoring.count_stale(session, backend.name, backend.model_version, tenant)
        waiting = scoring.count_pending(session, backend.name, backend.model_version, tenant)
    console.print(
        f"Modèle : [bold]{backend.name}[/bold] {backend.model_version} · "
        f"{waiting} commentaires à analyser, dont {stale} analysés par un autre modèle"
    )
    if dry_run or not waiting:
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]analyse"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} commentaires"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("rescore", total=waiting)

        def progress(result: ScoringResult) -> None:
            bar.update(task, completed=result.scored + result.skipped)

        result = scoring.score_pending(
            runtime.db,
            backend,
            tenant=tenant,
            batch_size=batch_size or runtime.context.settings.analytics_scoring_batch_size,
            on_batch=progress,
        )
    if runtime.settings.mode is Mode.DISTRIBUTED:
        runtime.relay.drain()  # embedded: the platform's own relay publishes them
    typer.echo(
        f"{result.scored} commentaires analysés ({result.skipped} ignorés car modifiés "
        f"entre-temps), {result.batches} lots, modèle {result.backend} {result.model_version}"
    )


@analytics_app.command()
def recompute(tenant: TenantOption = None) -> None:
    """Recompute the matrix sums exactly from the facts and report any drift (0 expected)."""
    runtime = _runtime()
    drifted = 0
    for row in jobs.recompute(runtime, tenant):
        drifted += int(row["drifted_cells"])
        typer.echo(
            f"{row['tenant']}: {row['answers']} réponses, {row['cells']} cellules, "
            f"{row['drifted_cells']} écarts, {row['duration_s']:.3f} s"
        )
    if drifted:
        raise typer.Exit(code=1)


@analytics_app.command()
def snapshot(
    tenant: TenantOption = None,
    week: Annotated[
        str | None, typer.Option(help="any day of the week (YYYY-MM-DD); default: last full week")
    ] = None,
) -> None:
    """Take the weekly matrix snapshot (trends) now."""
    runtime = _runtime()
    for row in jobs.snapshot(runtime, tenant, week):
        typer.echo(f"{row['tenant']}: semaine du {row['week_start']}")


@analytics_app.command()
def reconcile(
    tenant: TenantOption = None,
    repair: Annotated[
        bool,
        typer.Option(
            help="have the feedback service publish again what the matrix lacks, then recompute"
        ),
    ] = False,
    feedback_url: Annotated[
        str | None,
        typer.Option(help="the feedback API (default CITELA_ANALYTICS_FEEDBACK_URL)"),
    ] = None,
    wait_s: Annotated[
        float, typer.Option(min=0, help="--repair: how long to wait for the events to arrive")
    ] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON on stdout")] = False,
) -> None:
    """Compare the matrix with the feedback service's own answer counts, per tenant and entry.

    Exit code 1 while any difference (écart) remains. The feedback service is asked over its
    HTTP API with an operator token from this process' settings (CITELA_SECRET_KEY).
    """
    import json
    from contextlib import contextmanager

    from citela_analytics import reconcile as rec
    from citela_analytics.settings import AnalyticsSettings
    from citela_common.settings import settings_for
    from citela_common.tenancy import scope_to_tenant

    runtime = _runtime()
    own = settings_for(runtime.settings, AnalyticsSettings)
    api = rec.FeedbackApi(feedback_url or own.analytics_feedback_url, runtime.settings)

    @contextmanager
    def scoped(code: str):  # type: ignore[no-untyped-def]
        with runtime.db.transaction() as session:
            scope_to_tenant(session, code)
            yield session

    try:
        tenants = [tenant] if tenant else api.tenants()
        reports = []
        for code in tenants:
            report = rec.compare(api, code, scoped)
            if repair and report.ecarts:
                report = rec.repair(
                    api, report, scoped, lambda t: jobs.recompute(runtime, t), wait_s
                )
            reports.append(report)
    except rec.FeedbackApiError as exc:
        typer.echo(f"Le service des avis n'a pas répondu : {exc}", err=True)
        raise typer.Exit(code=2) from None
    total = sum(len(r.ecarts) for r in reports)
    if as_json:
        out = {"tenants": [r.as_json() for r in reports], "ecarts": total}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for r in reports:
            summary = r.as_json()
            line = (
                f"{r.tenant}: {summary['feedback']} réponses (avis), "
                f"{summary['matrix']} dans la matrice, {len(r.ecarts)} écarts"
            )
            if r.republished:
                line += f", {r.republished} avis republiés"
            typer.echo(line)
            if r.ecarts:
                typer.echo(f"  {'entrée':<60} {'avis':>6} {'matrice':>8}")
                for e in r.ecarts:
                    typer.echo(f"  {e['entry_id']:<60} {e['feedback']:>6} {e['matrix']:>8}")
    if total:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(analytics_app, name="analytics")
