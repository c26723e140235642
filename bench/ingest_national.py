"""National-size Service-Public ingest against its anchor: records/s, ratio, CPU and peak memory.

Run against the local servers (`deploy/infra.sh up`):
``uv run python bench/ingest_national.py [--records 63000] [--backend postgresql|sqlite|both]``.
All figures come from one run on one machine; compare them as ratios, not across machines.
The last line reads ``ratio=<first run / anchor> first=<records/s> unchanged=<records/s>
anchor=<records/s> peak_rss_mib=<largest peak of the runs>`` (the first backend measured).

The anchor: a bare streaming parse of the same file (``ijson.items(file, "service.item")``, the
C backend the source uses), what any harvest of the file must at least do. The harvest is the
project's ``runs.run_harvest`` up to its outbox (mapping, change detection, source records,
items and outbox events committed).

The database is the one ``--pg-url`` names (default: the local ``citela_test``); exported
``CITELA_*`` variables are ignored, so the bench measures what its options say.

The export: a Service-Public bulk export (``{"service": [...]}``, the data.gouv.fr encoding with
real arrays) written streamed, one record per line, into a temporary folder (never the repo).
Every record is DERIVED from the two real samples of ``tests/fixtures/opendata/service-public/``:
the Fontaine-le-Port mairie (export encoding) and the CC Lacs et Gorges du Verdon record of the
API page, re-encoded as the export does (JSON-text fields → arrays, null → ``[]`` or ``""``).
Each record gets a new uuid, an office type among the known ones (mairie, ccas, france_services,
caf, cpam, sip, mission_locale, gendarmerie, epci…), a name "office type - commune", the commune's
INSEE and postal codes, the communes it serves (an EPCI serves its real member communes), a
point, a phone, a modification date and one of a few opening-hour patterns.

The communes: the only full commune list recorded, the real geo.api.gouv.fr answer for the Oise
(``geo-api/communes_codeDepartement_60.json``: 679 communes, 21 EPCI, codes, EPCI and postal
codes as published), written unchanged as the temporary ``communes.json`` and harvested first
with the ``territories`` source. The tenant's territory is département 60, resolved by
``runs.load_territory`` as in production, so every record of the export is in the territory
(63 000 offices on 679 communes: denser than France, the same work per record). That answer
has no ``centre``: points are drawn in the Oise's bounding box, one base point per commune.
With ``--pg-schema ingest``, only real codes go to the shared ``territories`` table, with the
same content the e2e tests write there.

Measured, each in its own spawned process so that peak RSS is per run. The harvest maps a large
run in worker processes (``citela_ingest.mapping``; ``--map-workers N``, 0 for none): "peak RSS"
is the peak of the summed RSS of the run's process and its workers, sampled every 50 ms (shared
pages counted twice: an upper bound), "of which run" the run's process alone (``ru_maxrss``),
"CPU s" the run's process and "map CPU s" its workers:

- anchor:     the bare streaming parse of the export (no mapping, no store);
- map only:   ServicePublicSource listing + mapping + content hash, no store (the CPU floor);
- first:      ``runs.run_harvest`` of the whole export for a fresh tenant (all records new);
- unchanged:  the same file again (all unchanged; checked to add no outbox row).

SQLite: the embedded store (``Database`` on a file in the temporary folder, migrated to head).
PostgreSQL (``citela_test``, tenant ``bench-<hex>``), two ways (``--pg-schema``):

- private (default): the ingest tables (from the service's models: same keys and indexes as its
  migrations) in a schema of the bench's own, ``bench_ingest_<hex>``, through SQLAlchemy's
  ``schema_translate_map``; that schema is dropped afterwards. No outbox relay reads it.
- ingest: the shared ``ingest`` schema; the tenant's harvest_items, harvest_runs,
  source_records and outbox rows are deleted afterwards (its outbox rows right after the first
  run). Beware: the outbox relay of any platform running on ``citela_test`` meanwhile (a
  distributed test) publishes the tenant's events to Kafka, and that platform's catalogue,
  feedback and analytics consumers (fixed group names, shared by every platform on this
  broker, the dev one included) project them. That happened once: tens of thousands of bench
  entries landed in other services' tables, in ``citela_test`` and ``citela``, and had to be
  deleted by tenant.

``--profile first|unchanged`` runs that measurement under cProfile instead and prints the top
functions (profiling slows everything down: read the shares, not the times).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing as mp
import os
import pstats
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import ijson
from sqlalchemy import CursorResult, create_engine, delete, func, select, text

from citela_common.db import Database, utcnow
from citela_common.logging import configure_logging
from citela_common.migrations import upgrade
from citela_ingest.harvester import content_hash
from citela_ingest.models import Base, HarvestItem, HarvestRun, Outbox, SourceRecord
from citela_ingest.records import HarvestContext, RawRecord
from citela_ingest.runs import load_territory, policy_areas, run_harvest
from citela_ingest.sources.service_public import ServicePublicSource

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "opendata"
EXPORT_SAMPLE = (
    FIXTURES / "service-public" / "export_datagouv_gouv_local_mairie-fontaine-le-port.json"
)
API_SAMPLE = FIXTURES / "service-public" / "api_lannuaire_records_where_siret_20004021000060.json"
OISE = FIXTURES / "geo-api" / "communes_codeDepartement_60.json"
TERRITORY = "60"  # the Oise: the département whose communes are all recorded
# Oise bounding box (approx.), for points: the recorded answer has no commune centre.
LAT_RANGE = (49.08, 49.74)
LON_RANGE = (1.72, 3.14)
PG_URL = "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela_test"  # deploy/infra.sh's
MIB = 1024 * 1024

# --- the export ----------------------------------------------------------------------------

# (type_service_local, weight, name pattern, serves other communes of its EPCI)
OFFICE_TYPES: tuple[tuple[str, int, str, bool], ...] = (
    ("mairie", 38, "Mairie - {commune}", False),
    ("ccas", 12, "Centre communal d'action sociale (CCAS) - {commune}", False),
    ("gendarmerie", 8, "Brigade de gendarmerie - {commune}", True),
    ("france_services", 6, "France services - {commune}", True),
    ("centre_social", 5, "Centre social - {commune}", False),
    ("mission_locale", 4, "Mission locale - antenne de {commune}", True),
    ("pmi", 4, "Centre de protection maternelle et infantile (PMI) - {commune}", True),
    ("caf", 3, "Caisse d'allocations familiales (CAF) - accueil de {commune}", True),
    ("cpam", 3, "Caisse primaire d'assurance maladie (CPAM) - accueil de {commune}", True),
    ("sip", 3, "Service des impôts des particuliers (SIP) - {commune}", True),
    ("france_travail", 3, "France Travail - agence de {commune}", True),
    ("epci", 3, "Communauté de communes - siège à {commune}", True),
    ("carsat", 2, "Caisse d'assurance retraite et de la santé au travail - {commune}", True),
    ("msa", 2, "Mutualité sociale agricole (MSA) - {commune}", True),
    ("cias", 2, "Centre intercommunal d'action sociale (CIAS) - {commune}", True),
    ("sous_pref", 1, "Sous-préfecture - {commune}", True),
    ("commissariat_police", 1, "Commissariat de police - {commune}", True),
)

# Fields the export writes as arrays (the API writes them as JSON text, or null).
EXPORT_LIST_FIELDS = frozenset(
    {
        "adresse",
        "adresse_courriel",
        "affectation_personne",
        "ancien_identifiant",
        "ancien_nom",
        "annuaire",
        "application_mobile",
        "formulaire_contact",
        "hierarchie",
        "organigramme",
        "pivot",
        "plage_ouverture",
        "reseau_social",
        "site_internet",
        "sve",
        "tchat",
        "telecopie",
        "telephone",
        "telephone_accessible",
        "texte_reference",
    }
)


def api_as_export(record: dict[str, Any]) -> dict[str, Any]:
    """An API record in the export's encoding: JSON text → arrays, null → ``[]`` or ``""``."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in EXPORT_LIST_FIELDS:
            if value is None:
                out[key] = []
            elif isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                decoded = json.loads(value)
                out[key] = decoded if isinstance(decoded, list) else [decoded]
            else:
                out[key] = [value]  # plain strings (adresse_courriel, formulaire_contact)
        else:
            out[key] = "" if value is None else value
    return out


