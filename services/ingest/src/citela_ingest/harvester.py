"""The harvest run: a source lists and maps records; this class owns everything else.

In the spirit of udata's harvest backends: explicit run and item statuses, one bad record
never aborts a run, invalid records are kept aside with their reason and raw input, dry runs
and a max-items limit, provenance on every record, and a grace period before what vanished
upstream is archived. Only changes are published, through the outbox, in the same
transaction as the state that remembers them.

Archiving concludes from an absence, so it happens only after a run beyond doubt. A run
fails as a whole, archives nothing and says why in French (``RunSummary.reason``) when its
listing could not be read in full (a truncated or unreadable file, a layout not as expected,
a size limit passed), when it read no record, kept none (all invalid, or all in another
territory), or kept fewer than ``min_share`` of the last complete run of the same source and
territory; ``accept_shrink`` waives the counts (an official who knows the source shrank),
never an unreadable listing. A record still listed but invalid now keeps its last good
version: it counts as seen (``last_good_kept``), so it is never archived as gone.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, String, Table, any_, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citela_common.db import Database, utcnow
from citela_common.events.models import (
    CatalogueEntryRemoved,
    EventData,
    make_event,
)
from citela_common.logging import get_logger
from citela_common.outbox import StagedEvent, add_event, add_events
from citela_common.tenancy import scope_to_tenant
from citela_ingest.mapping import (
    EVENT_SOURCE,
    HASH_PREFIX,
    ItemStatus,
    MappedRecord,
    Mapper,
    Prepared,
    chunks,
    content_hash,
    default_map_workers,
    legacy_content_hash,
    output_key,
)
from citela_ingest.metrics import LAST_FAILURE, LAST_SUCCESS, RECORDS, RUN_SECONDS, RUNS
from citela_ingest.models import (
    Base,
    HarvestItem,
    HarvestRun,
    Outbox,
    SourceRecord,
    TerritoryRow,
)
from citela_ingest.records import BrokenRecord, HarvestContext, RawRecord, Source

if TYPE_CHECKING:
    import psycopg

log = get_logger(__name__)
RAW_LIMIT = 20_000  # characters of raw input kept with an invalid item
# the outcome of an invalid record whose entry keeps its last good version
LAST_GOOD_KEPT = "last_good_kept"


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    DONE_WITH_ERRORS = "done_with_errors"
    FAILED = "failed"


@dataclass
class RunSummary:
    run_id: str
    source: str
    tenant: str
    status: RunStatus = RunStatus.RUNNING
    counts: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    seconds: float = 0.0
    dry_run: bool = False
    incomplete_reason: str | None = None  # why the listing could not be read in full (French)
    reason: str | None = None  # why the run failed as a whole (French), for the official
    outside_territory: int = 0  # records skipped because they lie in another territory
    outside_example: str | None = None  # the reason of one of them

    @property
    def records(self) -> int:
        """Records listed (a record kept counts once per entry it gives)."""
        return sum(self.counts[k] for k in ("new", "updated", "unchanged", "skipped", "invalid"))

    @property
    def kept(self) -> int:
        """Entries the run found valid in the territory: new, updated or unchanged."""
        return sum(self.counts[k] for k in ("new", "updated", "unchanged"))


__all__ = [
    "HASH_PREFIX",
    "LAST_GOOD_KEPT",
    "Harvester",
    "ItemStatus",
    "PreviousRun",
    "RunStatus",
    "RunSummary",
    "content_hash",
    "doubt",
    "legacy_content_hash",
    "output_key",
]


@dataclass(frozen=True, slots=True)
class _Known:
    """What the store remembers of a key: the published hash and version, archived or not."""

    digest: str
    version: int
    archived: bool


@dataclass
class _Writes:
    """A batch's writes, gathered then sent as one statement per table."""

    # key -> (remote id, hash, version); last write wins
    source_records: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    territories: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[StagedEvent] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rehashed: dict[str, str] = field(default_factory=dict)  # legacy hash → v2, same content

    def item(
        self,
        summary: RunSummary,
        remote_id: str | None,
        status: ItemStatus,
        *,
        entry_id: str | None = None,
        outcome: str | None = None,
        reason: str | None = None,
        raw: str | None = None,
    ) -> None:
        self.items.append(
            {
                "run_id": summary.run_id,
                "tenant_id": summary.tenant,
                "remote_id": remote_id,
                "entry_id": entry_id,
                "status": status.value,
                "outcome": outcome,
                "reason": reason,
                "raw": raw[:RAW_LIMIT] if raw is not None else None,
            }
        )

    def flush(self, session: Session, summary: RunSummary, source: str, now: datetime) -> None:
        if self.territories:
            _upsert(session, TerritoryRow, list(self.territories.values()), ("name", "data"))
        if self.source_records:
            _upsert_source_records(session, summary.tenant, source, self.source_records, now)
        if self.items:
            _insert_many(session, cast(Table, HarvestItem.__table__), self.items)
        add_events(session, Outbox, self.events)
        if self.unchanged and not summary.dry_run:
            session.execute(
                update(SourceRecord)
                .where(
                    SourceRecord.tenant_id == summary.tenant,
                    _key_in(session, SourceRecord.key, self.unchanged),
                )
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
        if self.rehashed and not summary.dry_run:
            table = cast(Table, SourceRecord.__table__)
            session.execute(
                table.update()
                .where(
                    table.c.tenant_id == summary.tenant,
                    table.c.key == bindparam("record_key"),
                )
                .values(content_hash=bindparam("digest")),
                [{"record_key": k, "digest": v} for k, v in self.rehashed.items()],
            )


def _key_in(session: Session, column: Any, keys: list[str]) -> Any:
    """``column IN keys``: one array parameter on PostgreSQL (not a thousand)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, keys, type_=postgresql.ARRAY(String())))
    return column.in_(keys)


def _table_name(connection: Connection, table: Table) -> str:
    """The table's quoted name as this connection sees it (schema_translate_map applied)."""
    translate = connection.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    quote = connection.dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)


