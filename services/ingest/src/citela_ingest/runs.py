"""Starting a harvest: which source, for which territory, read from where.

Shared by the CLI, the Celery tasks and the tests, so that a run behaves the same whoever
starts it. The source reads a file or folder when one is given, else its real HTTP API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from citela_common.db import Database, utcnow
from citela_common.events.models import TerritoryUpserted
from citela_common.tenancy import scope_to_tenant
from citela_ingest.harvester import Harvester, RunSummary
from citela_ingest.http import HttpFetcher
from citela_ingest.limits import ReadLimits
from citela_ingest.models import PolicyAreaOverride, TerritoryRow
from citela_ingest.policy_areas import policy_area_table
from citela_ingest.records import Fetcher, HarvestContext, Source, Territory
from citela_ingest.settings import IngestSettings
from citela_ingest.sources.datagouv import DEFAULT_DATAGOUV_API, DatagouvSource
from citela_ingest.sources.datatourisme import DatatourismeSource
from citela_ingest.sources.service_public import DEFAULT_API_BASE, ServicePublicSource
from citela_ingest.sources.territories import (
    DEFAULT_GEO_API,
    TerritoriesSource,
    territory_from,
)

DEFAULT_LIMITS = ReadLimits()
SOURCES = ("territories", "service-public", "datagouv", "datatourisme")


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the sources' APIs (configurable: hosts move, tests replay recordings)."""

    geo_api: str = DEFAULT_GEO_API
    service_public: str = DEFAULT_API_BASE
    datagouv: str = DEFAULT_DATAGOUV_API

    def url_of(self, source: str) -> str | None:
        return {
            "territories": self.geo_api,
            "service-public": self.service_public,
            "datagouv": self.datagouv,
        }.get(source)

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> Endpoints:
        return cls(settings.geo_api_url, settings.service_public_api_url, settings.datagouv_api_url)


class RunRefused(ValueError):
    """The run cannot start (unknown source, territory not harvested yet, missing file)."""


def load_territory(db: Database, code: str) -> Territory:
    """The territory a tenant covers, from the geography harvested by the territories source."""
    with db.transaction() as session:
        rows = session.scalars(select(TerritoryRow)).all()
        outputs = [TerritoryUpserted.model_validate(row.data) for row in rows]
    try:
        return territory_from(outputs, code)
    except LookupError:
        raise RunRefused(
            f"territory {code!r} is unknown: harvest it first with "
            f"`citela ingest territories --territory {code}`"
        ) from None


def policy_areas(db: Database, tenant: str) -> dict[str, str]:
    """The documented source type → policy area table with the tenant's overrides applied."""
    with db.transaction() as session:
        scope_to_tenant(session, tenant)
        overrides = {
            o.source_type: o.policy_area for o in session.scalars(select(PolicyAreaOverride))
        }
    return policy_area_table(overrides, allow_custom=True)


def set_policy_area(db: Database, tenant: str, source_type: str, area: str) -> None:
    """The tenant's policy area for a source type, in place of the documented one."""
    with db.transaction() as session:
        scope_to_tenant(session, tenant)
        row = session.get(PolicyAreaOverride, (tenant, source_type))
        if row is None:
            session.add(
                PolicyAreaOverride(tenant_id=tenant, source_type=source_type, policy_area=area)
            )
        else:
            row.policy_area = area


def make_source(
    name: str,
    *,
    path: Path | None,
    fetcher: Fetcher | None,
    territory_code: str,
    territory: Territory | None,
    endpoints: Endpoints = Endpoints(),
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Source:
    """The source ``name`` reading ``path`` (or its API through ``fetcher``) within ``limits``."""
    source = _source(
        name,
        path=path,
        fetcher=fetcher,
        territory_code=territory_code,
        territory=territory,
        endpoints=endpoints,
    )
    source.limits = limits
    return source


def _source(
    name: str,
    *,
    path: Path | None,
    fetcher: Fetcher | None,
    territory_code: str,
    territory: Territory | None,
    endpoints: Endpoints,
) -> Source:
    if path is not None and not path.exists():
        raise RunRefused(f"no such file or folder: {path}")
    if name == "territories":
        if path is not None:
            # a file may hold more than the territory (a whole département, the country):
            # only the territory's communes and EPCIs are kept, the others skipped
            return TerritoriesSource.from_path(path, territory_code=territory_code)
        assert fetcher is not None
        code = territory_code
        return TerritoriesSource.from_api(
            fetcher,
            base_url=endpoints.geo_api,
            departement_codes=[code] if len(code) in (2, 3) else [],
            epci_codes=[code] if len(code) == 9 else [],
            commune_codes=[code] if len(code) == 5 else [],
        )
    if territory is None:
        raise RunRefused(f"source {name!r} needs a territory")
    if name == "service-public":
        if path is not None:
            return ServicePublicSource.from_file(path)
        assert fetcher is not None
        return ServicePublicSource.from_api(
            fetcher,
            base_url=endpoints.service_public,
            commune_codes=sorted(territory.commune_codes),
        )
    if name == "datagouv":
        if path is not None:
            return DatagouvSource.from_file(path)
        assert fetcher is not None
        return DatagouvSource.from_api(
            fetcher,
            base_url=endpoints.datagouv,
            geozones=[f"fr:commune:{c}" for c in sorted(territory.commune_codes)],
        )
    if name == "datatourisme":
        if path is None:
            raise RunRefused("DATAtourisme is read from a flux export: give --file (folder or ZIP)")
        return DatatourismeSource.from_path(path)
    raise RunRefused(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}")


def run_harvest(
    db: Database,
    source_name: str,
    *,
    tenant: str,
    territory_code: str,
    path: Path | None = None,
    fetcher: Fetcher | None = None,
    dry_run: bool = False,
    max_items: int | None = None,
    grace_period: timedelta = timedelta(days=3),
    on_commit: Callable[[], None] | None = None,
    progress: Callable[[RunSummary], None] | None = None,
    endpoints: Endpoints = Endpoints(),
    map_workers: int | None = None,
    parallel_after: int = 4_000,
    limits: ReadLimits = DEFAULT_LIMITS,
    min_share: float = 0.5,
    accept_shrink: bool = False,
) -> RunSummary:
    """One run; ``map_workers``, ``parallel_after``, ``min_share``: see ``Harvester``;
    ``accept_shrink``: the official knows the source shrank (harvester's docstring)."""
    territory = None if source_name == "territories" else load_territory(db, territory_code)
    own_fetcher = fetcher is None and path is None
    if own_fetcher:
        fetcher = HttpFetcher(max_bytes=limits.max_file_bytes)
    try:
        source = make_source(
            source_name,
            path=path,
            fetcher=fetcher,
            territory_code=territory_code,
            territory=territory,
            endpoints=endpoints,
            limits=limits,
        )
        ctx = HarvestContext(
            territory=territory,
            policy_areas=policy_areas(db, tenant),
            downloaded_at=utcnow(),
            download_url=str(path.resolve()) if path else endpoints.url_of(source_name),
        )
        harvester = Harvester(
            db,
            grace_period=grace_period,
            on_commit=on_commit,
            map_workers=map_workers,
            parallel_after=parallel_after,
            min_share=min_share,
        )
        return harvester.run(
            source,
            ctx,
            tenant=tenant,
            dry_run=dry_run,
            max_items=max_items,
            location=str(path) if path else "api",
            progress=progress,
            territory_code=territory_code,
            accept_shrink=accept_shrink,
        )
    finally:
        if own_fetcher and isinstance(fetcher, HttpFetcher):
            fetcher.close()