def _range(
    first: str, last: str, am: tuple[str, str], pm: tuple[str, str] = ("", ""), note: str = ""
) -> dict[str, str]:
    return {
        "nom_jour_debut": first,
        "nom_jour_fin": last,
        "valeur_heure_debut_1": am[0],
        "valeur_heure_fin_1": am[1],
        "valeur_heure_debut_2": pm[0],
        "valeur_heure_fin_2": pm[1],
        "commentaire": note,
    }


def hour_patterns(mairie: dict[str, Any], epci: dict[str, Any]) -> list[list[dict[str, str]]]:
    """The two real patterns and a few more written the same way."""
    weekdays = _range("Lundi", "Vendredi", ("08:30:00", "12:00:00"), ("13:30:00", "17:00:00"))
    return [
        mairie["plage_ouverture"],
        epci["plage_ouverture"],
        [weekdays],
        [
            weekdays,
            _range(
                "Samedi", "Samedi", ("09:00:00", "12:00:00"), note="uniquement le 1er et 3e samedis"
            ),
        ],
        [
            _range("Lundi", "Lundi", ("14:00:00", "18:00:00")),
            _range("Mercredi", "Jeudi", ("09:00:00", "12:30:00"), ("14:00:00", "18:00:00")),
            _range("Vendredi", "Vendredi", ("", ""), note="Sur rendez-vous"),
        ],
        [],
    ]


