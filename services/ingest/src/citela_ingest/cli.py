"""``citela ingest …``: run a harvest from the command line, with progress and a summary."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from citela_common.bus import create_bus
from citela_common.settings import Mode, get_settings
from citela_common.tenancy import scope_to_tenant
from citela_ingest import reads
from citela_ingest.harvester import LAST_GOOD_KEPT, RunStatus, RunSummary
from citela_ingest.policy_areas import parse_policy_area
from citela_ingest.runs import SOURCES, RunRefused, run_harvest, set_policy_area
from citela_ingest.service import build_runtime

console = Console(stderr=True)
COLUMNS = ("new", "updated", "unchanged", "skipped", "invalid", "archived")
# exit codes of `citela ingest` (its --help lists them)
EXIT_DONE = 0
EXIT_FAILED = 1  # the run failed as a whole: nothing archived, the reason printed
EXIT_REFUSED = 2  # the run could not start (unknown source or territory, missing file)
EXIT_DONE_WITH_INVALID = 3  # applied, but some records were set aside (citela ingest-invalid)


def ingest(
    source: Annotated[str, typer.Argument(help=f"one of {', '.join(SOURCES)}")],
    territory: Annotated[
        str, typer.Option(help="INSEE code of a commune or département, or SIREN of an EPCI")
    ],
    tenant: Annotated[str, typer.Option(help="tenant (collectivité) code")] = "demo",
    file: Annotated[
        Path | None, typer.Option(help="read this file or folder instead of the source's API")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="compute and report, change nothing")] = False,
    max_items: Annotated[int | None, typer.Option(min=1)] = None,
    grace_days: Annotated[
        float | None,
        typer.Option(
            help="days a record may be missing before it is archived "
            "(default: CITELA_INGEST_GRACE_DAYS)"
        ),
    ] = None,
    accept_shrink: Annotated[
        bool,
        typer.Option(
            "--accept-shrink",
            help="the source really shrank: apply a run that reads no record, keeps none or "
            "fewer than CITELA_INGEST_MIN_SHARE_OF_PREVIOUS of the last complete run "
            "(an unreadable file or a wrong layout still fails)",
        ),
    ] = False,
) -> None:
    """Harvest one source for a tenant's territory; print new/updated/unchanged/invalid/archived.

    Nothing is archived on a doubt: a run fails as a whole when its file cannot be read in
    full (truncated, wrong layout, a size limit passed), when it reads no record, keeps none
    (all invalid or all in another territory) or keeps fewer than
    CITELA_INGEST_MIN_SHARE_OF_PREVIOUS (default 50 %) of the last complete run of the same
    source and territory. The reason is printed and kept with the run.

    Exit codes: 0 done; 1 failed as a whole (nothing archived, reason printed); 2 refused
    before starting (unknown source or territory, no such file); 3 done, but some records were
    set aside as invalid (listed by `citela ingest-invalid RUN_ID`).
    """
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = build_runtime(settings, create_bus(settings))
    runtime.migrate()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} enregistrements"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"{source} · {territory}", total=max_items)

        def progress(summary: RunSummary) -> None:
            bar.update(task, completed=summary.records)

        try:
            summary = run_harvest(
                runtime.db,
                source,
                tenant=tenant,
                territory_code=territory,
                path=file,
                dry_run=dry_run,
                max_items=max_items,
                grace_period=(
                    runtime.context.grace_period
                    if grace_days is None
                    else timedelta(days=grace_days)
                ),
                endpoints=runtime.context.endpoints,
                progress=progress,
                limits=runtime.context.limits,
                min_share=runtime.context.min_share,
                accept_shrink=accept_shrink,
            )
        except RunRefused as exc:
            console.print(f"[red]Refusé :[/red] {exc}")
            raise typer.Exit(EXIT_REFUSED) from None
        bar.update(task, completed=summary.records)
    published = 0
    if settings.mode is Mode.DISTRIBUTED and not dry_run:
        # Embedded: the running platform's relay publishes the outbox on its in-process bus.
        published = runtime.relay.drain()
        runtime.bus.close()
    _print_summary(summary, published, settings.mode)
    if summary.status is RunStatus.FAILED:
        raise typer.Exit(EXIT_FAILED)
    if summary.status is RunStatus.DONE_WITH_ERRORS:
        raise typer.Exit(EXIT_DONE_WITH_INVALID)


def _print_summary(summary: RunSummary, published: int, mode: Mode) -> None:
    table = Table(
        title=f"Collecte {summary.source} — {summary.status.value}"
        + (" (essai à blanc)" if summary.dry_run else "")
    )
    labels = ("nouveaux", "modifiés", "inchangés", "ignorés", "invalides", "archivés")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_row(*(str(summary.counts[c]) for c in COLUMNS))
    console.print(table)
    console.print(
        f"run {summary.run_id} · {summary.seconds:.1f} s"
        + (f" · {published} événements publiés" if mode is Mode.DISTRIBUTED else "")
    )
    if summary.status is RunStatus.FAILED:
        console.print(
            f"[red]Collecte en échec, rien n'est archivé :[/red] {summary.reason or summary.error}",
            highlight=False,
        )
    if summary.counts[LAST_GOOD_KEPT]:
        console.print(
            f"{summary.counts[LAST_GOOD_KEPT]} enregistrements encore publiés par la source mais "
            "invalides gardent leur dernière version valide"
        )
    if summary.counts["invalid"]:
        console.print(
            f"Voir les enregistrements invalides : citela ingest-invalid {summary.run_id}"
            f" --tenant {summary.tenant}"
        )


def ingest_invalid(
    run_id: str,
    tenant: Annotated[str, typer.Option()] = "demo",
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """List the records a run put aside, with their reason."""
    runtime = build_runtime(get_settings(), create_bus(get_settings()))
    with runtime.db.read() as session:
        scope_to_tenant(session, tenant)
        try:
            page = reads.items_page(session, run_id, "invalid", None, limit)
        except reads.UnknownRun:
            console.print(f"[red]Inconnue :[/red] aucune collecte {run_id} pour {tenant}")
            raise typer.Exit(2) from None
    table = Table("remote id", "raison")
    for item in page.items:
        table.add_row(item.remote_id or "—", item.reason or "")
    console.print(table)


def policy_area(
    source_type: str,
    area: str,
    tenant: Annotated[str, typer.Option()] = "demo",
) -> None:
    """Set the tenant's policy area for a source type (e.g. `ccas "Action sociale"`)."""
    label = parse_policy_area(area).value
    runtime = build_runtime(get_settings(), create_bus(get_settings()))
    runtime.migrate()
    set_policy_area(runtime.db, tenant, source_type, label)
    console.print(f"{tenant} : {source_type} → {label}")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("ingest-invalid")(ingest_invalid)
    app.command("policy-area")(policy_area)
