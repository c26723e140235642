"""``citela events dlq list|show|replay``: the dead-letter queues, for the person on duty.

The commands run with the process' settings and credentials, like every ``citela`` command:
whoever can run them can read the bus (see the runbook in docs/reliability.md). The work is
in ``citela_common.dlq``; this module only parses, prints and asks. It imports typer alone at
load: the rest when a command runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from citela_common.bus import EventBus
    from citela_common.dlq import DeadLetter, Selection

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000  # citela_common.dlq.MAX_LIMIT (not imported here: the help stays light)

dlq_app = typer.Typer(no_args_is_help=True)


@dlq_app.callback()
def dlq() -> None:
    """Dead-letter queues: list, show and replay the events consumers set aside."""


TopicOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--topic",
        help="topic (citela.feedback…) or its DLQ (citela.feedback.dlq); repeatable; default: all",
    ),
]
TenantOpt = Annotated[str | None, typer.Option(help="only this tenant's events")]
SinceOpt = Annotated[
    str | None,
    typer.Option(help="dead-lettered at or after: ISO date/time (UTC) or a time ago (2h, 7d)"),
]
UntilOpt = Annotated[str | None, typer.Option(help="dead-lettered before (same forms)")]
LimitOpt = Annotated[
    int, typer.Option(min=1, max=MAX_LIMIT, help=f"at most this many records (≤ {MAX_LIMIT})")
]


def _moment(text: str | None, option: str) -> datetime | None:
    from citela_common.dlq import parse_moment

    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def _selection(
    topics: list[str] | None,
    tenant: str | None,
    since: str | None,
    until: str | None,
    *,
    refs: list[str] | None = None,
    include_replayed: bool = False,
) -> Selection:
    from citela_common.dlq import TOPICS, Selection

    for topic in topics or []:
        if topic.removesuffix(".dlq") not in TOPICS:  # read all the same (a test's, an old one)
            typer.echo(
                f"Attention : {topic!r} n'est pas un topic de la plateforme ({', '.join(TOPICS)}).",
                err=True,
            )
    return Selection(
        topics=tuple(topics or ()),
        tenant=tenant,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        refs=tuple(refs or ()),
        include_replayed=include_replayed,
    )


@contextmanager
def _bus() -> Iterator[EventBus]:
    from citela_common.bus import BusLockedError, create_bus
    from citela_common.logging import configure_logging
    from citela_common.settings import get_settings

    settings = get_settings()
    # On stderr, warnings and up: stdout is the listing (or the JSON a script reads).
    configure_logging("WARNING", settings.log_json)
    bus = create_bus(settings)
    try:
        yield bus
    except BusLockedError as exc:
        typer.echo(
            f"{exc}.\nLe mode intégré n'ouvre son bus qu'à un processus : arrêtez `citela run` "
            "le temps de la commande (rien n'est perdu, il reprend où il en était).",
            err=True,
        )
        raise typer.Exit(2) from None
    finally:
        bus.close()


def _when(letter: DeadLetter) -> str:
    moment = letter.dead_lettered_at
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "?"


def _cut(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _columns() -> list[tuple[str, Callable[[DeadLetter], str]]]:
    return [
        ("date (UTC)", _when),
        ("topic", lambda d: d.topic),
        ("part:offset", lambda d: f"{d.partition}:{d.offset}"),
        ("collectivité", lambda d: d.tenant or "?"),
        ("type", lambda d: (d.event_type or "(illisible)").removeprefix("fr.citela.")),
        ("id", lambda d: d.ref),
        ("erreur", lambda d: _cut(d.error or d.error_type, 60)),
        ("essais", lambda d: "?" if d.attempts is None else str(d.attempts)),
        ("groupe", lambda d: d.group or "?"),
        ("rejoué", lambda d: "oui" if d.replayed else ""),
    ]


def _table(letters: list[DeadLetter]) -> str:
    columns = _columns()
    rows = [[cell(letter) for _, cell in columns] for letter in letters]
    widths = [
        max([len(name), *(len(row[i]) for row in rows)]) for i, (name, _) in enumerate(columns)
    ]
    lines = [[name for name, _ in columns], *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@dlq_app.command("list")
def list_cmd(
    topic: TopicOpt = None,
    tenant: TenantOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    include_replayed: Annotated[
        bool, typer.Option("--all", help="also the records already replayed")
    ] = False,
    limit: LimitOpt = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON list on stdout")] = False,
) -> None:
    """List dead-lettered records, oldest first, with their error and consumer group.

    Columns: time, original topic and partition:offset, tenant, event type, id, error,
    attempts, consumer group, replayed. Records already replayed are left out (--all)."""
    from citela_common.dlq import read

    selection = _selection(topic, tenant, since, until, include_replayed=include_replayed)
    with _bus() as bus:
        letters = read(bus, selection).select(selection)
    shown = letters[:limit]
    if as_json:
        _json([letter.summary() for letter in shown])
        return
    if not letters:
        typer.echo("Aucune lettre morte." if not include_replayed else "DLQ vides.")
        return
    typer.echo(_table(shown))
    more = len(letters) - len(shown)
    typer.echo(
        f"\n{len(letters)} lettre(s) morte(s)"
        + (f", {len(shown)} affichée(s) (--limit ; {more} de plus)" if more else "")
        + ". Détail : `citela events dlq show <id>` ; rejouer : `citela events dlq replay`.",
        err=True,
    )


@dlq_app.command("show")
def show_cmd(
    ref: Annotated[
        str, typer.Argument(help="event id, or address <dlq topic>:<partition>:<offset>")
    ],
    topic: TopicOpt = None,
) -> None:
    """Print one dead-lettered record: its headers and its data, as JSON."""
    from citela_common.dlq import read

    selection = _selection(topic, None, None, None, refs=[ref])
    with _bus() as bus:
        letters = read(bus, selection).select(selection)
    if not letters:
        typer.echo(f"Aucune lettre morte {ref!r}.", err=True)
        raise typer.Exit(1)
    _json([letter.details() for letter in letters] if len(letters) > 1 else letters[0].details())


@dlq_app.command("replay")
def replay_cmd(
    refs: Annotated[
        list[str] | None,
        typer.Argument(help="event ids or addresses; none: every record the filters select"),
    ] = None,
    topic: TopicOpt = None,
    tenant: TenantOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = DEFAULT_LIMIT,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what, publish nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Publish dead-lettered events again to their original topic, without the DLQ headers.

    Consumers that already applied an event skip it (their processed-event marks): a replay
    can be repeated safely. Without ids, the records not replayed yet that the filters select.
    """
    from citela_common.dlq import plan_replay, read, replay

    selection = _selection(topic, tenant, since, until, refs=refs)
    with _bus() as bus:
        letters = read(bus, selection).select(selection)
        if refs:
            missing = sorted(set(refs) - {d.ref for d in letters} - {d.address for d in letters})
            if missing:
                typer.echo(f"Introuvable(s) dans les DLQ : {', '.join(missing)}", err=True)
                raise typer.Exit(1)
        chosen = letters[:limit]
        plan = plan_replay(chosen)
        if not plan.events:
            typer.echo("Rien à rejouer.")
            if plan.poison:
                typer.echo(
                    f"{len(plan.poison)} message(s) illisible(s) (pas un CloudEvent) : à "
                    "examiner avec `show`, ils ne se rejouent pas.",
                    err=True,
                )
            return
        per_topic = ", ".join(f"{t} : {n}" for t, n in sorted(plan.by_topic().items()))
        typer.echo(f"À rejouer : {len(plan.events)} événement(s) ({per_topic}).")
        for letter in plan.events:
            typer.echo(
                f"  {letter.ref}  {letter.tenant or '?'}  "
                f"{(letter.event_type or '').removeprefix('fr.citela.')}  "
                f"{_cut(letter.error, 60)}"
            )
        if plan.duplicates:
            typer.echo(
                f"{len(plan.duplicates)} autre(s) enregistrement(s) du même événement (un autre "
                "groupe) : publié une fois, tous marqués rejoués."
            )
        if plan.poison:
            typer.echo(f"{len(plan.poison)} message(s) illisible(s) laissé(s) de côté.")
        if len(letters) > len(chosen):
            typer.echo(f"{len(letters) - len(chosen)} de plus au-delà de --limit {limit}.")
        if dry_run:
            typer.echo("Simulation (--dry-run) : rien n'a été publié.")
            return
        if not yes:
            typer.confirm("Publier ces événements sur leur topic d'origine ?", abort=True)
        published = replay(bus, plan)
    typer.echo(f"{published} événement(s) rejoué(s).")