def load_communes() -> list[dict[str, Any]]:
    communes: list[dict[str, Any]] = json.loads(OISE.read_text(encoding="utf-8"))
    return communes


class ExportMaker:
    """Derives national-size export records from the real samples (deterministic per seed)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.mairie: dict[str, Any] = json.loads(EXPORT_SAMPLE.read_text(encoding="utf-8"))[
            "service"
        ][0]
        api = json.loads(API_SAMPLE.read_text(encoding="utf-8"))["results"][0]
        self.epci = api_as_export(api)
        self.hours = hour_patterns(self.mairie, self.epci)
        self.communes = load_communes()
        self.members: dict[str, list[str]] = {}
        for commune in self.communes:
            self.members.setdefault(commune.get("codeEpci") or "", []).append(commune["code"])
        self.points = {
            c["code"]: (self.rng.uniform(*LAT_RANGE), self.rng.uniform(*LON_RANGE))
            for c in self.communes
        }
        self.types = [t for t in OFFICE_TYPES for _ in range(t[1])]
        self.serial: Counter[str] = Counter()

    def record(self, number: int) -> dict[str, Any]:
        rng = self.rng
        commune = self.communes[number % len(self.communes)]
        code, name = commune["code"], commune["nom"]
        office, _, pattern, shared = rng.choice(self.types)
        base = self.epci if office == "epci" else self.mairie
        record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.serial[f"{office}-{code}"] += 1
        served = [code]
        members = self.members.get(commune.get("codeEpci") or "", [])
        if office == "epci":
            served = members or served
        elif shared and members:
            served = [code, *rng.sample(members, min(len(members), rng.randint(0, 6)))]
            served = list(dict.fromkeys(served))
        lat, lon = self.points[code]
        point = (
            ("", "")
            if rng.random() < 0.02
            else (
                f"{lat + rng.uniform(-0.01, 0.01):.6f}",
                f"{lon + rng.uniform(-0.01, 0.01):.6f}",
            )
        )
        address = {
            **base["adresse"][0],
            "numero_voie": f"{rng.randint(1, 120)} rue de la {rng.choice(_STREETS)}",
            "code_postal": commune["codesPostaux"][0] if commune.get("codesPostaux") else "",
            "nom_commune": name,
            "latitude": point[0],
            "longitude": point[1],
        }
        addresses = [address]
        if rng.random() < 0.1:
            addresses.append(
                {
                    **address,
                    "type_adresse": "Adresse postale",
                    "numero_voie": "",
                    "service_distribution": f"BP {rng.randint(1, 999)}",
                    "latitude": "",
                    "longitude": "",
                }
            )
        modified = datetime(2015, 1, 1) + timedelta(seconds=rng.randrange(10 * 365 * 86400))  # noqa: DTZ001 (Paris local time, as written)
        siret = "".join(rng.choice("0123456789") for _ in range(14))
        return {
            **base,
            "id": record_id,
            "nom": pattern.format(commune=name),
            "ancien_code_pivot": f"{office}-{code}-{self.serial[f'{office}-{code}']:02d}",
            "code_insee_commune": code,
            "pivot": [{"type_service_local": office, "code_insee_commune": served}],
            "siret": siret,
            "siren": siret[:9] if office == "epci" else "",
            "itm_identifiant": str(rng.randint(100_000, 999_999)),
            "adresse": addresses,
            "telephone": [
                {
                    "valeur": "03 44 " + " ".join(f"{rng.randint(0, 99):02d}" for _ in range(3)),
                    "description": "",
                }
            ],
            "plage_ouverture": rng.choice(self.hours),
            "date_modification": modified.strftime("%d/%m/%Y %H:%M:%S"),
            "url_service_public": (
                f"https://lannuaire.service-public.fr/hauts-de-france/oise/{record_id}"
            ),
        }

    def records(self, count: int) -> Iterator[dict[str, Any]]:
        for number in range(count):
            yield self.record(number)


_STREETS = ("Mairie", "République", "Gare", "Poste", "Libération", "Paix", "Fontaine", "Église")


def write_export(path: Path, count: int, seed: int) -> Counter[str]:
    """``{"service": [...]}`` written one record at a time (one line each)."""
    types: Counter[str] = Counter()
    maker = ExportMaker(seed)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write('{"service": [\n')
        for number, record in enumerate(maker.records(count)):
            types[record["pivot"][0]["type_service_local"]] += 1
            out.write(",\n" if number else "")
            out.write(json.dumps(record, ensure_ascii=False))
        out.write("\n]}\n")
    return types


def write_communes(path: Path) -> int:
    """The communes used, as geo.api's ``/communes`` answer (the real Oise answer, unchanged)."""
    communes = load_communes()
    path.write_text(json.dumps(communes, ensure_ascii=False), encoding="utf-8")
    return len(communes)


