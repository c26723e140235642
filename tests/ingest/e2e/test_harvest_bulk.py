"""The harvest's bulk writes: hashes stored by earlier versions, a record twice in one file, a
run mapped in worker processes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from citela_common.db import utcnow
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import CatalogueEntryUpserted, parse_data
from citela_ingest.harvester import HASH_PREFIX, legacy_content_hash
from citela_ingest.models import HarvestItem, HarvestRun, Outbox, SourceRecord
from citela_ingest.records import HarvestContext, RawRecord, SkipRecord
from citela_ingest.runs import load_territory, policy_areas, run_harvest
from citela_ingest.sources.service_public import ServicePublicSource
from tests.ingest.e2e.conftest import E2E, EPCI, Platform

EXPORT = E2E / "service-public" / "export.json"


def stored_hashes(p: Platform) -> dict[str, str]:
    with p.ingest.db.transaction() as s:
        rows = s.execute(
            select(SourceRecord.key, SourceRecord.content_hash).where(
                SourceRecord.tenant_id == p.tenant, SourceRecord.source == "service-public"
            )
        )
        return {key: digest for key, digest in rows}


def test_hashes_stored_before_v2_count_as_unchanged_and_are_rewritten(
    with_oise: Platform,
) -> None:
    p = with_oise
    p.harvest("service-public", EXPORT)
    assert all(d.startswith(HASH_PREFIX) for d in stored_hashes(p).values())
    before = p.published()

    # the source records as an earlier version stored them: SHA-256 of the sorted JSON
    db = p.ingest.db
    ctx = HarvestContext(load_territory(db, EPCI), policy_areas(db, p.tenant), utcnow())
    source = ServicePublicSource.from_file(EXPORT)
    legacy: dict[str, str] = {}
    for record in source.list_records():
        assert isinstance(record, RawRecord)
        try:
            outputs = list(source.map_record(record, ctx))
        except SkipRecord:  # the office outside the territory
            continue
        legacy.update({o.entry_id: legacy_content_hash(o) for o in outputs})  # type: ignore[union-attr]
    with db.transaction() as s:
        for key, digest in legacy.items():
            s.execute(
                update(SourceRecord)
                .where(SourceRecord.tenant_id == p.tenant, SourceRecord.key == key)
                .values(content_hash=digest)
            )
    assert stored_hashes(p) == legacy

    again = p.harvest("service-public", EXPORT)
    assert (again.counts["unchanged"], again.counts["new"], again.counts["updated"]) == (2, 0, 0)
    assert p.published() == before, "same content under an older hash publishes nothing"
    rewritten = stored_hashes(p)
    assert rewritten.keys() == legacy.keys()
    assert all(d.startswith(HASH_PREFIX) for d in rewritten.values())


def test_a_record_twice_in_one_file_is_published_new_then_updated_in_order(
    with_oise: Platform, tmp_path: Path
) -> None:
    p = with_oise
    document = json.loads(EXPORT.read_text(encoding="utf-8"))
    mairie = document["service"][0]
    moved = copy.deepcopy(mairie)
    moved["telephone"] = [{"valeur": "03 44 62 42 01", "description": "Accueil"}]
    document["service"].append(moved)  # a later copy of the same office, with a new phone
    export = tmp_path / "export-twice.json"
    export.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    summary = p.harvest("service-public", export)
    assert (summary.counts["new"], summary.counts["updated"]) == (2, 1)

    key = f"service-public:{mairie['id']}"
    with p.ingest.db.transaction() as s:
        envelopes = s.scalars(
            select(Outbox.envelope).where(Outbox.tenant == p.tenant).order_by(Outbox.id)
        ).all()
        record = s.scalars(
            select(SourceRecord).where(SourceRecord.tenant_id == p.tenant, SourceRecord.key == key)
        ).one()
    events = [CloudEvent.model_validate(e) for e in envelopes]
    mine = [e for e in events if e.subject == key]
    payloads = [parse_data(e) for e in mine]
    assert all(isinstance(d, CatalogueEntryUpserted) for d in payloads)
    entries = [d for d in payloads if isinstance(d, CatalogueEntryUpserted)]
    assert [d.version for d in entries] == [1, 2]
    assert record.version == 2
    phones = [c.value for c in entries[-1].contacts if c.kind == "phone"]
    assert phones == ["+33 3 44 62 42 01"]
    assert all(e.tenant == p.tenant and e.source == "/citela/ingest" for e in events)
    entry = p.get(f"/entries/{key}")
    assert [c["value"] for c in entry["contacts"] if c["kind"] == "phone"] == ["+33 3 44 62 42 01"]


def test_a_harvest_mapped_in_worker_processes_stores_and_publishes_the_same(
    with_oise: Platform,
) -> None:
    """The same export and traps, once mapped in two worker processes (this platform's tenant)
    and once in the harvest's process (another tenant): same items, records and events."""
    p = with_oise
    other = f"{p.tenant}-here"
    traps = E2E / "service-public" / "traps.json"
    for path in (EXPORT, traps):
        p.harvest("service-public", path, map_workers=2, parallel_after=0)
        run_harvest(
            p.ingest.db,
            "service-public",
            tenant=other,
            territory_code=EPCI,
            path=path,
            map_workers=0,
        )

    def stored(tenant: str) -> tuple[list[Any], list[Any], list[Any]]:
        with p.ingest.db.transaction() as s:
            items = s.execute(
                select(
                    HarvestItem.remote_id,
                    HarvestItem.entry_id,
                    HarvestItem.status,
                    HarvestItem.outcome,
                    HarvestItem.reason,
                    HarvestItem.raw,
                )
                .join(HarvestRun, HarvestRun.id == HarvestItem.run_id)
                .where(HarvestItem.tenant_id == tenant, HarvestRun.source == "service-public")
                .order_by(HarvestItem.id)
            ).all()
            records = s.execute(
                select(SourceRecord.key, SourceRecord.content_hash, SourceRecord.version)
                .where(SourceRecord.tenant_id == tenant, SourceRecord.source == "service-public")
                .order_by(SourceRecord.key)
            ).all()
            envelopes = s.scalars(
                select(Outbox.envelope)
                .where(
                    Outbox.tenant == tenant,
                    Outbox.event_type == CatalogueEntryUpserted.event_type,
                )
                .order_by(Outbox.id)
            ).all()
        events = []
        for envelope in envelopes:
            event = CloudEvent.model_validate(envelope)
            data = parse_data(event).model_dump(mode="json")
            del data["provenance"]["downloaded_at"]  # the time of each run
            events.append((event.type, event.subject, event.source, data))
        return [tuple(i) for i in items], [tuple(r) for r in records], events

    mine, here = stored(p.tenant), stored(other)
    assert mine == here
    items, records, events = mine
    assert {i[2] for i in items} == {"done", "invalid", "skipped"}
    assert len(records) == len(events) == 2
    entry = p.get(f"/entries/{records[0][0]}")
    assert entry["entry_id"] == records[0][0]
