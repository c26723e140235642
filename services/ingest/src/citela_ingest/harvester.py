"""The harvest run: a source lists and maps records; this class owns everything else.

In the spirit of udata's harvest backends: explicit run and item statuses, one bad record
never aborts a run, invalid records are kept aside with their reason and raw input, dry runs
and a max-items limit, provenance on every record, and a grace period before what vanished
upstream is archived. Only changes are published, through the outbox, in the same
transaction as the state that remembers them.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citela_common.db import Database, utcnow
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    EventData,
    TerritoryUpserted,
    make_event,
)
from citela_common.logging import get_logger
from citela_common.outbox import StagedEvent, add_event, add_events
from citela_common.tenancy import scope_to_tenant
from citela_ingest.metrics import LAST_SUCCESS, RECORDS, RUN_SECONDS
from citela_ingest.models import (
    Base,
    HarvestItem,
    HarvestRun,
    Outbox,
    SourceRecord,
    TerritoryRow,
)
from citela_ingest.records import (
    BrokenRecord,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
    Source,
)

if TYPE_CHECKING:
    import psycopg

log = get_logger(__name__)
EVENT_SOURCE = "/citela/ingest"
RAW_LIMIT = 20_000  # characters of raw input kept with an invalid item


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    DONE_WITH_ERRORS = "done_with_errors"
    FAILED = "failed"


class ItemStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    INVALID = "invalid"
    ARCHIVED = "archived"


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


def output_key(output: Output) -> str:
    if isinstance(output, TerritoryUpserted):
        return f"territory:{output.level.value}:{output.code}"
    return output.entry_id


def content_hash(output: Output) -> str:
    """Hash of what matters in an output, as stored: harvest-time fields are left out.

    ``v2:`` + BLAKE2b of pydantic's JSON of the output (fields in declaration order, no dict
    fields: deterministic), a few microseconds in Rust where the sorted json.dumps of a dump
    took about ten times as long. Hashes stored before carry no prefix: ``legacy_content_hash``.
    """
    text = output.model_dump_json(exclude=_UNHASHED)
    return HASH_PREFIX + hashlib.blake2b(text.encode(), digest_size=30).hexdigest()


def legacy_content_hash(output: Output) -> str:
    """The hash stored before ``v2:`` (SHA-256 of the sorted JSON of the same fields)."""
    data = output.model_dump(mode="json", exclude=_UNHASHED)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


HASH_PREFIX = "v2:"
# updated_at may fall back to the harvest time: a change shows in provenance instead.
_UNHASHED: dict[str, Any] = {
    "version": True,
    "updated_at": True,
    "provenance": {"downloaded_at": True, "download_url": True},
}


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One output of a record, with its key and hash."""

    output: Output
    key: str
    digest: str


def _prepare(output: Output) -> _Prepared:
    return _Prepared(output, output_key(output), content_hash(output))


# a record and its outputs, or (status, reason, raw input to keep) when it has none
_Mapped = tuple[RawRecord | BrokenRecord, list[_Prepared] | tuple[ItemStatus, str, str | None]]


@dataclass(frozen=True, slots=True)
class _Known:
    """What the store remembers of a key: the published hash and version, archived or not."""

    digest: str
    version: int
    archived: bool


def _event(output: Output, tenant: str, subject: str) -> StagedEvent:
    """``make_event(output)`` as JSON text, the payload serialised once, in Rust."""
    event = CloudEvent(type=output.event_type, source=EVENT_SOURCE, tenant=tenant, subject=subject)
    head = event.model_dump_json(exclude={"data"})  # '{"id":…,"tenant":…}'
    envelope = f'{head[:-1]},"data":{output.model_dump_json()}}}'
    return StagedEvent(output.topic, event.id, event.type, tenant, envelope)