# --- one measurement, in a child process ---------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # ended and waited for
    return usage.ru_utime + usage.ru_stime


def _tree_pids(root: int) -> list[int]:
    """``root`` and its descendants (the harvest's mapping workers), from /proc (each thread's
    ``children`` file: a few reads, not a scan of every process)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as children:
                    todo.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return 0.0


class TreeRss:
    """Peak of the summed resident memory of this process and its descendants, sampled every
    50 ms: the harvest maps in worker processes, whose memory counts as much as its own (RSS
    counts the pages they share twice: an upper bound)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.05):
            total = sum(_rss_mib(pid) for pid in _tree_pids(me))
            self.peak = max(self.peak, total)


def outbox_rows(db: Database, tenant: str) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(select(func.count()).select_from(Outbox).where(Outbox.tenant == tenant))
            or 0
        )


def _map_only(export: Path, db: Database) -> dict[str, Any]:
    territory = load_territory(db, TERRITORY)
    ctx = HarvestContext(territory, policy_areas(db, "bench-map-only"), utcnow())
    source = ServicePublicSource.from_file(export)
    outcomes: Counter[str] = Counter()
    for record in source.list_records():
        if not isinstance(record, RawRecord):
            outcomes["invalid"] += 1
            continue
        for output in source.map_record(record, ctx):
            content_hash(output)
            outcomes["mapped"] += 1
    return {"counts": dict(outcomes), "records": sum(outcomes.values()), "events": 0}


def _anchor(export: Path) -> dict[str, Any]:
    """The bare streaming parse of the export: every record built as Python objects, no more."""
    count = 0
    with export.open("rb") as handle:
        for _ in ijson.items(handle, "service.item", use_float=True):
            count += 1
    return {"counts": {"parsed": count}, "records": count, "events": 0}


def _harvest(export: Path, db: Database, tenant: str, map_workers: int | None) -> dict[str, Any]:
    summary = run_harvest(
        db,
        "service-public",
        tenant=tenant,
        territory_code=TERRITORY,
        path=export,
        map_workers=map_workers,
    )
    if summary.error:
        raise RuntimeError(f"harvest failed: {summary.error}")
    return {
        "counts": dict(summary.counts),
        "records": summary.records,
        "harvester_s": summary.seconds,
    }


def open_db(url: str, schema: str | None) -> Database:
    """The ingest store; with ``schema``, its ``ingest`` tables are that schema's (PostgreSQL)."""
    if schema is None or schema == "ingest":
        return Database(url, "ingest")
    return Database(url, "ingest", execution_options={"schema_translate_map": {"ingest": schema}})