def _upsert_source_records(
    session: Session,
    tenant: str,
    source: str,
    rows: dict[str, tuple[str, str, int]],
    now: datetime,
) -> None:
    """Remember what was published: PostgreSQL takes the batch as four arrays in one statement."""
    connection = session.connection()
    table = cast(Table, SourceRecord.__table__)
    if connection.dialect.name != "postgresql":
        _upsert(
            session,
            SourceRecord,
            [
                {
                    "key": key,
                    "tenant_id": tenant,
                    "source": source,
                    "remote_id": remote_id,
                    "content_hash": digest,
                    "version": version,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "archived_at": None,
                }
                for key, (remote_id, digest, version) in rows.items()
            ],
            ("remote_id", "content_hash", "version", "last_seen_at", "archived_at"),
        )
        return
    remote_ids, digests, versions = zip(*rows.values(), strict=True)
    connection.exec_driver_sql(
        f"INSERT INTO {_table_name(connection, table)} (key, tenant_id, source, remote_id, "  # noqa: S608
        "content_hash, version, first_seen_at, last_seen_at, archived_at) "
        "SELECT k, %(tenant)s, %(source)s, r, h, v, %(now)s, %(now)s, NULL FROM unnest("
        "%(keys)s::text[], %(remote_ids)s::text[], %(digests)s::text[], %(versions)s::int[]"
        ") AS u(k, r, h, v) ON CONFLICT (key, tenant_id) DO UPDATE SET "
        "remote_id = excluded.remote_id, content_hash = excluded.content_hash, "
        "version = excluded.version, last_seen_at = excluded.last_seen_at, archived_at = NULL",
        {
            "tenant": tenant,
            "source": source,
            "now": now,
            "keys": list(rows),
            "remote_ids": list(remote_ids),
            "digests": list(digests),
            "versions": list(versions),
        },
    )