@dataclass
class _Writes:
    """A batch's writes, gathered then sent as one statement per table."""

    source_records: dict[str, dict[str, Any]] = field(default_factory=dict)  # last write wins
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

    def flush(self, session: Session, summary: RunSummary, now: datetime) -> None:
        if self.territories:
            _upsert(session, TerritoryRow, list(self.territories.values()), ("name", "data"))
        if self.source_records:
            _upsert(
                session,
                SourceRecord,
                list(self.source_records.values()),
                ("remote_id", "content_hash", "version", "last_seen_at", "archived_at"),
            )
        if self.items:
            _insert_many(session, cast(Table, HarvestItem.__table__), self.items)
        add_events(session, Outbox, self.events)
        if self.unchanged and not summary.dry_run:
            session.execute(
                update(SourceRecord)
                .where(SourceRecord.key.in_(self.unchanged))
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


def _insert_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Plain rows (all with the same keys): one COPY on PostgreSQL, one executemany otherwise."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    translate = connection.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    quote = connection.dialect.identifier_preparer.quote
    name = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
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
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.grace_period = grace_period
        self.on_commit = on_commit

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
        """Map batch n+1 while batch n is written: one writer thread, batches in order.

        The writer spends most of its time waiting for the database (the GIL is released),
        so the mapping, which is pure Python, goes on meanwhile. Two batches at most are held.
        """
        records = self._limited(source.list_records(), max_items)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
            pending: Future[None] | None = None
            for batch in _batches(records, self.batch_size):
                mapped = [(record, self._map(source, ctx, record)) for record in batch]
                if pending is not None:
                    pending.result()  # the writer's error, if any, ends the run here
                    self._committed(summary, progress)
                pending = writer.submit(self._write, source, mapped, summary)
            if pending is not None:
                pending.result()
                self._committed(summary, progress)

    def _write(self, source: Source, mapped: list[_Mapped], summary: RunSummary) -> None:
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
        mapped: list[_Mapped],
        summary: RunSummary,
    ) -> None:
        """Compare a mapped batch with what was published in one query, write it in bulk.

        One SELECT of the batch's known keys, then one executemany per table (source records
        upserted, items, outbox events, territories) and one UPDATE of the unchanged keys: the
        cost per record is the mapping, not round trips or ORM objects.
        """
        keys = {p.key for _, result in mapped if isinstance(result, list) for p in result}
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
        for record, result in mapped:
            if isinstance(result, tuple):
                status, reason, raw = result
                writes.item(summary, record.remote_id, status, reason=reason, raw=raw)
                outcomes[status.value] += 1
                if isinstance(record, BrokenRecord) and record.incomplete:
                    summary.incomplete_reason = record.reason
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
                        record.remote_id,
                        ItemStatus.DONE,
                        entry_id=prepared.key,
                        outcome=outcome,
                    )
        writes.flush(session, summary, now)
        summary.counts.update(outcomes)
        for outcome, count in outcomes.items():
            RECORDS.labels(source=source.name, outcome=outcome).inc(count)

    @staticmethod
    def _map(
        source: Source, ctx: HarvestContext, record: RawRecord | BrokenRecord
    ) -> list[_Prepared] | tuple[ItemStatus, str, str | None]:
        """The record's outputs, or (status, reason, raw input to keep) when there are none."""
        if isinstance(record, BrokenRecord):
            return ItemStatus.INVALID, record.reason, record.raw
        try:
            return [_prepare(output) for output in source.map_record(record, ctx)]
        except SkipRecord as skip:
            return ItemStatus.SKIPPED, skip.reason, None
        except InvalidRecord as invalid:
            return ItemStatus.INVALID, invalid.reason, record.raw_input()
        except Exception as exc:  # a mapping bug must not abort the run
            log.exception("ingest.map_error", source=source.name, remote_id=record.remote_id)
            return (
                ItemStatus.INVALID,
                f"unexpected error while mapping: {exc!r}",
                record.raw_input(),
            )

    @staticmethod
    def _compare(
        source: Source,
        prepared: _Prepared,
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
                legacy_content_hash(prepared.output)
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
        output = prepared.output.model_copy(update={"version": version})
        writes.source_records[key] = {
            "key": key,
            "tenant_id": summary.tenant,
            "source": source.name,
            "remote_id": _remote_id(output),
            "content_hash": digest,
            "version": version,
            "first_seen_at": now,
            "last_seen_at": now,
            "archived_at": None,
        }
        if isinstance(output, TerritoryUpserted):
            writes.territories[(output.code, output.level.value)] = {
                "code": output.code,
                "level": output.level.value,
                "name": output.name,
                "data": output.model_dump(mode="json"),
            }
        writes.events.append(_event(output, summary.tenant, key))
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


def _remote_id(output: Output) -> str:
    if isinstance(output, CatalogueEntryUpserted):
        return output.provenance.remote_id
    return output.code


def _batches(
    items: Iterator[RawRecord | BrokenRecord], size: int
) -> Iterator[list[RawRecord | BrokenRecord]]:
    batch: list[RawRecord | BrokenRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