def measure(conn: Connection, spec: dict[str, Any]) -> None:
    """Child process: one measurement; sends a result dict (or an error) through ``conn``."""
    try:
        configure_logging(level="WARNING")
        export = Path(spec["export"])
        if spec["run"] == "anchor":
            rss_before = peak_rss_mib()
            cpu = time.process_time()
            started = time.perf_counter()
            result = _anchor(export)
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu
            result["rss_before_mib"] = rss_before
            result["peak_rss_mib"] = peak_rss_mib()
            conn.send(result)
            return
        db = open_db(spec["url"], spec.get("schema"))
        tenant = spec["tenant"]
        before_events = outbox_rows(db, tenant)
        rss_before = peak_rss_mib()
        profiler = cProfile.Profile() if spec.get("profile") else None
        cpu = time.process_time()
        started = time.perf_counter()
        with TreeRss() as tree:
            if profiler:
                profiler.enable()
            if spec["run"] == "map only":
                result = _map_only(export, db)
            else:
                result = _harvest(export, db, tenant, spec.get("map_workers"))
            if profiler:
                profiler.disable()
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = time.process_time() - cpu
        result["workers_cpu_seconds"] = children_cpu_seconds()
        result["rss_before_mib"] = rss_before
        result["process_rss_mib"] = peak_rss_mib()
        result["peak_rss_mib"] = max(tree.peak, result["process_rss_mib"])
        if spec["run"] != "map only":
            result["events"] = outbox_rows(db, tenant) - before_events
        if profiler:
            stream = io.StringIO()
            stats = pstats.Stats(profiler, stream=stream)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(45)
            result["profile"] = stream.getvalue()
            stats.dump_stats(spec["profile"])
        db.dispose()
        conn.send(result)
    except BaseException as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        conn.close()


def in_child(spec: dict[str, Any]) -> dict[str, Any]:
    context = mp.get_context("spawn")  # a fresh interpreter: its ru_maxrss is this run's only
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=measure, args=(child, spec))
    process.start()
    child.close()
    result: dict[str, Any] = parent.recv()
    process.join()
    if "error" in result:
        raise RuntimeError(f"{spec['backend']} {spec['run']}: {result['error']}")
    return result


# --- the backends --------------------------------------------------------------------------


def prepare(db: Database, communes: Path, tenant: str) -> None:
    summary = run_harvest(db, "territories", tenant=tenant, territory_code=TERRITORY, path=communes)
    if summary.error or summary.counts["invalid"]:
        raise RuntimeError(f"territories harvest: {summary.error or dict(summary.counts)}")


def cleanup_pg(db: Database, tenant: str, *, outbox_only: bool = False) -> dict[str, int]:
    deleted: dict[str, int] = {}
    with db.transaction() as session:
        result = session.execute(delete(Outbox).where(Outbox.tenant == tenant))
        deleted["outbox"] = cast(CursorResult[Any], result).rowcount
        if not outbox_only:
            for model in (HarvestItem, HarvestRun, SourceRecord):
                name = model.__tablename__
                result = session.execute(delete(model).where(model.tenant_id == tenant))
                deleted[name] = cast(CursorResult[Any], result).rowcount
    return deleted


def other_pg_sessions(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar()
                or 0
            )
    finally:
        engine.dispose()


