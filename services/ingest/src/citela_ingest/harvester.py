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
                    for record in batch:
                        self._item(session, source, ctx, record, summary)
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

    def _item(
        self,
        session: Session,
        source: Source,
        ctx: HarvestContext,
        record: RawRecord | BrokenRecord,
        summary: RunSummary,
    ) -> None:
        def keep(
            status: ItemStatus,
            reason: str | None = None,
            raw: str | None = None,
            remote_id: str | None = None,
            entry_id: str | None = None,
            outcome: str | None = None,
        ) -> None:
            session.add(
                HarvestItem(
                    run_id=summary.run_id,
                    remote_id=remote_id,
                    entry_id=entry_id,
                    status=status,
                    reason=reason,
                    raw=raw[:RAW_LIMIT] if raw is not None else None,
                    outcome=outcome,
                )
            )
            if status is not ItemStatus.DONE:
                summary.counts[status.value] += 1
                RECORDS.labels(source=source.name, outcome=status.value).inc()

        if isinstance(record, BrokenRecord):
            keep(ItemStatus.INVALID, record.reason, record.raw, record.remote_id)
            if record.incomplete:
                summary.incomplete_reason = record.reason
            return
        try:
            outputs = list(source.map_record(record, ctx))
        except SkipRecord as skip:
            keep(ItemStatus.SKIPPED, skip.reason, remote_id=record.remote_id)
            return
        except InvalidRecord as invalid:
            keep(ItemStatus.INVALID, invalid.reason, record.raw, record.remote_id)
            return
        except Exception as exc:
            log.exception("ingest.map_error", source=source.name, remote_id=record.remote_id)
            keep(
                ItemStatus.INVALID,
                f"unexpected error while mapping: {exc!r}",
                record.raw,
                record.remote_id,
            )
            return
        for output in outputs:
            outcome = self._publish_if_changed(session, source, output, summary)
            keep(
                ItemStatus.DONE,
                remote_id=record.remote_id,
                entry_id=output_key(output),
                outcome=outcome,
            )
            summary.counts[outcome] += 1
            RECORDS.labels(source=source.name, outcome=outcome).inc()

    def _publish_if_changed(
        self, session: Session, source: Source, output: Output, summary: RunSummary
    ) -> str:
        key = output_key(output)
        digest = content_hash(output)
        now = utcnow()
        existing = session.get(SourceRecord, (key, summary.tenant))
        if existing is not None and existing.content_hash == digest and not existing.archived_at:
            if not summary.dry_run:
                existing.last_seen_at = now
            return "unchanged"
        outcome = "new" if existing is None or existing.archived_at else "updated"
        if summary.dry_run:
            return outcome
        version = existing.version + 1 if existing else 1
        output = output.model_copy(update={"version": version})
        if existing is None:
            session.add(
                SourceRecord(
                    key=key,
                    tenant_id=summary.tenant,
                    source=source.name,
                    remote_id=_remote_id(output),
                    content_hash=digest,
                    version=version,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
        else:
            existing.content_hash, existing.version = digest, version
            existing.last_seen_at, existing.archived_at = now, None
        if isinstance(output, TerritoryUpserted):
            _remember_territory(session, output)
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


def _remember_territory(session: Session, output: TerritoryUpserted) -> None:
    row = session.get(TerritoryRow, (output.code, output.level.value))
    data = output.model_dump(mode="json")
    if row is None:
        session.add(
            TerritoryRow(code=output.code, level=output.level.value, name=output.name, data=data)
        )
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
