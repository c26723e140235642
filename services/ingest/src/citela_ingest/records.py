"""What a source hands to the harvester, and how it says a record is not usable.

Framework-free: sources and the harvester share only these types.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from citela_common.events.models import CatalogueEntryUpserted, TerritoryUpserted
from citela_ingest.limits import ReadLimits
from citela_ingest.policy_areas import policy_area_for

# What a source produces for one record: catalogue entries (version 0: the harvester numbers
# them) or territories. One record may give several (e.g. a commune and its arrondissements).
Output = CatalogueEntryUpserted | TerritoryUpserted


class Fetcher(Protocol):
    """Reads a JSON document over HTTP (implemented by citela_ingest.http.HttpFetcher).

    Raises citela_ingest.http.FetchError when the source cannot be read after its retries.
    Returns None for 304 Not Modified (a conditional request whose answer has not changed).
    """

    def get_json(self, url: str, params: dict[str, str | int] | None = None) -> Any: ...


@dataclass(frozen=True)
class RawRecord:
    """One record as listed by a source, before mapping.

    ``raw`` may be left empty when it is the JSON text of ``payload``: ``raw_input()`` writes it
    only for the few records kept aside (a national export would otherwise serialise every
    record once more just in case).
    """

    remote_id: str
    payload: Any
    raw: str = field(repr=False, default="")
    remote_updated_at: datetime | None = None

    def raw_input(self) -> str:
        """The raw input as kept with an invalid item."""
        if self.raw:
            return self.raw
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class BrokenRecord:
    """Something the listing could not even turn into a record (truncated file, bad encoding)."""

    reason: str
    raw: str = field(repr=False, default="")
    remote_id: str | None = None
    # True when the rest of the listing could not be read (truncated file, API window, a
    # layout not as expected, a size limit passed): the run fails as a whole and nothing is
    # archived, since what was not seen may well still exist.
    incomplete: bool = False
    # what the official reads as the run's reason when ``incomplete`` (French); without it,
    # the harvester words one around ``reason``
    explanation: str | None = None

    def run_reason(self) -> str:
        """Why the run failed as a whole, in French (``incomplete`` records only)."""
        return self.explanation or (
            f"la source n'a pas pu être lue en entier, rien n'est archivé ({self.reason})"
        )


class SkipRecord(Exception):
    """The record is valid but not for us (outside the territory, not published…).

    ``outside_territory``: skipped because it lies in another territory. A run whose records
    all do is a file of another territory: it fails rather than archive the tenant's entries.
    """

    def __init__(self, reason: str, *, outside_territory: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outside_territory = outside_territory


class InvalidRecord(Exception):
    """The record breaks the source's format; kept aside with this reason and its raw input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Territory:
    """The communes a harvest is for (from the territories source) and how to label entries."""

    code: str
    name: str
    commune_codes: frozenset[str]
    epci_codes: frozenset[str] = frozenset()
    departement_codes: frozenset[str] = frozenset()
    # commune code -> (EPCI SIREN, département code): to fill an entry's territory codes
    commune_parents: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def covers(self, commune_code: str | None) -> bool:
        return commune_code is not None and commune_code in self.commune_codes


@dataclass(frozen=True)
class HarvestContext:
    """Everything a source needs to map a record, besides the record."""

    territory: Territory | None
    policy_areas: dict[str, str]  # source type -> policy area (tenant overrides applied)
    downloaded_at: datetime
    download_url: str | None = None


class Source:
    """A feed: lists its records and maps one record. The harvester owns the rest."""

    name: ClassVar[str]  # "service-public", "datagouv", "datatourisme", "territories"
    licence: ClassVar[str] = "Licence Ouverte v2.0 (Etalab)"
    # map_record needs nothing but the record, the context and for_mapping()'s copy: a large
    # run may map in worker processes (citela_ingest.mapping)
    parallel_mapping: ClassVar[bool] = False
    # what listing may read (file sizes, ZIP archives); runs.make_source sets the settings'
    limits: ReadLimits = ReadLimits()
    # answers "304 Not Modified" met while listing: their records were not listed again, so
    # the run concludes nothing from what it did not see (no count rule, no archiving)
    not_modified: int = 0

    def list_records(self) -> Iterator[RawRecord | BrokenRecord]:
        raise NotImplementedError

    def key_of(self, remote_id: str) -> str:
        """The stored key of a record's entry (``output_key`` of what it maps to): how a record
        that is still listed but invalid now keeps its last good version."""
        return f"{self.name}:{remote_id}"

    def map_record(self, record: RawRecord, ctx: HarvestContext) -> Iterable[Output]:
        """Normalise one record; raise SkipRecord or InvalidRecord to say why not."""
        raise NotImplementedError

    def for_mapping(self) -> Source:
        """What a worker process needs to map records (pickled): this source by default."""
        return self

    def licence_of(self, record: RawRecord) -> str | None:
        """The licence of a record's data: the source's, unless the record names its own."""
        return self.licence

    def provenance(
        self, record: RawRecord, ctx: HarvestContext, *, updated: datetime | None
    ) -> dict[str, Any]:
        """Where an output comes from (``Provenance``'s fields: validated with the output, in
        one pass in pydantic's core)."""
        return {
            "source": self.name,
            "remote_id": record.remote_id,
            "remote_updated_at": updated,
            "licence": self.licence_of(record),
            "download_url": ctx.download_url,
            "downloaded_at": ctx.downloaded_at,
        }

    def entry(
        self,
        record: RawRecord,
        ctx: HarvestContext,
        *,
        source_type: str | None,
        updated: datetime | None,
        **fields: Any,
    ) -> CatalogueEntryUpserted:
        """The catalogue entry of ``record``: its id, the area of its source type in the
        tenant's table, its provenance and date, and ``fields`` (kind, title…). Version 0: the
        harvester numbers it."""
        return CatalogueEntryUpserted(
            entry_id=f"{self.name}:{record.remote_id}",
            version=0,
            source_type=source_type,
            policy_area=policy_area_for(source_type, ctx.policy_areas),
            provenance=self.provenance(record, ctx, updated=updated),
            updated_at=updated or ctx.downloaded_at,
            **fields,
        )
