"""The harvest run: a source lists and maps records; this class owns everything else.

In the spirit of udata's harvest backends: explicit run and item statuses, one bad record
never aborts a run, invalid records are kept aside with their reason and raw input, dry runs
and a max-items limit, provenance on every record, and a grace period before what vanished
upstream is archived. Only changes are published, through the outbox, in the same
transaction as the state that remembers them.
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
from citela_ingest.metrics import LAST_SUCCESS, RECORDS, RUN_SECONDS
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
    incomplete_reason: str | None = None  # why nothing was archived this run

    @property
    def records(self) -> int:
        return sum(self.counts[k] for k in ("new", "updated", "unchanged", "skipped", "invalid"))


__all__ = [
    "HASH_PREFIX",
    "Harvester",
    "ItemStatus",
    "RunStatus",
    "RunSummary",
    "content_hash",
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
    ) -> None:
        """``map_workers``: processes that map a large run's records (None: one per core, at
        most 4; 0: all in this process), started once ``parallel_after`` records were listed."""
        self.db = db
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
    ) -> RunSummary:
        summary = RunSummary(str(uuid.uuid4()), source.name, tenant, dry_run=dry_run)
        started = time.perf_counter()
        run_started_at = utcnow()
        with self.db.transaction() as session:
            scope_to_tenant(session, tenant)
            session.add(
                HarvestRun(
                    id=summary.run_id,
                    source=source.name,
                    status=RunStatus.RUNNING,
                    territory_code=ctx.territory.code if ctx.territory else None,
                    dry_run=dry_run,
                    max_items=max_items,
                    location=location,
                    counts={},
                    started_at=run_started_at,
                )
            )
        try:
            self._run_batches(source, ctx, summary, max_items, progress)
            complete_listing = not summary.incomplete_reason and (
                max_items is None or summary.records < max_items
            )
            if complete_listing:
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
                    finished_at=utcnow(),
                )
            )
        RUN_SECONDS.labels(source=source.name).observe(summary.seconds)
        if summary.status is not RunStatus.FAILED and not dry_run:
            LAST_SUCCESS.labels(source=source.name).set(time.time())
        log.info(
            "ingest.run_finished",
            source=source.name,
            tenant=tenant,
            status=summary.status.value,
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
                status, reason, raw = result
                writes.item(summary, remote_id, status, reason=reason, raw=raw)
                outcomes[status.value] += 1
                if incomplete is not None:
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
