"""The map stage: each output's hash and event as the harvester stores them, and the same results
in the same order whether records are mapped in this process or in worker processes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import pytest

from citela_common.events.envelope import CloudEvent
from citela_common.events.models import TerritoryUpserted, make_event, parse_data
from citela_ingest.mapping import (
    EVENT_SOURCE,
    ItemStatus,
    MappedRecord,
    Mapper,
    Record,
    content_hash,
    prepare,
)
from citela_ingest.records import HarvestContext, Output, RawRecord, Source
from citela_ingest.sources.service_public import ServicePublicSource
from citela_ingest.sources.territories import TerritoriesSource, territory_from
from tests.ingest.unit.helpers import GEO, SERVICE_PUBLIC, context

E2E = SERVICE_PUBLIC.parent / "e2e-aire-cantilienne" / "service-public"
TENANT = "cc-aire-cantilienne"
EXPORT = SERVICE_PUBLIC / "export_datagouv_gouv_local_mairie-fontaine-le-port.json"
API_PAGE = SERVICE_PUBLIC / "api_lannuaire_records_where_siret_20004021000060.json"


def oise_context() -> HarvestContext:
    """The Oise as the territories source reads it (the geo.api answer for département 60)."""
    outputs = outputs_of(TerritoriesSource.from_path(GEO / "communes_codeDepartement_60.json"))
    base = context()
    return HarvestContext(
        territory_from(outputs, "60"), base.policy_areas, base.downloaded_at, base.download_url
    )


def outputs_of(source: Source, ctx: HarvestContext | None = None) -> list[Output]:
    ctx = ctx or context()
    return [
        output
        for record in source.list_records()
        if isinstance(record, RawRecord)
        for output in source.map_record(record, ctx)
    ]


def test_an_outputs_hash_and_event_are_those_of_the_output_numbered() -> None:
    # a download URL with quotes and the key names the hash leaves out: they stay in the URL
    ctx = context()
    ctx = HarvestContext(None, ctx.policy_areas, ctx.downloaded_at, 'C:\\"export",download_url')
    geo = TerritoriesSource.from_path(GEO / "communes_nom_Coye-la-Foret.json")
    outputs = [
        *outputs_of(ServicePublicSource.from_file(EXPORT), ctx),
        *outputs_of(ServicePublicSource.from_file(API_PAGE), ctx),
        *outputs_of(geo, ctx),
    ]
    assert any(isinstance(o, TerritoryUpserted) for o in outputs)
    for output in outputs:
        prepared = prepare(output, TENANT)
        assert prepared.digest == content_hash(output)
        numbered = output.model_copy(update={"version": 3})
        envelope = json.loads(prepared.envelope(3))
        event = CloudEvent.model_validate(envelope)
        assert parse_data(event) == numbered
        assert (event.id, event.tenant, event.source) == (prepared.event_id, TENANT, EVENT_SOURCE)
        assert event.subject == prepared.key
        expected = make_event(numbered, tenant=TENANT, source=EVENT_SOURCE, subject=prepared.key)
        assert list(envelope) == list(expected.model_dump(mode="json"))  # the same shape
        assert prepared.output() == output


def listing() -> list[Record]:
    """Offices, traps (no name, bad point, unknown type…) and a truncated file's broken tail,
    a few hundred records in all."""
    files = [E2E / "export.json", E2E / "traps.json", E2E / "api_page.json", E2E / "truncated.json"]
    records: list[Record] = []
    for _ in range(40):
        for path in files:
            records.extend(ServicePublicSource.from_file(path).list_records())
    return records


def comparable(results: Iterable[MappedRecord]) -> list[Any]:
    """What a run stores of each result, less the event ids and times (new for each event)."""
    out: list[Any] = []
    for result in results:
        if isinstance(result.mapped, tuple):
            out.append((result.remote_id, result.incomplete, *result.mapped))
            continue
        for p in result.mapped:
            data = json.loads(p.envelope(1))
            del data["id"], data["time"]
            out.append((result.remote_id, p.key, p.digest, p.remote_id, p.territory, data))
    return out


def test_records_mapped_in_worker_processes_come_back_in_order_as_if_mapped_here() -> None:
    ctx = oise_context()
    source = ServicePublicSource.from_file(E2E / "export.json")
    records = listing()
    with Mapper(source, ctx, TENANT, workers=0) as here:
        expected = list(here.map(records))
    with Mapper(source, ctx, TENANT, workers=2, parallel_after=0, chunk_size=25) as mapper:
        results = list(mapper.map(records))
    raw = sum(isinstance(r, RawRecord) for r in records)
    assert mapper.mapped_elsewhere == raw
    assert comparable(results) == comparable(expected)
    statuses = {r.mapped[0] for r in results if isinstance(r.mapped, tuple)}
    assert statuses == {ItemStatus.INVALID, ItemStatus.SKIPPED}
    assert any(r.incomplete for r in results), "the truncated file's end is kept as such"


def test_a_small_listing_is_mapped_without_starting_a_process() -> None:
    records = list(ServicePublicSource.from_file(E2E / "export.json").list_records())
    source = ServicePublicSource.from_file(E2E / "export.json")
    with Mapper(source, oise_context(), TENANT, workers=2) as mapper:
        results = list(mapper.map(records))
    assert len(results) == len(records)
    assert mapper.mapped_elsewhere == 0


class DyingSource(ServicePublicSource):
    """Maps like Service-Public in the harvest's process; any worker process mapping it dies."""

    parent = 0  # the harvest's process, set on the instance (pickled with it)

    def map_record(self, record: RawRecord, ctx: HarvestContext) -> Iterable[Output]:
        if os.getpid() != self.parent:
            os._exit(3)
        return super().map_record(record, ctx)


def test_a_worker_that_dies_costs_only_time() -> None:
    ctx = oise_context()
    records = listing()
    with Mapper(ServicePublicSource.from_file(E2E / "export.json"), ctx, TENANT, workers=0) as m:
        expected = comparable(m.map(records))
    source = DyingSource(path=E2E / "export.json")
    source.parent = os.getpid()
    with Mapper(source, ctx, TENANT, workers=2, parallel_after=0, chunk_size=25) as mapper:
        results = comparable(mapper.map(records))
    assert mapper.mapped_elsewhere == 0
    assert results == expected


@pytest.mark.parametrize("workers", [0, 2])
def test_a_source_that_does_not_declare_it_is_mapped_here(workers: int) -> None:
    communes = GEO / "communes_codeDepartement_60.json"
    source = TerritoriesSource.from_path(communes)
    assert not source.parallel_mapping
    records = list(source.list_records())
    with Mapper(source, context(), TENANT, workers=workers, parallel_after=0) as mapper:
        results = list(mapper.map(records))
    assert mapper.mapped_elsewhere == 0
    assert len(results) == len(records) == 679
