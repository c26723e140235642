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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from citela_common.db import Database, utcnow
from citela_common.events.models import (
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    EventData,
    TerritoryUpserted,
    make_event,
)
from citela_common.logging import get_logger
from citela_common.outbox import add_event
from citela_common.tenancy import scope_to_tenant
from citela_ingest.metrics import LAST_SUCCESS, RECORDS, RUN_SECONDS
from citela_ingest.models import HarvestItem, HarvestRun, Outbox, SourceRecord, TerritoryRow
from citela_ingest.records import (
    BrokenRecord,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
    Source,
)

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
    """Hash of what matters in an output: harvest-time fields are left out."""
    # updated_at may fall back to the harvest time: a change shows in provenance instead.
    data = output.model_dump(mode="json", exclude={"version", "updated_at"})
    provenance = data.get("provenance") or {}
    provenance.pop("downloaded_at", None)
    provenance.pop("download_url", None)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Harvester:
    """Runs one source for one tenant against the ingest store."""

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 500,
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
            for batch in _batches(self._limited(source.list_records(), max_items), self.batch_size):
                with self.db.transaction() as session:
                    scope_to_tenant(session, tenant)
                    self._batch(session, source, ctx, batch, summary)
                if self.on_commit and not dry_run:
                    self.on_commit()
                if progress:
                    progress(summary)
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
        ctx: HarvestContext,
        batch: list[RawRecord | BrokenRecord],
        summary: RunSummary,
    ) -> None:
        """Map a batch, then compare it with what was published in one query, not one a record."""
        mapped = [(record, self._map(source, ctx, record)) for record in batch]
        keys = {output_key(o) for _, result in mapped if isinstance(result, list) for o in result}
        known = (
            {
                row.key: row
                for row in session.scalars(select(SourceRecord).where(SourceRecord.key.in_(keys)))
            }
            if keys
            else {}
        )
        territories = self._known_territories(session, mapped)
        unchanged: list[str] = []
        with session.no_autoflush:  # inserts go out together at commit
            for record, result in mapped:
                if isinstance(result, tuple):
                    status, reason, raw = result
                    self._keep(session, source, summary, status, reason, raw, record)
                    continue
                for output in result:
                    outcome = self._publish_if_changed(
                        session, source, output, summary, known, territories
                    )
                    summary.counts[outcome] += 1
                    RECORDS.labels(source=source.name, outcome=outcome).inc()
                    if outcome == "unchanged":
                        # counted on the run, not stored: a national daily harvest would
                        # otherwise add tens of millions of rows a year
                        unchanged.append(output_key(output))
                    else:
                        session.add(
                            HarvestItem(
                                run_id=summary.run_id,
                                remote_id=record.remote_id,
                                entry_id=output_key(output),
                                status=ItemStatus.DONE,
                                outcome=outcome,
                            )
                        )
        if unchanged and not summary.dry_run:
            session.execute(
                update(SourceRecord)
                .where(SourceRecord.key.in_(unchanged))
                .values(last_seen_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    @staticmethod
    def _map(
        source: Source, ctx: HarvestContext, record: RawRecord | BrokenRecord
    ) -> list[Output] | tuple[ItemStatus, str, str | None]:
        """The record's outputs, or (status, reason, raw input to keep) when there are none."""
        if isinstance(record, BrokenRecord):
            return ItemStatus.INVALID, record.reason, record.raw
        try:
            return list(source.map_record(record, ctx))
        except SkipRecord as skip:
            return ItemStatus.SKIPPED, skip.reason, None
        except InvalidRecord as invalid:
            return ItemStatus.INVALID, invalid.reason, record.raw
        except Exception as exc:  # a mapping bug must not abort the run
            log.exception("ingest.map_error", source=source.name, remote_id=record.remote_id)
            return ItemStatus.INVALID, f"unexpected error while mapping: {exc!r}", record.raw

    @staticmethod
    def _keep(
        session: Session,
        source: Source,
        summary: RunSummary,
        status: ItemStatus,
        reason: str,
        raw: str | None,
        record: RawRecord | BrokenRecord,
    ) -> None:
        session.add(
            HarvestItem(
                run_id=summary.run_id,
                remote_id=record.remote_id,
                status=status,
                reason=reason,
                raw=raw[:RAW_LIMIT] if raw is not None else None,
            )
        )
        summary.counts[status.value] += 1
        RECORDS.labels(source=source.name, outcome=status.value).inc()
        if isinstance(record, BrokenRecord) and record.incomplete:
            summary.incomplete_reason = record.reason

    @staticmethod
    def _known_territories(
        session: Session,
        mapped: list[
            tuple[RawRecord | BrokenRecord, list[Output] | tuple[ItemStatus, str, str | None]]
        ],
    ) -> dict[tuple[str, str], TerritoryRow]:
        codes = {
            o.code
            for _, result in mapped
            if isinstance(result, list)
            for o in result
            if isinstance(o, TerritoryUpserted)
        }
        if not codes:
            return {}
        rows = session.scalars(select(TerritoryRow).where(TerritoryRow.code.in_(codes)))
        return {(row.code, row.level): row for row in rows}

    def _publish_if_changed(
        self,
        session: Session,
        source: Source,
        output: Output,
        summary: RunSummary,
        known: dict[str, SourceRecord],
        territories: dict[tuple[str, str], TerritoryRow],
    ) -> str:
        key = output_key(output)
        digest = content_hash(output)
        now = utcnow()
        existing = known.get(key)
        if existing is not None and existing.content_hash == digest and not existing.archived_at:
            return "unchanged"
        outcome = "new" if existing is None or existing.archived_at else "updated"
        if summary.dry_run:
            return outcome
        version = existing.version + 1 if existing else 1
        output = output.model_copy(update={"version": version})
        if existing is None:
            # remembered at once: the same record twice in one file updates, never re-inserts
            known[key] = SourceRecord(
                key=key,
                tenant_id=summary.tenant,
                source=source.name,
                remote_id=_remote_id(output),
                content_hash=digest,
                version=version,
                first_seen_at=now,
                last_seen_at=now,
            )
            session.add(known[key])
        else:
            existing.content_hash, existing.version = digest, version
            existing.last_seen_at, existing.archived_at = now, None
        if isinstance(output, TerritoryUpserted):
            _remember_territory(session, output, territories)
        self._stage(session, summary.tenant, output, subject=key)
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


def _remember_territory(
    session: Session, output: TerritoryUpserted, known: dict[tuple[str, str], TerritoryRow]
) -> None:
    data = output.model_dump(mode="json")
    row = known.get((output.code, output.level.value))
    if row is None:
        row = TerritoryRow(code=output.code, level=output.level.value, name=output.name, data=data)
        known[(output.code, output.level.value)] = row
        session.add(row)
    else:
        row.name, row.data = output.name, data


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
