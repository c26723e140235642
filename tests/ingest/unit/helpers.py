"""What the source tests share: the fixtures folder, a harvest context, a fake Fetcher, and a
small driver that lists and maps a source the way the harvester does (without its store)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citela_common.events.models import CatalogueEntryUpserted, TerritoryUpserted
from citela_ingest.policy_areas import policy_area_table
from citela_ingest.records import (
    BrokenRecord,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
    Source,
    Territory,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "opendata"
GEO = FIXTURES / "geo-api"
SERVICE_PUBLIC = FIXTURES / "service-public"
DATAGOUV = FIXTURES / "datagouv"
DATATOURISME = FIXTURES / "datatourisme"

# the day the DATAtourisme samples were exported (index.json), 10:00 in Paris
HARVESTED_AT = datetime(2023, 11, 9, 9, 0, tzinfo=UTC)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def context(
    territory: Territory | None = None,
    *,
    overrides: Mapping[str, str | None] | None = None,
    at: datetime = HARVESTED_AT,
) -> HarvestContext:
    return HarvestContext(
        territory=territory,
        policy_areas=policy_area_table(overrides),
        downloaded_at=at,
        download_url="file://fixtures",
    )


@dataclass
class Harvest:
    """What one pass over a source gave, by outcome (keyed by remote id where there is one)."""

    outputs: list[Output] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    broken: list[BrokenRecord] = field(default_factory=list)
    records: list[RawRecord] = field(default_factory=list)

    @property
    def entries(self) -> dict[str, CatalogueEntryUpserted]:
        return {o.entry_id: o for o in self.outputs if isinstance(o, CatalogueEntryUpserted)}

    @property
    def territories(self) -> dict[str, TerritoryUpserted]:
        return {
            f"{o.level.value}:{o.code}": o for o in self.outputs if isinstance(o, TerritoryUpserted)
        }


def harvest(source: Source, ctx: HarvestContext | None = None) -> Harvest:
    ctx = ctx or context()
    result = Harvest()
    for record in source.list_records():
        if isinstance(record, BrokenRecord):
            result.broken.append(record)
            continue
        result.records.append(record)
        try:
            result.outputs.extend(source.map_record(record, ctx))
        except SkipRecord as exc:
            result.skipped[record.remote_id] = exc.reason
        except InvalidRecord as exc:
            result.invalid[record.remote_id] = exc.reason
    return result


def _key(
    url: str, params: Mapping[str, str | int] | None
) -> tuple[str, frozenset[tuple[str, str]]]:
    return url, frozenset((k, str(v)) for k, v in (params or {}).items())


class FakeFetcher:
    """Stands in for the remote API: answers from a dict of (url, params) → JSON document,
    records every call, and fails the test on a request it was not told about."""

    def __init__(self) -> None:
        self.pages: dict[tuple[str, frozenset[tuple[str, str]]], Any] = {}
        self.calls: list[tuple[str, dict[str, str | int]]] = []

    def add(self, url: str, params: Mapping[str, str | int] | None, document: Any) -> None:
        self.pages[_key(url, params)] = document

    def get_json(self, url: str, params: dict[str, str | int] | None = None) -> Any:
        self.calls.append((url, dict(params or {})))
        key = _key(url, params)
        if key not in self.pages:
            raise AssertionError(f"unexpected request {url} {params}")
        return self.pages[key]