def _insert_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Plain rows (all with the same keys): one COPY on PostgreSQL, one executemany otherwise."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    quote = connection.dialect.identifier_preparer.quote
    name = _table_name(connection, table)
    columns = list(rows[0])
    statement = f"COPY {name} ({', '.join(map(quote, columns))}) FROM STDIN"
    dbapi = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _upsert(
    session: Session, model: type[Base], rows: list[dict[str, Any]], updated: tuple[str, ...]
) -> None:
    """INSERT … ON CONFLICT (primary key) DO UPDATE of ``updated``, one executemany."""
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect.name
    stmt = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: stmt.excluded[name] for name in updated},
    )
    session.execute(stmt, rows)


@dataclass(frozen=True, slots=True)
class PreviousRun:
    """The last complete run of a source and territory: what a new run is compared with."""

    run_id: str
    kept: int
    started_at: datetime


def _previous_complete(session: Session, source: str, territory: str | None) -> PreviousRun | None:
    """The tenant's last run of ``source`` for ``territory`` that listed everything and was
    applied: done (with or without invalid records), not a dry run, not cut by max-items."""
    row = session.execute(
        select(HarvestRun.id, HarvestRun.counts, HarvestRun.started_at)
        .where(
            HarvestRun.source == source,
            HarvestRun.territory_code.is_(None)
            if territory is None
            else HarvestRun.territory_code == territory,
            HarvestRun.status.in_((RunStatus.DONE.value, RunStatus.DONE_WITH_ERRORS.value)),
            HarvestRun.dry_run.is_(False),
            HarvestRun.max_items.is_(None),
        )
        .order_by(HarvestRun.started_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    run_id, counts, started_at = row
    kept = sum(int((counts or {}).get(k, 0)) for k in ("new", "updated", "unchanged"))
    return PreviousRun(run_id, kept, started_at)


_RERUN = "si la source a vraiment diminué, relancez avec --accept-shrink"


def doubt(
    summary: RunSummary,
    *,
    territory_code: str | None,
    previous: PreviousRun | None,
    min_share: float,
    accept_shrink: bool = False,
    cut_short: bool = False,
) -> str | None:
    """Why the run must not be applied as a whole (French), or None when it is beyond doubt.

    An unreadable listing is never waived; the counts are, by ``accept_shrink``; a run cut by
    max-items is judged on nothing but its listing (it archives nothing anyway).
    """
    if summary.incomplete_reason is not None:
        return summary.incomplete_reason
    if cut_short or accept_shrink:
        return None
    where = f" du territoire {territory_code}" if territory_code else ""
    if summary.records == 0:
        return (
            "aucun enregistrement lu : le fichier ou la réponse de la source est vide ; "
            f"rien n'est archivé ({_RERUN})"
        )
    kept = summary.kept
    if kept == 0 and summary.outside_territory:
        return (
            f"aucun enregistrement{where} : les {summary.outside_territory} enregistrements lus "
            f"sont hors du territoire (par exemple : {summary.outside_example}) — fichier d'un "
            "autre territoire ? rien n'est archivé"
        )
    if kept == 0:
        return (
            f"aucun enregistrement utilisable{where} : {summary.counts['invalid']} invalides, "
            f"{summary.counts['skipped']} ignorés sur {summary.records} lus ; rien n'est "
            "archivé (voir citela ingest-invalid)"
        )
    if previous is not None and kept < min_share * previous.kept:
        share = f"{min_share * 100:g} %".replace(".", ",")
        return (
            f"{kept} enregistrements retenus contre {previous.kept} à la dernière collecte "
            f"complète du {previous.started_at:%d/%m/%Y} (moins de {share}, "
            f"CITELA_INGEST_MIN_SHARE_OF_PREVIOUS) : rien n'est archivé ; {_RERUN}"
        )
    return None


class Harvester:
    """Runs one source for one tenant against the ingest store."""

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 1000,
        grace_period: timedelta = timedelta(days=3),
        on_commit: Callable[[], None] | None = None,
        map_workers: int | None = None,
        parallel_after: int = 4_000,
        min_share: float = 0.5,
    ) -> None:
        """``map_workers``: processes that map a large run's records (None: one per core, at
        most 4; 0: all in this process), started once ``parallel_after`` records were listed.
        ``min_share``: below this share of the last complete run's entries, a run fails."""
        self.db = db
        self.min_share = min_share
        self.batch_size = batch_size
        self.grace_period = grace_period
        self.on_commit = on_commit
        self.map_workers = default_map_workers() if map_workers is None else map_workers
        self.parallel_after = parallel_after

    def run(
        self,
        source: Source,
        ctx: HarvestContext,
        *,
        tenant: str,
        dry_run: bool = False,
        max_items: int | None = None,
        location: str | None = None,
        progress: Callable[[RunSummary], None] | None = None,
        territory_code: str | None = None,
        accept_shrink: bool = False,
    ) -> RunSummary:
        """One run. ``territory_code``: the territory asked for (default: the context's), by
        which runs are compared; ``accept_shrink``: see the module's docstring."""
        summary = RunSummary(str(uuid.uuid4()), source.name, tenant, dry_run=dry_run)
        started = time.perf_counter()
        run_started_at = utcnow()
        if territory_code is None and ctx.territory is not None:
            territory_code = ctx.territory.code
        with self.db.transaction() as session:
            scope_to_tenant(session, tenant)
            previous = _previous_complete(session, source.name, territory_code)
            session.add(
                HarvestRun(
                    id=summary.run_id,
                    source=source.name,
                    status=RunStatus.RUNNING,
                    territory_code=territory_code,
                    dry_run=dry_run,
                    max_items=max_items,
                    location=location,
                    counts={},
                    started_at=run_started_at,
                )
            )
        try:
            self._run_batches(source, ctx, summary, max_items, progress)
            # cut by max-items, or answers not modified since a run before: not every record
            # was listed, so neither the counts nor the absences say anything
            cut_short = (
                max_items is not None and summary.records >= max_items
            ) or source.not_modified > 0
            summary.reason = doubt(
                summary,
                territory_code=territory_code,
                previous=previous,
                min_share=self.min_share,
                accept_shrink=accept_shrink,
                cut_short=cut_short,
            )
            if summary.reason is not None:
                summary.status = RunStatus.FAILED
            else:
                if not cut_short:
                    with self.db.transaction() as session:
                        scope_to_tenant(session, tenant)
                        self._archive_vanished(session, source, summary, run_started_at)
                    if self.on_commit and not dry_run:
                        self.on_commit()
                summary.status = (
                    RunStatus.DONE_WITH_ERRORS if summary.counts["invalid"] else RunStatus.DONE
                )
        except Exception as exc:
            log.exception("ingest.run_failed", source=source.name, tenant=tenant, error=repr(exc))
            summary.status = RunStatus.FAILED
            summary.error = f"{type(exc).__name__}: {exc}"
            summary.reason = f"erreur pendant la collecte, rien n'est archivé : {summary.error}"
        summary.seconds = time.perf_counter() - started
        with self.db.transaction() as session:
            scope_to_tenant(session, tenant)
            session.execute(
                update(HarvestRun)
                .where(HarvestRun.id == summary.run_id)
                .values(
                    status=summary.status,
                    counts=dict(summary.counts),
                    error=summary.error,
                    reason=summary.reason,
                    finished_at=utcnow(),
                )
            )
        RUN_SECONDS.labels(source=source.name).observe(summary.seconds)
        if not dry_run:
            RUNS.labels(source=source.name, status=summary.status.value).inc()
            if summary.status is RunStatus.FAILED:
                LAST_FAILURE.labels(source=source.name).set(time.time())
            else:
                LAST_SUCCESS.labels(source=source.name).set(time.time())
        log.info(
            "ingest.run_finished",
            source=source.name,
            tenant=tenant,
            status=summary.status.value,
            reason=summary.reason,
            **dict(summary.counts),
        )
        return summary

    def _run_batches(
        self,
        source: Source,
        ctx: HarvestContext,
        summary: RunSummary,
        max_items: int | None,
        progress: Callable[[RunSummary], None] | None,
    ) -> None:
        """Map, compare and write in a pipeline: batches written in order by one writer thread.

        Records are mapped ahead (in worker processes once the run is large) while batch n is
        written and batch n+1 gathered: the writer mostly waits for the database with the GIL
        released. Two batches and a few chunks in flight at most are held.
        """
        records = self._limited(source.list_records(), max_items)
        mapper = Mapper(
            source,
            ctx,
            summary.tenant,
            workers=self.map_workers,
            parallel_after=self.parallel_after,
        )
        with (
            _fewer_collections(),
            mapper,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer,
        ):
            pending: Future[None] | None = None
            for mapped in chunks(mapper.map(records), self.batch_size):
                if pending is not None:
                    pending.result()  # the writer's error, if any, ends the run here
                    self._committed(summary, progress)
                pending = writer.submit(self._write, source, mapped, summary)
            if pending is not None:
                pending.result()
                self._committed(summary, progress)
        if mapper.mapped_elsewhere:
            log.info("ingest.mapped_in_workers", records=mapper.mapped_elsewhere)

    def _write(self, source: Source, mapped: list[MappedRecord], summary: RunSummary) -> None:
        with self.db.transaction() as session:
            scope_to_tenant(session, summary.tenant)
            self._batch(session, source, mapped, summary)

    def _committed(
        self, summary: RunSummary, progress: Callable[[RunSummary], None] | None
    ) -> None:
        if self.on_commit and not summary.dry_run:
            self.on_commit()
        if progress:
            progress(summary)

    @staticmethod
    def _limited(
        records: Iterator[RawRecord | BrokenRecord], max_items: int | None
    ) -> Iterator[RawRecord | BrokenRecord]:
        for count, record in enumerate(records):
            if max_items is not None and count >= max_items:
                return
            yield record

    def _batch(
        self,
        session: Session,
        source: Source,
        mapped: list[MappedRecord],
        summary: RunSummary,
    ) -> None:
        """Compare a mapped batch with what was published in one query, write it in bulk.

        One SELECT of the batch's known keys, then one statement per table (on PostgreSQL:
        source records upserted from arrays, items and outbox events by COPY) and one UPDATE of
        the unchanged keys: the cost per record is the mapping, not round trips or ORM objects.
        """
        keys = {p.key for m in mapped if isinstance(m.mapped, list) for p in m.mapped}
        # a record still listed but invalid now: its last good version stays (seen, not gone)
        invalid_keys = {
            m.remote_id: source.key_of(m.remote_id)
            for m in mapped
            if isinstance(m.mapped, tuple)
            and m.mapped[0] is ItemStatus.INVALID
            and m.remote_id is not None
        }
        keys.update(invalid_keys.values())
        known: dict[str, _Known] = {}
        if keys:
            rows = session.execute(
                select(
                    SourceRecord.key,
                    SourceRecord.content_hash,
                    SourceRecord.version,
                    SourceRecord.archived_at,
                ).where(SourceRecord.tenant_id == summary.tenant, SourceRecord.key.in_(keys))
            )
            known = {
                key: _Known(digest, version, archived is not None)
                for key, digest, version, archived in rows
            }
        writes = _Writes()
        now = utcnow()
        outcomes: Counter[str] = Counter()
        for remote_id, result, incomplete in mapped:
            if isinstance(result, tuple):
                status, reason, raw, outside = result
                last_good = None
                if remote_id is not None and status is ItemStatus.INVALID:
                    key = invalid_keys[remote_id]
                    stored = known.get(key)
                    if stored is not None and not stored.archived:
                        last_good = key
                        writes.unchanged.append(key)  # seen: its last_seen_at moves on
                        outcomes[LAST_GOOD_KEPT] += 1
                writes.item(
                    summary,
                    remote_id,
                    status,
                    entry_id=last_good,
                    outcome=LAST_GOOD_KEPT if last_good else None,
                    reason=reason,
                    raw=raw,
                )
                outcomes[status.value] += 1
                if outside:
                    summary.outside_territory += 1
                    summary.outside_example = summary.outside_example or reason
                if incomplete is not None and summary.incomplete_reason is None:
                    summary.incomplete_reason = incomplete
                continue
            for prepared in result:
                outcome = self._compare(source, prepared, summary, known, writes, now)
                outcomes[outcome] += 1
                if outcome == "unchanged":
                    # counted on the run, not stored: a national daily harvest would
                    # otherwise add tens of millions of rows a year
                    writes.unchanged.append(prepared.key)
                else:
                    writes.item(
                        summary,
                        remote_id,
                        ItemStatus.DONE,
                        entry_id=prepared.key,
                        outcome=outcome,
                    )
        writes.flush(session, summary, source.name, now)
        summary.counts.update(outcomes)
        for outcome, count in outcomes.items():
            RECORDS.labels(source=source.name, outcome=outcome).inc(count)

    @staticmethod
    def _compare(
        source: Source,
        prepared: Prepared,
        summary: RunSummary,
        known: dict[str, _Known],
        writes: _Writes,
        now: datetime,
    ) -> str:
        """new, updated or unchanged; stages the writes of a change (none in a dry run)."""
        key, digest = prepared.key, prepared.digest
        existing = known.get(key)
        if existing is not None and not existing.archived:
            if existing.digest == digest:
                return "unchanged"
            if not existing.digest.startswith(HASH_PREFIX) and existing.digest == (
                legacy_content_hash(prepared.output())
            ):
                # stored before v2 hashes, same content: unchanged, its hash rewritten once
                writes.rehashed[key] = digest
                known[key] = _Known(digest, existing.version, False)
                return "unchanged"
        outcome = "new" if existing is None or existing.archived else "updated"
        if summary.dry_run:
            return outcome
        version = existing.version + 1 if existing else 1
        # remembered at once: the same record twice in one file updates, never re-inserts
        known[key] = _Known(digest, version, False)
        writes.source_records[key] = (prepared.remote_id, digest, version)
        if prepared.territory is not None:
            code, level, name = prepared.territory
            writes.territories[(code, level)] = {
                "code": code,
                "level": level,
                "name": name,
                "data": prepared.data(version),
            }
        writes.events.append(
            StagedEvent(
                prepared.topic,
                prepared.event_id,
                prepared.event_type,
                summary.tenant,
                prepared.envelope(version),
            )
        )
        return outcome

    def _archive_vanished(
        self, session: Session, source: Source, summary: RunSummary, run_started_at: datetime
    ) -> None:
        cutoff = run_started_at - self.grace_period
        gone = session.scalars(
            select(SourceRecord).where(
                SourceRecord.source == source.name,
                SourceRecord.archived_at.is_(None),
                SourceRecord.last_seen_at < run_started_at,
                SourceRecord.last_seen_at < cutoff,
            )
        ).all()
        for record in gone:
            summary.counts["archived"] += 1
            RECORDS.labels(source=source.name, outcome="archived").inc()
            session.add(
                HarvestItem(
                    run_id=summary.run_id,
                    remote_id=record.remote_id,
                    entry_id=record.key,
                    status=ItemStatus.ARCHIVED,
                    reason=f"gone from the source since {record.last_seen_at:%Y-%m-%d}",
                )
            )
            if summary.dry_run:
                continue
            record.version += 1
            record.archived_at = utcnow()
            if not record.key.startswith("territory:"):
                self._stage(
                    session,
                    summary.tenant,
                    CatalogueEntryRemoved(
                        entry_id=record.key,
                        version=record.version,
                        removed_at=record.archived_at,
                        reason=f"gone from {source.name} for more than {self.grace_period}",
                    ),
                    subject=record.key,
                )

    @staticmethod
    def _stage(session: Session, tenant: str, data: EventData, subject: str) -> None:
        add_event(
            session,
            Outbox,
            data.topic,
            make_event(data, tenant=tenant, source=EVENT_SOURCE, subject=subject),
        )


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic collector runs every 700 net allocations by default: a run holding batches
    of parsed records then traverses them again and again (a third of a run's CPU). Raised
    for the run; a collection still happens, far less often."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 50_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