def run_backend(
    backend: str, workdir: Path, export: Path, communes: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    run_id = uuid.uuid4().hex[:8]
    tenant = f"bench-{run_id}"
    schema: str | None = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'citela.db'}"
    else:
        url = args.pg_url
        schema = f"bench_ingest_{run_id}" if args.pg_schema == "private" else "ingest"
        others = other_pg_sessions(url)
        if schema == "ingest" and others:
            print(
                f"WARNING: {others} other session(s) on {url.rsplit('/', 1)[-1]}: an outbox "
                f"relay running there publishes tenant {tenant}'s events to Kafka, and the "
                "consumers of that platform project them",
                file=sys.stderr,
            )
    db = open_db(url, schema)
    rows: list[dict[str, Any]] = []
    try:
        if backend == "sqlite":
            upgrade(db, "citela_ingest")
        elif schema != "ingest":
            with db.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            Base.metadata.create_all(db.engine)
        prepare(db, communes, tenant)
        runs = ["anchor", "map only"] if args.map_only else ["anchor"]
        runs += ["first", "unchanged"]
        for run in runs:
            spec: dict[str, Any] = {"backend": backend, "run": run, "url": url}
            spec["export"] = str(export)
            spec.update(tenant=tenant, schema=schema, map_workers=args.map_workers)
            if args.profile == run:
                spec["profile"] = str(workdir / f"{backend}-{run}.prof")
            result = in_child(spec)
            result.update(backend=backend, run=run, tenant=tenant)
            rows.append(result)
            if "profile" in result:
                print(f"--- cProfile: {backend}, {run} run ({spec['profile']})")
                print(result.pop("profile"))
            if run == "unchanged" and result["events"] != 0:
                raise AssertionError(
                    f"{backend}: the unchanged run wrote {result['events']} events"
                )
            if run == "first" and schema == "ingest":
                early = cleanup_pg(db, tenant, outbox_only=True)
                print(f"postgresql: deleted tenant {tenant}'s {early}", file=sys.stderr)
    finally:
        if schema == "ingest":
            deleted = cleanup_pg(db, tenant)
            print(f"postgresql: deleted tenant {tenant}'s rows {deleted}", file=sys.stderr)
        db.dispose()
        if schema is not None and schema.startswith("bench_ingest_"):
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
            print(f"postgresql: dropped the bench's own schema {schema}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=63_000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="postgresql")
    parser.add_argument(
        "--pg-url", default=PG_URL, help=f"PostgreSQL database to measure on (default {PG_URL})"
    )
    parser.add_argument("--seed", type=int, default=20_240_131)
    parser.add_argument(
        "--map-only", action="store_true", help="also time the source alone (no store)"
    )
    parser.add_argument("--profile", choices=("first", "unchanged", "map only"))
    parser.add_argument(
        "--map-workers",
        type=int,
        default=None,
        help="mapping processes of the harvest (default: the harvest's own, one per core; "
        "0: all in the harvest's process)",
    )
    parser.add_argument(
        "--pg-schema",
        choices=("private", "ingest"),
        default="private",
        help="private (default): the ingest tables created in a schema of the bench's own in "
        "citela_test, dropped afterwards; ingest: the shared ingest schema, the tenant's rows "
        "deleted afterwards (an outbox relay running on citela_test publishes its events)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    configure_logging(level="WARNING")

    workdir = Path(tempfile.mkdtemp(prefix="citela-ingest-bench-"))
    started = time.perf_counter()
    try:
        export = workdir / "export_gouv_local.json"
        communes = workdir / "communes.json"
        t0 = time.perf_counter()
        types = write_export(export, args.records, args.seed)
        made = time.perf_counter() - t0
        communes_count = write_communes(communes)
        file_mib = export.stat().st_size / MIB
        print(
            f"export: {args.records} records, {file_mib:.1f} MiB, written in {made:.1f}s "
            f"({export}); {communes_count} communes of territory {TERRITORY}"
        )
        print("office types: " + ", ".join(f"{t} {n}" for t, n in types.most_common()))
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        rows: list[dict[str, Any]] = []
        for backend in backends:
            rows += run_backend(backend, workdir, export, communes, args)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    header = (
        f"{'backend':<11}{'run':<11}{'records':>9}{'seconds':>9}{'records/s':>11}{'CPU s':>7}"
        f"{'map CPU s':>10}{'ratio':>7}{'peak RSS MiB':>14}{'of which run':>14}{'RSS growth':>12}"
        f"{'file MiB':>10}{'events':>8}  outcomes"
    )
    print(header)
    anchors = {row["backend"]: rate_of(row) for row in rows if row["run"] == "anchor"}
    for row in rows:
        growth = row["peak_rss_mib"] - row["rss_before_mib"]
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(row["counts"].items()))
        ratio = rate_of(row) / anchors[row["backend"]]
        print(
            f"{row['backend']:<11}{row['run']:<11}{row['records']:>9}{row['seconds']:>9.1f}"
            f"{rate_of(row):>11,.0f}{row['cpu_seconds']:>7.1f}"
            f"{row.get('workers_cpu_seconds', 0.0):>10.1f}{ratio:>7.3f}"
            f"{row['peak_rss_mib']:>14.0f}{row.get('process_rss_mib', row['peak_rss_mib']):>14.0f}"
            f"{growth:>12.0f}{file_mib:>10.1f}{row['events']:>8}"
            f"  {outcomes}"
        )
    print(f"\ntotal bench time {time.perf_counter() - started:.0f}s (generation included)")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    first_backend = backends[0]
    runs = {row["run"]: row for row in rows if row["backend"] == first_backend}
    anchor = anchors[first_backend]
    print(
        f"ratio={rate_of(runs['first']) / anchor:.3f} first={rate_of(runs['first']):.0f} "
        f"unchanged={rate_of(runs['unchanged']):.0f} anchor={anchor:.0f} "
        f"peak_rss_mib={max(row['peak_rss_mib'] for row in rows):.0f} backend={first_backend}"
    )


def rate_of(row: dict[str, Any]) -> float:
    return float(row["records"] / row["seconds"]) if row["seconds"] else float("inf")


if __name__ == "__main__":
    main()
