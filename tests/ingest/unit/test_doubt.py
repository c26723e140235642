"""When a run must not be applied (``harvester.doubt``), and territories read from a file for
the territory asked for (``--territory``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from citela_ingest.harvester import PreviousRun, RunSummary, doubt
from citela_ingest.sources.territories import TerritoriesSource
from tests.ingest.unit.helpers import GEO, context, harvest

PREVIOUS = PreviousRun("run-1", kept=120, started_at=datetime(2026, 12, 2, 3, 0, tzinfo=UTC))


def summary(incomplete: str | None = None, outside: int = 0, **counts: int) -> RunSummary:
    run = RunSummary("run-2", "service-public", "agglo-pau", counts=Counter(counts))
    run.incomplete_reason = incomplete
    run.outside_territory = outside
    run.outside_example = "office outside territory 64 (commune 33063)" if outside else None
    return run


def judge(run: RunSummary, *, accept_shrink: bool = False, cut_short: bool = False) -> str | None:
    """``doubt`` for the CA Pau Béarn Pyrénées, whose last complete run kept 120 entries."""
    return doubt(
        run,
        territory_code="200067254",
        previous=PREVIOUS,
        min_share=0.5,
        accept_shrink=accept_shrink,
        cut_short=cut_short,
    )


def test_the_rules_in_order_and_what_accept_shrink_waives() -> None:
    unreadable = summary("la source n'a pas pu être lue en entier (export.json is truncated)")
    assert judge(unreadable) == unreadable.incomplete_reason
    assert judge(unreadable, accept_shrink=True) == unreadable.incomplete_reason

    empty = judge(summary())
    assert empty is not None
    assert empty.startswith("aucun enregistrement lu")
    outside = judge(summary(outside=80, skipped=80))
    assert outside == (
        "aucun enregistrement du territoire 200067254 : les 80 enregistrements lus sont hors "
        "du territoire (par exemple : office outside territory 64 (commune 33063)) — fichier "
        "d'un autre territoire ? rien n'est archivé"
    )
    unusable = judge(summary(invalid=3, skipped=1))
    assert unusable is not None
    assert unusable.startswith("aucun enregistrement utilisable du territoire 200067254 : 3")
    shrunk = judge(summary(unchanged=50, invalid=2))
    assert shrunk == (
        "50 enregistrements retenus contre 120 à la dernière collecte complète du 02/12/2026 "
        "(moins de 50 %, CITELA_INGEST_MIN_SHARE_OF_PREVIOUS) : rien n'est archivé ; si la "
        "source a vraiment diminué, relancez avec --accept-shrink"
    )
    assert judge(summary(unchanged=60)) is None, "exactly half is enough"
    assert doubt(summary(new=1), territory_code="64", previous=None, min_share=0.5) is None
    for shrink in (summary(), summary(outside=80, skipped=80), summary(unchanged=50)):
        assert judge(shrink, accept_shrink=True) is None
    assert judge(summary(unchanged=10), cut_short=True) is None  # --max-items


def test_territories_from_a_file_keep_the_territory_asked_for() -> None:
    oise = GEO / "communes_codeDepartement_60.json"
    whole = harvest(TerritoriesSource.from_path(oise, territory_code="60"), context())
    assert len(whole.outputs) == 679
    assert not whole.skipped

    epci = harvest(TerritoriesSource.from_path(oise, territory_code="246000764"), context())
    assert sorted(t.name for t in epci.territories.values()) == [
        "Apremont",
        "Avilly-Saint-Léonard",
        "Chantilly",
        "Coye-la-Forêt",
        "Gouvieux",
        "La Chapelle-en-Serval",
        "Lamorlaye",
        "Mortefontaine",
        "Orry-la-Ville",
        "Plailly",
        "Vineuil-Saint-Firmin",
    ]
    assert (
        epci.skipped["commune:60001"] == "commune 60001 (Abancourt) is outside territory 246000764"
    )

    chantilly = harvest(TerritoriesSource.from_path(oise, territory_code="60141"), context())
    assert [t.name for t in chantilly.territories.values()] == ["Chantilly"]
    regions = harvest(
        TerritoriesSource.from_path(GEO / "regions.json", territory_code="60141"), context()
    )
    assert len(regions.outputs) == 18, "régions and départements: the national frame, kept"
    paris = harvest(
        TerritoriesSource.from_path(
            GEO / "communes_codeDepartement_75_with_arrondissements.json", territory_code="75056"
        ),
        context(),
    )
    assert len(paris.outputs) == 21, "Paris and its 20 arrondissements"
