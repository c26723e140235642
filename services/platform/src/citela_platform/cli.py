"""The ``citela`` command line.

It starts in a fraction of a second: this module imports typer and the services' names only.
Each command imports what it needs in its body, and the services' commands are lazy
(``citela_platform.lazy_cli``): ``citela --help`` no longer imports every service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from citela_platform.lazy_cli import Lazy, lazy_group
from citela_platform.services import SERVED, SERVICE_NAMES, WEB, builder

# Seconds a `citela serve --workers N` worker may take to start or answer before it is replaced:
# citela_common.serving's default, which imports uvicorn and FastAPI (a test keeps them equal).
HEALTHCHECK_TIMEOUT_S = 60

_INGEST = "citela_ingest.cli"
_FEEDBACK = "citela_feedback.cli"
# The services' commands: name and first help paragraph, their module imported when one runs.
SERVICE_COMMANDS: dict[str, Lazy] = {
    "ingest": Lazy(
        _INGEST,
        "Harvest one source for a tenant's territory; print "
        "new/updated/unchanged/invalid/archived.",
    ),
    "ingest-invalid": Lazy(_INGEST, "List the records a run put aside, with their reason."),
    "policy-area": Lazy(
        _INGEST, 'Set the tenant\'s policy area for a source type (e.g. `ccas "Action sociale"`).'
    ),
    "tenant-create": Lazy(
        _FEEDBACK, "Create a tenant (collectivité) with its territory and rules."
    ),
    "tenant-list": Lazy(_FEEDBACK, "List the tenants."),
    "staff-add": Lazy(
        _FEEDBACK,
        "Give a person roles in a tenant (creating their confirmed account if needed).",
    ),
    "partner-app-create": Lazy(_FEEDBACK, "Register a partner app for a tenant; prints its id."),
    "api-key-create": Lazy(
        _FEEDBACK, "Issue an API key: printed once on stdout, stored only as a hash."
    ),
    "api-key-revoke": Lazy(_FEEDBACK, "Revoke an API key at once."),
    "analytics": Lazy(
        "citela_analytics.cli",
        "Synthèse : sentiment des commentaires, matrice importance × satisfaction.",
        group=True,
    ),
}
# The commands of `citela events` defined in other modules, loaded the same way.
EVENTS_COMMANDS: dict[str, Lazy] = {
    "dlq": Lazy(
        "citela_platform.events_cli",
        "Dead-letter queues: list, show and replay the events consumers set aside.",
        attribute="dlq_app",
        group=True,
    ),
}

app = typer.Typer(
    cls=lazy_group(SERVICE_COMMANDS),
    help="Citéla: open platform of French local authorities.",
    no_args_is_help=True,
)
events_app = typer.Typer(
    cls=lazy_group(EVENTS_COMMANDS), help="The event contract.", no_args_is_help=True
)
app.add_typer(events_app, name="events")

ServiceName = Annotated[str, typer.Argument(help=f"one of {', '.join(SERVICE_NAMES)}")]


def _check_service(name: str) -> None:
    if name not in SERVICE_NAMES:
        raise typer.BadParameter(
            f"unknown service {name!r}; choose one of {', '.join(SERVICE_NAMES)}"
        )


def _logging() -> None:
    from citela_common.logging import configure_logging
    from citela_common.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="interface (default CITELA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default CITELA_PORT)")] = None,
) -> None:
    """Run the whole platform in one process (embedded mode unless Kafka is configured)."""
    import uvicorn

    from citela_common.settings import get_settings
    from citela_platform.embedded import create_embedded_app

    _logging()
    settings = get_settings()
    application = create_embedded_app(settings)
    host, port = host or settings.host, port or settings.port
    typer.echo(f"Citéla ({settings.mode.value}) sur http://{host}:{port}/", err=True)
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="interface (default CITELA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default CITELA_PORT)")] = None,
    reset: Annotated[
        bool, typer.Option(help="start again from an empty embedded database (deletes it)")
    ] = False,
    serve: Annotated[
        bool, typer.Option(help="serve the platform once the demo is in place")
    ] = True,
    feedbacks: Annotated[int, typer.Option(min=1, help="generated feedbacks")] = 2800,
) -> None:
    """Put the demo in place (a real territory, generated feedback) and run the platform."""
    import time

    import uvicorn

    from citela_common.logging import configure_logging
    from citela_common.settings import get_settings
    from citela_platform import demo as demo_module
    from citela_platform.embedded import create_embedded_app

    settings = get_settings()
    # Seeding logs an event per generated answer: only errors while it runs.
    configure_logging("ERROR", settings.log_json)
    if reset:
        if settings.database_url:
            raise typer.BadParameter(
                "--reset ne vide que la base SQLite du mode intégré, pas CITELA_DATABASE_URL"
            )
        # The services' files and the embedded bus's log (its offsets name their events).
        for pattern in ("citela*.db*", "bus.db*"):
            for path in settings.data_dir.glob(pattern):
                path.unlink()
    typer.echo("Préparation de la démonstration (données ouvertes, avis générés)…", err=True)
    started = time.monotonic()
    try:
        summary = demo_module.seed_demo(settings, feedbacks=feedbacks)
    except (demo_module.DemoError, ValueError) as exc:
        typer.echo(f"La démonstration n'a pas pu être préparée : {exc}", err=True)
        raise typer.Exit(1) from None
    host, port = host or settings.host, port or settings.port
    typer.echo(demo_module.describe(summary, host, port, time.monotonic() - started, serving=serve))
    if serve:
        configure_logging(settings.log_level, settings.log_json)
        application = create_embedded_app(settings)
        uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"one of {', '.join(SERVED)}")],
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    healthcheck_timeout: Annotated[
        int,
        typer.Option(
            min=1,
            help="seconds a worker may take to start or answer the supervisor before it is "
            "replaced (--workers above 1)",
        ),
    ] = HEALTHCHECK_TIMEOUT_S,
) -> None:
    """Serve one service's API, with its outbox relay and consumers, or the web (distributed)."""
    from citela_common.bus import create_bus
    from citela_common.settings import get_settings
    from citela_platform.serving import exec_serve
    from citela_platform.serving import serve as serve_app

    if service not in SERVED:
        raise typer.BadParameter(f"unknown service {service!r}; choose one of {', '.join(SERVED)}")
    _logging()
    settings = get_settings()
    if service != WEB and workers > 1 and not settings.kafka_bootstrap:
        # Without Kafka the bus is the embedded one, a file a single process owns.
        raise typer.BadParameter(
            "plusieurs workers demandent Kafka (CITELA_KAFKA_BOOTSTRAP) : sans lui, le bus "
            "intégré n'appartient qu'à un processus ; servez avec --workers 1",
            param_hint="--workers",
        )
    if service != WEB:  # the web owns no tables
        # Migrate once here: worker processes starting together would race on the schema.
        runtime = builder(service)(settings, create_bus(settings))
        runtime.migrate()
        runtime.db.dispose()
    host, port = host or settings.host, port or settings.port
    if workers > 1:
        # The supervisor runs from a light main module: see citela_platform.serving.
        exec_serve(service, host, port, workers, healthcheck_timeout)
    serve_app(service, host, port, workers, healthcheck_timeout)


@app.command()
def worker(service: ServiceName) -> None:
    """Run one service's outbox relay and consumers without HTTP (scale them separately)."""
    import signal
    import threading

    from citela_common.bus import create_bus
    from citela_common.settings import get_settings

    _check_service(service)
    _logging()
    settings = get_settings()
    runtime = builder(service)(settings, create_bus(settings))
    runtime.migrate()
    runtime.start_background()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    runtime.stop_background()
    runtime.bus.close()


@app.command()
def migrate(
    services: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
) -> None:
    """Create or upgrade the services' database schemas."""
    from citela_common.bus import create_bus
    from citela_common.settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bus = create_bus(settings)
    names = services or list(SERVICE_NAMES)
    for name in names:
        _check_service(name)
    for name in names:
        builder(name)(settings, bus).migrate()
        typer.echo(f"{name}: à jour")


@events_app.command("export-schemas")
def export_schemas_cmd(
    folder: Annotated[Path, typer.Argument(help="where to write the JSON Schema files")],
) -> None:
    """Write the JSON Schema of every event type (for partner developers)."""
    from citela_common.events.schemas import export_schemas

    for path in export_schemas(folder):
        typer.echo(str(path))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
