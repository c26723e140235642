"""Ingest never archives on doubt, at the command line, with archiving due at once (grace 0).

A DATAtourisme flux of the Oise holds a real-looking abbey (the Abbaye royale de Chaalis, built
from the recorded restaurant object), a restaurant in Chantilly and an exhibition in
Coye-la-Forêt. Then come the ZIPs an official may really receive: an empty export, no
index.json, the objects in another folder, a ZIP in a ZIP, the file of another territory, a
third of the flux, a bomb, a truncated index. Each run fails as a whole: exit code 1, the
French reason printed and kept with the run (runs API), nothing archived: the abbey is still
in the catalogue. A record still upstream but invalid now (a coordinate typo) keeps its last
good version; ``--accept-shrink`` applies a shrink the official vouches for.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from citela_common.db import Database
from citela_common.settings import Settings, get_settings
from citela_ingest.models import SourceRecord
from citela_platform.cli import app
from citela_platform.embedded import create_embedded_app
from tests.ingest.e2e.conftest import E2E, FIXTURES, OISE, Platform

TENANT = "oise"
OBJECTS = E2E / "datatourisme" / "objects" / "0" / "00"
RESTAURANT = OBJECTS / "30-0049c43b-5087-3c44-87ef-349d316fc2b8.json"  # Chantilly
EXHIBITION_UUID = "00037bcf-28e4-3322-b72f-377587204703"
EXHIBITION = OBJECTS / f"49-{EXHIBITION_UUID}.json"  # Coye-la-Forêt
ELSEWHERE = FIXTURES / "datatourisme" / "flux_layout"  # the real ones: Manche, Maine-et-Loire
ABBEY_UUID = "6c0a1b2e-3d4f-3a5b-8c6d-7e8f9a0b1c2d"  # derived: never a real DATAtourisme id
ABBEY = f"datatourisme:{ABBEY_UUID}"
ABBEY_FILE = f"6/c0/60-{ABBEY_UUID}.json"


def abbey(*, latitude: str = "49.1636", longitude: str = "2.6884") -> dict[str, Any]:
    """The restaurant object re-made as the Abbaye royale de Chaalis, Fontaine-Chaalis (60241)."""
    item: dict[str, Any] = json.loads(RESTAURANT.read_text())
    item["@id"] = f"https://data.datatourisme.fr/60/{ABBEY_UUID}"
    item["dc:identifier"] = "TFOPCUPIC060V50ABBY"
    item["@type"] = ["PlaceOfInterest", "PointOfInterest", "CulturalSite", "ReligiousSite"]
    item["rdfs:label"] = {"fr": ["Abbaye royale de Chaalis"]}
    description = (
        "Ruines de l'abbaye cistercienne fondée en 1136, chapelle Sainte-Marie aux fresques "
        "du Primatice, roseraie et musée Jacquemart-André."
    )
    item["rdfs:comment"] = {"fr": [description]}
    item["hasDescription"] = [{"dc:description": {"fr": [description]}}]
    place = item["isLocatedAt"][0]
    address = place["schema:address"][0]
    address["schema:addressLocality"] = "Fontaine-Chaalis"
    address["schema:postalCode"] = "60300"
    address["schema:streetAddress"] = ["Domaine de Chaalis"]
    address["hasAddressCity"]["insee"] = "60241"
    place["schema:geo"]["schema:latitude"] = latitude
    place["schema:geo"]["schema:longitude"] = longitude
    return item


def index(*objects: tuple[str, dict[str, Any]]) -> str:
    return json.dumps(
        [
            {
                "label": item["rdfs:label"]["fr"][0],
                "lastUpdateDatatourisme": item["lastUpdateDatatourisme"],
                "file": file,
            }
            for file, item in objects
        ],
        ensure_ascii=False,
    )


def flux_zip(
    path: Path,
    objects: list[tuple[str, dict[str, Any]]],
    *,
    folder: str = "objects/",
    with_index: bool = True,
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if with_index:
            archive.writestr("index.json", index(*objects))
        for file, item in objects:
            archive.writestr(folder + file, json.dumps(item, ensure_ascii=False))
    return path


def bomb_zip(path: Path) -> Path:
    """The whole flux and one more object listed: 200 MiB of zeros, about 200 KB zipped
    (under the member and total limits by its header: only its ratio gives it away)."""
    bomb_file = "0/00/99-0b0b0b0b-0000-3000-8000-000000000000.json"
    objects = whole_flux()
    listing = json.loads(index(*objects))
    listing.append({"label": "Bombe", "file": bomb_file})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.json", json.dumps(listing, ensure_ascii=False))
        for file, item in objects:
            archive.writestr("objects/" + file, json.dumps(item, ensure_ascii=False))
        with archive.open("objects/" + bomb_file, "w", force_zip64=True) as member:
            zeros = b"\0" * (1 << 20)
            for _ in range(200):
                member.write(zeros)
    assert path.stat().st_size < 1 << 20
    return path


def whole_flux() -> list[tuple[str, dict[str, Any]]]:
    return [
        (ABBEY_FILE, abbey()),
        ("0/00/" + RESTAURANT.name, json.loads(RESTAURANT.read_text())),
        ("0/00/" + EXHIBITION.name, json.loads(EXHIBITION.read_text())),
    ]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CITELA_DATA_DIR", str(tmp_path / "var"))
    for key in ("CITELA_DATABASE_URL", "CITELA_KAFKA_BOOTSTRAP", "CITELA_REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


class Run(NamedTuple):
    exit_code: int
    output: str  # on one line: rich wraps long lines at the terminal's width
    run_id: str | None


def ingest(runner: CliRunner, source: str, path: Path, *options: str, territory: str = "60") -> Run:
    """`citela ingest SOURCE --file PATH` for the tenant, archiving due at once (grace 0)."""
    result = runner.invoke(
        app,
        [
            "ingest",
            source,
            "--territory",
            territory,
            "--tenant",
            TENANT,
            "--file",
            str(path),
            "--grace-days",
            "0",
            *options,
        ],
    )
    output = " ".join(result.output.split())
    run_id = output.split(" run ")[1].split()[0] if " run " in output else None
    return Run(result.exit_code, output, run_id)


def archived(data_dir: Path) -> list[str]:
    """The keys the ingest store has archived (read from its SQLite file)."""
    db = Database(Settings(data_dir=data_dir).resolved_database_url, "ingest")
    try:
        with db.transaction() as session:
            return list(
                session.scalars(
                    select(SourceRecord.key).where(SourceRecord.archived_at.is_not(None))
                )
            )
    finally:
        db.engine.dispose()


def test_a_doubtful_run_fails_archives_nothing_and_says_why(
    runner: CliRunner, tmp_path: Path
) -> None:
    first = ingest(runner, "territories", OISE)
    assert first.exit_code == 0, first.output
    good = ingest(runner, "datatourisme", flux_zip(tmp_path / "flux.zip", whole_flux()))
    assert good.exit_code == 0, good.output

    truncated_index = tmp_path / "tronque.zip"
    with zipfile.ZipFile(truncated_index, "w") as archive:
        archive.writestr("index.json", index(*whole_flux())[:150])  # cut inside an entry
        for file, item in whole_flux():
            archive.writestr("objects/" + file, json.dumps(item))
    nested = tmp_path / "envoi.zip"
    with zipfile.ZipFile(nested, "w") as archive:
        archive.write(tmp_path / "flux.zip", "flux-oise.zip")
    cases: dict[str, tuple[Path, str]] = {
        "export vide": (
            flux_zip(tmp_path / "vide.zip", []),
            "aucun enregistrement lu : le fichier ou la réponse de la source est vide",
        ),
        "sans index.json": (
            flux_zip(tmp_path / "sans-index.zip", whole_flux(), with_index=False),
            "aucun enregistrement lu : archive DATAtourisme sans index.json (disposition "
            "attendue : index.json + objects/…) ; fichiers JSON trouvés sous : objects/",
        ),
        "objets ailleurs": (
            flux_zip(tmp_path / "ailleurs.zip", whole_flux(), folder="data/"),
            "aucun enregistrement lu : les objets listés par index.json sont introuvables sous "
            f"objects/ (premier attendu : objects/{ABBEY_FILE}) ; fichiers JSON trouvés sous : "
            "data/",
        ),
        "ZIP dans un ZIP": (nested, "contient une autre archive ZIP (flux-oise.zip)"),
        "autre territoire": (
            ELSEWHERE,
            "aucun enregistrement du territoire 60 : les 2 enregistrements lus sont hors du "
            "territoire",
        ),
        "moins de 50 %": (
            flux_zip(tmp_path / "un-tiers.zip", whole_flux()[1:2]),
            "1 enregistrements retenus contre 3 à la dernière collecte complète",
        ),
        "bombe": (bomb_zip(tmp_path / "bombe.zip"), "une bombe de décompression ?"),
        "index tronqué": (truncated_index, "index.json is truncated"),
    }
    runs: dict[str, str | None] = {}
    for case, (path, reason) in cases.items():
        result = ingest(runner, "datatourisme", path)
        assert result.exit_code == 1, f"{case}: {result.output}"
        assert "Collecte en échec, rien n'est archivé" in result.output, case
        assert reason in result.output, f"{case}: {result.output}"
        runs[case] = result.run_id
        assert archived(tmp_path / "var") == [], f"{case}: the abbey was archived"

    # a record still upstream but invalid now (a typo in its coordinates) keeps its last
    # good version; the two others are unchanged
    typo = whole_flux()
    typo[0] = (ABBEY_FILE, abbey(latitude="491636", longitude="2.6884"))
    invalid = ingest(runner, "datatourisme", flux_zip(tmp_path / "coquille.zip", typo))
    assert invalid.exit_code == 3, invalid.output  # done, some records set aside
    assert "1 enregistrements encore publiés par la source mais invalides" in invalid.output
    assert archived(tmp_path / "var") == []

    # the official knows the flux shrank: the abbey and the exhibition are gone for good
    shrunk = flux_zip(tmp_path / "un-tiers.zip", whole_flux()[1:2])
    accepted = ingest(runner, "datatourisme", shrunk, "--accept-shrink")
    assert accepted.exit_code == 0, accepted.output
    assert sorted(archived(tmp_path / "var")) == sorted([ABBEY, f"datatourisme:{EXHIBITION_UUID}"])

    settings = Settings(data_dir=tmp_path / "var", outbox_poll_interval_s=0.05)
    with TestClient(create_embedded_app(settings)) as client:
        platform = Platform(client, TENANT)
        platform.settle()
        for case, run_id in runs.items():
            run = platform.ingest_api(f"/runs/{run_id}")
            assert run["status"] == "failed", case
            assert cases[case][1] in run["reason"], case
        items = platform.ingest_api(f"/runs/{invalid.run_id}/items", status="invalid")["items"]
        assert [(i["entry_id"], i["outcome"]) for i in items] == [(ABBEY, "last_good_kept")]
        assert "outside France" in items[0]["reason"]
        done = platform.ingest_api(f"/runs/{accepted.run_id}")
        assert done["status"] == "done"
        assert done["counts"]["archived"] == 2
        platform.get(f"/entries/{ABBEY}", expect=404)


def test_the_abbey_keeps_its_last_good_version_in_the_catalogue(
    with_oise: Platform, tmp_path: Path
) -> None:
    p = with_oise
    flux = flux_zip(tmp_path / "flux.zip", whole_flux())
    first = p.harvest("datatourisme", flux, territory="60")
    assert first.counts["new"] == 3
    assert p.get(f"/entries/{ABBEY}")["point"] == {"lat": 49.1636, "lon": 2.6884}

    typo = whole_flux()
    typo[0] = (ABBEY_FILE, abbey(latitude="2.6884", longitude="49.1636"))  # swapped
    typo_flux = flux_zip(tmp_path / "coquille.zip", typo)
    again = p.harvest("datatourisme", typo_flux, territory="60", grace=timedelta(0))
    assert again.status.value == "done_with_errors"
    counts = again.counts
    assert (counts["unchanged"], counts["invalid"], counts["archived"]) == (2, 1, 0)
    assert again.counts["last_good_kept"] == 1
    kept = p.get(f"/entries/{ABBEY}")
    assert kept["title"] == "Abbaye royale de Chaalis"
    assert kept["point"] == {"lat": 49.1636, "lon": 2.6884}, "the last good version"
    run = p.ingest_api(f"/runs/{again.run_id}")
    assert run["status"] == "done_with_errors"
    assert run["reason"] is None


def test_the_help_lists_the_exit_codes(runner: CliRunner) -> None:
    shown = " ".join(runner.invoke(app, ["ingest", "--help"]).output.split())
    assert (
        "Exit codes: 0 done; 1 failed as a whole (nothing archived, reason printed); 2 refused "
        "before starting (unknown source or territory, no such file); 3 done, but some records "
        "were set aside as invalid"
    ) in shown
    assert "--accept-shrink" in shown


def test_territories_from_a_file_honour_the_territory(runner: CliRunner) -> None:
    chantilly = ingest(runner, "territories", OISE, territory="60141")
    assert chantilly.exit_code == 0, chantilly.output
    assert "│ 1 │ 0 │ 0 │ 678 │ 0 │ 0 │" in chantilly.output  # one kept, 678 skipped
    paris = ingest(runner, "territories", OISE, territory="75")
    assert paris.exit_code == 1, paris.output
    assert (
        "aucun enregistrement du territoire 75 : les 679 enregistrements lus sont hors du "
        "territoire (par exemple : commune 60001 (Abancourt) is outside territory 75)"
    ) in paris.output
