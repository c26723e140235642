"""Catalogue search latency at 100,000 entries, through the real HTTP app, on both backends.

``uv run python bench/catalogue_search.py [--backend sqlite|postgresql|both] [--entries 100000]``
(PostgreSQL: ``--pg-url``, default ``$CITELA_TEST_DATABASE_URL`` or the local ``citela_test``;
Redis: ``--redis-url``, default ``$CITELA_REDIS_URL`` or the local one.)

What it does, per backend:
1. Builds the catalogue runtime (``citela_catalogue.service.build_runtime``, no background
   threads) on a SQLite file under ``--data-dir`` (FTS5) or on the PostgreSQL test database
   (schema ``catalogue``: French tsvector + GIN) and migrates it.
2. Loads a synthetic but realistic French catalogue: the geography (13 régions, 96
   départements, ~600 EPCI, ~9,500 communes, the arrondissements of Paris, Lyon and Marseille)
   and ``--entries`` entries for tenant ``bench-a`` spread over metropolitan France (a mairie
   per commune, CCAS, médiathèques, piscines, France services, CAF, maisons de santé, écoles,
   déchèteries, gymnases, offices de tourisme, crèches…, events with date ranges, open
   datasets), plus a second tenant ``bench-b`` (a twentieth of that, on three départements,
   same codes and same kinds of titles) so that tenant scoping has something to filter out.
   Loading goes through the projection itself (``upsert_territory`` / ``upsert_entry`` with the
   ``CatalogueEntryUpserted`` payloads), in batches of ``--batch`` per transaction, not through
   the bus (no envelope parsing, no processed-event dedupe); one tenant's projection is
   sequential in the service too (one partition per tenant). On PostgreSQL the bench tenants'
   rows of an earlier run are deleted first (nothing else is touched) and the load ends with
   the ``VACUUM ANALYZE`` autovacuum would run; SQLite gets no ANALYZE (the service runs none).
   The load is the long part (minutes at 100,000: the projection's own speed, reported). The
   store is kept: a later run with the same ``--entries``/``--seed`` finds it (counts and
   sampled titles checked) and skips the load, printing the figures of the run that loaded
   it; ``--reload`` forces a load, ``--cleanup`` deletes the bench rows and files at the end.
3. Times ``--requests`` GET requests per query (after ``--warmup`` untimed ones) through the
   catalogue's FastAPI app with Starlette's TestClient (in process, sequential: one client):
   - cold: the tenant's cache generation is bumped before each request (outside the timing),
     so every timed request misses the cache and runs its SQL; parameters vary from request to
     request (terms, territories, points drawn from the entries, windows, ids);
   - hit: the same URL again and again: served from the cache (Redis for PostgreSQL by
     default, as in the distributed mode; in-process for SQLite);
   - 304: the same with ``If-None-Match``: the cache hit plus an empty 304.
   The cache is wrapped to count hits and misses, and the run fails if a cold request hits or
   a warm one misses. Cold responses of ``bench-a`` are checked to hold no entry of ``bench-b``.

Latencies include the in-process HTTP stack (the ``GET /healthz`` row is its floor) and the
process's full garbage collections (counted per query; ``--gc-freeze`` shows their share); the
client, the app and the database share this machine's cores, and the machine's load average is
printed. Compare figures within one run.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import text

from citela_catalogue.projection import upsert_entry, upsert_territory
from citela_catalogue.service import build_runtime
from citela_common.bus import create_bus
from citela_common.cache import Cache, RedisCache
from citela_common.db import Database
from citela_common.events.models import (
    Address,
    CatalogueEntryUpserted,
    Contact,
    DateRange,
    EntryKind,
    GeoPoint,
    OpeningSlot,
    Provenance,
    TerritoryLevel,
    TerritoryUpserted,
)
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant

T = TypeVar("T")
TENANT_A = "bench-a"
TENANT_B = "bench-b"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# --- French geography ----------------------------------------------------------------------

REGIONS = {
    "11": "Île-de-France",
    "24": "Centre-Val de Loire",
    "27": "Bourgogne-Franche-Comté",
    "28": "Normandie",
    "32": "Hauts-de-France",
    "44": "Grand Est",
    "52": "Pays de la Loire",
    "53": "Bretagne",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur",
    "94": "Corse",
}

# code, name, région, préfecture, centre (lat, lon), spread in degrees of latitude
DEPARTEMENTS: list[tuple[str, str, str, str, float, float, float]] = [
    ("01", "Ain", "84", "Bourg-en-Bresse", 46.10, 5.35, 0.30),
    ("02", "Aisne", "32", "Laon", 49.55, 3.60, 0.35),
    ("03", "Allier", "84", "Moulins", 46.40, 3.20, 0.30),
    ("04", "Alpes-de-Haute-Provence", "93", "Digne-les-Bains", 44.10, 6.25, 0.30),
    ("05", "Hautes-Alpes", "93", "Gap", 44.65, 6.30, 0.30),
    ("06", "Alpes-Maritimes", "93", "Nice", 43.90, 7.20, 0.20),
    ("07", "Ardèche", "84", "Privas", 44.75, 4.40, 0.30),
    ("08", "Ardennes", "44", "Charleville-Mézières", 49.60, 4.65, 0.30),
    ("09", "Ariège", "76", "Foix", 42.95, 1.50, 0.25),
    ("10", "Aube", "44", "Troyes", 48.30, 4.15, 0.30),
    ("11", "Aude", "76", "Carcassonne", 43.10, 2.40, 0.30),
    ("12", "Aveyron", "76", "Rodez", 44.30, 2.65, 0.35),
    ("13", "Bouches-du-Rhône", "93", "Marseille", 43.50, 5.10, 0.20),
    ("14", "Calvados", "28", "Caen", 49.10, -0.35, 0.25),
    ("15", "Cantal", "84", "Aurillac", 45.05, 2.65, 0.30),
    ("16", "Charente", "75", "Angoulême", 45.70, 0.20, 0.30),
    ("17", "Charente-Maritime", "75", "La Rochelle", 45.75, -0.75, 0.35),
    ("18", "Cher", "24", "Bourges", 47.05, 2.50, 0.35),
    ("19", "Corrèze", "75", "Tulle", 45.35, 1.90, 0.30),
    ("2A", "Corse-du-Sud", "94", "Ajaccio", 41.85, 8.95, 0.25),
    ("2B", "Haute-Corse", "94", "Bastia", 42.40, 9.20, 0.30),
    ("21", "Côte-d'Or", "27", "Dijon", 47.40, 4.75, 0.35),
    ("22", "Côtes-d'Armor", "53", "Saint-Brieuc", 48.45, -2.85, 0.25),
    ("23", "Creuse", "75", "Guéret", 46.05, 2.00, 0.25),
    ("24", "Dordogne", "75", "Périgueux", 45.10, 0.75, 0.35),
    ("25", "Doubs", "27", "Besançon", 47.15, 6.35, 0.30),
    ("26", "Drôme", "84", "Valence", 44.70, 5.15, 0.35),
    ("27", "Eure", "28", "Évreux", 49.10, 1.00, 0.30),
    ("28", "Eure-et-Loir", "24", "Chartres", 48.35, 1.40, 0.30),
    ("29", "Finistère", "53", "Quimper", 48.25, -4.05, 0.25),
    ("30", "Gard", "76", "Nîmes", 44.00, 4.20, 0.30),
    ("31", "Haute-Garonne", "76", "Toulouse", 43.35, 1.20, 0.35),
    ("32", "Gers", "76", "Auch", 43.70, 0.45, 0.30),
    ("33", "Gironde", "75", "Bordeaux", 44.85, -0.60, 0.40),
    ("34", "Hérault", "76", "Montpellier", 43.60, 3.40, 0.30),
    ("35", "Ille-et-Vilaine", "53", "Rennes", 48.15, -1.65, 0.30),
    ("36", "Indre", "24", "Châteauroux", 46.80, 1.60, 0.30),
    ("37", "Indre-et-Loire", "24", "Tours", 47.25, 0.70, 0.30),
    ("38", "Isère", "84", "Grenoble", 45.25, 5.60, 0.35),
    ("39", "Jura", "27", "Lons-le-Saunier", 46.75, 5.70, 0.30),
    ("40", "Landes", "75", "Mont-de-Marsan", 43.95, -0.80, 0.35),
    ("41", "Loir-et-Cher", "24", "Blois", 47.60, 1.40, 0.30),
    ("42", "Loire", "84", "Saint-Étienne", 45.75, 4.20, 0.30),
    ("43", "Haute-Loire", "84", "Le Puy-en-Velay", 45.10, 3.80, 0.25),
    ("44", "Loire-Atlantique", "52", "Nantes", 47.35, -1.70, 0.30),
    ("45", "Loiret", "24", "Orléans", 47.90, 2.30, 0.30),
    ("46", "Lot", "76", "Cahors", 44.60, 1.60, 0.30),
    ("47", "Lot-et-Garonne", "75", "Agen", 44.35, 0.45, 0.30),
    ("48", "Lozère", "76", "Mende", 44.50, 3.50, 0.25),
    ("49", "Maine-et-Loire", "52", "Angers", 47.40, -0.55, 0.30),
    ("50", "Manche", "28", "Saint-Lô", 49.10, -1.30, 0.35),
    ("51", "Marne", "44", "Châlons-en-Champagne", 48.95, 4.25, 0.35),
    ("52", "Haute-Marne", "44", "Chaumont", 48.10, 5.20, 0.30),
    ("53", "Mayenne", "52", "Laval", 48.15, -0.65, 0.25),
    ("54", "Meurthe-et-Moselle", "44", "Nancy", 48.80, 6.15, 0.30),
    ("55", "Meuse", "44", "Bar-le-Duc", 49.00, 5.40, 0.35),
    ("56", "Morbihan", "53", "Vannes", 47.85, -2.80, 0.30),
    ("57", "Moselle", "44", "Metz", 49.05, 6.60, 0.30),
    ("58", "Nièvre", "27", "Nevers", 47.10, 3.50, 0.30),
    ("59", "Nord", "32", "Lille", 50.45, 3.20, 0.30),
    ("60", "Oise", "32", "Beauvais", 49.40, 2.45, 0.25),
    ("61", "Orne", "28", "Alençon", 48.60, 0.10, 0.25),
    ("62", "Pas-de-Calais", "32", "Arras", 50.50, 2.30, 0.30),
    ("63", "Puy-de-Dôme", "84", "Clermont-Ferrand", 45.70, 3.15, 0.35),
    ("64", "Pyrénées-Atlantiques", "75", "Pau", 43.25, -0.75, 0.30),
    ("65", "Hautes-Pyrénées", "76", "Tarbes", 43.05, 0.15, 0.25),
    ("66", "Pyrénées-Orientales", "76", "Perpignan", 42.60, 2.50, 0.25),
    ("67", "Bas-Rhin", "44", "Strasbourg", 48.65, 7.55, 0.30),
    ("68", "Haut-Rhin", "44", "Colmar", 47.85, 7.25, 0.25),
    ("69", "Rhône", "84", "Lyon", 45.85, 4.65, 0.20),
    ("70", "Haute-Saône", "27", "Vesoul", 47.65, 6.10, 0.30),
    ("71", "Saône-et-Loire", "27", "Mâcon", 46.65, 4.55, 0.35),
    ("72", "Sarthe", "52", "Le Mans", 48.00, 0.20, 0.30),
    ("73", "Savoie", "84", "Chambéry", 45.50, 6.40, 0.30),
    ("74", "Haute-Savoie", "84", "Annecy", 46.05, 6.40, 0.25),
    ("75", "Paris", "11", "Paris", 48.8566, 2.3522, 0.03),
    ("76", "Seine-Maritime", "28", "Rouen", 49.65, 1.00, 0.25),
    ("77", "Seine-et-Marne", "11", "Melun", 48.60, 2.95, 0.30),
    ("78", "Yvelines", "11", "Versailles", 48.80, 1.85, 0.20),
    ("79", "Deux-Sèvres", "75", "Niort", 46.55, -0.30, 0.30),
    ("80", "Somme", "32", "Amiens", 49.95, 2.30, 0.25),
    ("81", "Tarn", "76", "Albi", 43.80, 2.15, 0.25),
    ("82", "Tarn-et-Garonne", "76", "Montauban", 44.05, 1.30, 0.20),
    ("83", "Var", "93", "Toulon", 43.45, 6.20, 0.25),
    ("84", "Vaucluse", "93", "Avignon", 44.00, 5.15, 0.20),
    ("85", "Vendée", "52", "La Roche-sur-Yon", 46.65, -1.30, 0.30),
    ("86", "Vienne", "75", "Poitiers", 46.55, 0.45, 0.35),
    ("87", "Haute-Vienne", "75", "Limoges", 45.90, 1.25, 0.25),
    ("88", "Vosges", "44", "Épinal", 48.20, 6.40, 0.25),
    ("89", "Yonne", "27", "Auxerre", 47.85, 3.55, 0.30),
    ("90", "Territoire de Belfort", "27", "Belfort", 47.65, 6.90, 0.08),
    ("91", "Essonne", "11", "Évry-Courcouronnes", 48.50, 2.25, 0.12),
    ("92", "Hauts-de-Seine", "11", "Nanterre", 48.85, 2.25, 0.05),
    ("93", "Seine-Saint-Denis", "11", "Bobigny", 48.90, 2.48, 0.05),
    ("94", "Val-de-Marne", "11", "Créteil", 48.78, 2.47, 0.05),
    ("95", "Val-d'Oise", "11", "Cergy", 49.08, 2.15, 0.12),
]
# Cities whose entries carry the code of one of their municipal arrondissements.
ARRONDISSEMENTS = {
    "75": ("75056", "Paris", [f"751{i:02d}" for i in range(1, 21)], "750"),
    "69": ("69123", "Lyon", [f"6938{i}" for i in range(1, 10)], "6900"),
    "13": ("13055", "Marseille", [f"132{i:02d}" for i in range(1, 17)], "130"),
}
VILLAGE_ROOTS = _words(
    "Aubigny Bazoches Beaumont Bellegarde Brissac Chambon Champigny Charmes Châtillon Chaumont "
    "Clairefontaine Cormeilles Courcelles Dampierre Écouen Flavigny Fontaine Fontenay Gondrecourt "
    "Juvigny Lacroix Lagarde Lambres Lussac Marcilly Marigny Montfort Moncontour Montigny Neuville "
    "Noyers Pouilly Préaux Quincy Rochefort Romagne Sablé Savigny Sully Thury Tourville Vernon "
    "Villeneuve Villefranche Villers Vitry Yzeure Castelnau Montesquieu Puylaurens Lauzerte Sarlat "
    "Domme Espelette Sare Ainhoa Larrau Bielle Laruns Accous Plouguerneau Ploërmel Plouha "
    "Kerlouan Landerneau Pont-Aven Concarneau Carhaix Ancenis Aigrefeuille Arçais Azay Bléré "
    "Brûlon Cérilly Chénérailles Crozant Égletons Eymoutiers Feytiat Gençay Jarnac Lézignan "
    "Loudun Magnac Mirebeau Nérac Oradour Payzac Quissac Ribérac Saujon Thouars Uzerche Vayres "
    "Bourgueil Chinon Langeais Montbazon Amboise Loches Vouvray Lencloître Ingrandes Orchies "
    "Wattrelos Hazebrouck Bailleul Steenvoorde Hesdin Fruges Doullens Albert Péronne Ham Guise "
    "Vervins Hirson Sedan Mouzon Rethel Vouziers Givet Revin Rocroi Fumay Stenay Commercy Toul "
    "Lunéville Baccarat Sarrebourg Phalsbourg Saverne Haguenau Wissembourg Sélestat Obernai "
    "Ribeauvillé Kaysersberg Thann Altkirch Héricourt Lure Luxeuil Gray Pontarlier Morteau "
    "Ornans Salins Arbois Poligny Champagnole Morez Oyonnax Nantua Belley Trévoux Montluel "
    "Meximieux "
    "Tarare Givors Brignais Vaugneray Anse Crémieu Vienne Voiron Vizille Pontcharra Moûtiers "
    "Albertville Ugine Thônes Rumilly Cluses Sallanches Samoëns Morzine Évian Thonon Gex Divonne "
    "Marvejols Langogne Florac Millau Espalion Decazeville Figeac Gourdon Souillac Gramat "
    "Lectoure Condom Eauze Mirande Vic-Fezensac Samatan Lombez Muret Revel Villemur Fronton "
    "Lavaur Gaillac Graulhet Carmaux Mazamet Lacaune Limoux Quillan Castelnaudary Prades Céret "
    "Argelès Banyuls Collioure Thuir Lunel Ganges Lodève Pézenas Agde Bédarieux Uzès Sommières "
    "Beaucaire Bagnols Pertuis Apt Cavaillon Bollène Valréas Vaison Sisteron Forcalquier "
    "Barcelonnette"
)
SAINTS = (
    "Saint-Martin",
    "Saint-Jean",
    "Saint-Pierre",
    "Sainte-Marie",
    "Saint-Laurent",
    "Saint-Germain",
    "Saint-Étienne",
    "Saint-Denis",
    "Saint-Hilaire",
    "Saint-Aubin",
    "Saint-Georges",
    "Saint-Julien",
    "Saint-Michel",
    "Saint-Paul",
    "Saint-Sauveur",
    "Sainte-Croix",
    "Saint-André",
    "Saint-Rémy",
    "Saint-Amand",
    "Sainte-Foy",
    "Notre-Dame",
    "La Chapelle",
    "Le Mesnil",
    "Les Essarts",
    "La Roche",
    "Le Bourg",
    "Les Granges",
    "L'Isle",
    "La Ferté",
    "Le Puy",
)
QUALIFIERS = (
    "",
    "",
    "",
    "",
    "-sur-Loire",
    "-sur-Seine",
    "-sur-Marne",
    "-sur-Mer",
    "-en-Bresse",
    "-en-Vexin",
    "-le-Château",
    "-le-Vieux",
    "-les-Bains",
    "-la-Forêt",
    "-de-Bretagne",
    "-d'Aunis",
    "-sous-Bois",
    "-aux-Bois",
    "-en-Auge",
    "-du-Lac",
    "-lès-Nancy",
    "-l'Abbaye",
    "-sur-Garonne",
    "-en-Quercy",
    "-de-Provence",
    "-d'Anjou",
    "-le-Grand",
    "-la-Rivière",
    "-les-Vignes",
    "-sur-Yonne",
)
RIVERS = _words("Loire Seine Garonne Dordogne Lot Tarn Allier Cher Vienne Marne Oise Saône Adour")
PEOPLE = _words(
    "Jean-Moulin Jules-Ferry Victor-Hugo Simone-Veil Louise-Michel Marie-Curie Jean-Jaurès "
    "Albert-Camus Colette George-Sand Jacques-Prévert Pierre-de-Coubertin Léo-Lagrange "
    "Antoine-de-Saint-Exupéry Jean-de-La-Fontaine Paul-Éluard Émile-Zola Aimé-Césaire "
    "Joséphine-Baker Gisèle-Halimi Olympe-de-Gouges Charles-de-Gaulle Jean-Monnet "
    "Pierre-Mendès-France Lucie-Aubrac Germaine-Tillion Françoise-Dolto Marcel-Pagnol "
    "Alphonse-Daudet Frédéric-Mistral André-Malraux Boris-Vian Édith-Piaf Camille-Claudel "
    "Rosa-Parks Nelson-Mandela Anne-Frank Jean-Zay Condorcet Voltaire Molière Rabelais Montaigne "
    "Pasteur Paul-Bert Jean-Macé Ferdinand-Buisson Suzanne-Lenglen Alain-Mimoun Marie-Marvingt"
)
STREETS = (
    "rue de la République",
    "place de la Mairie",
    "avenue Jean-Jaurès",
    "rue Victor-Hugo",
    "place du Marché",
    "rue de l'Église",
    "boulevard Gambetta",
    "rue des Écoles",
    "chemin du Moulin",
    "allée des Tilleuls",
    "rue Pasteur",
    "avenue de la Gare",
    "place Charles-de-Gaulle",
    "rue du Général-Leclerc",
    "impasse des Lilas",
    "rue du 8-Mai-1945",
    "quai des Bateliers",
    "rue de l'Hôtel-de-Ville",
)
NICKNAMES = (
    "Les Petits Loups",
    "Les Lutins",
    "Pomme d'Api",
    "Les Bout'chou",
    "L'Île aux enfants",
    "Les Pitchouns",
    "Les Tilleuls",
    "Les Glycines",
    "Le Rex",
    "L'Éden",
    "Le Vox",
    "La Source",
)


@dataclass
class Commune:
    code: str
    name: str
    dep: str
    region: str
    postal: str
    population: int
    lat: float
    lon: float
    epci: str = ""
    arrondissements: list[str] = field(default_factory=list)


@dataclass
class Epci:
    code: str
    name: str
    dep: str
    region: str
    communes: list[str]


@dataclass
class Geography:
    communes: dict[str, Commune]
    epcis: dict[str, Epci]

    def payloads(self, departements: set[str] | None = None) -> list[TerritoryUpserted]:
        keep = departements or {d[0] for d in DEPARTEMENTS}
        out: list[TerritoryUpserted] = []
        regions = {d[2] for d in DEPARTEMENTS if d[0] in keep}
        out += [_territory(code, TerritoryLevel.REGION, REGIONS[code]) for code in sorted(regions)]
        out += [
            _territory(d[0], TerritoryLevel.DEPARTEMENT, d[1], region_code=d[2])
            for d in DEPARTEMENTS
            if d[0] in keep
        ]
        out += [
            _territory(
                e.code,
                TerritoryLevel.EPCI,
                e.name,
                region_code=e.region,
                departement_codes=[e.dep],
            )
            for e in self.epcis.values()
            if e.dep in keep
        ]
        for c in self.communes.values():
            if c.dep not in keep:
                continue
            out.append(
                _territory(
                    c.code,
                    TerritoryLevel.COMMUNE,
                    c.name,
                    region_code=c.region,
                    departement_codes=[c.dep],
                    epci_code=c.epci,
                    postal_codes=[c.postal],
                    population=c.population,
                    centre=GeoPoint(lat=c.lat, lon=c.lon),
                )
            )
            for i, arr in enumerate(c.arrondissements, start=1):
                ordinal = "1er" if i == 1 else f"{i}e"
                out.append(
                    _territory(
                        arr,
                        TerritoryLevel.ARRONDISSEMENT,
                        f"{c.name} {ordinal} Arrondissement",
                        region_code=c.region,
                        departement_codes=[c.dep],
                        epci_code=c.epci,
                        parent_commune_code=c.code,
                        postal_codes=[_arr_postal(c, i)],
                        population=c.population // len(c.arrondissements),
                    )
                )
        return out


def _arr_postal(c: Commune, i: int) -> str:
    return ARRONDISSEMENTS[c.dep][3] + (f"{i:02d}" if c.dep != "69" else f"{i}")


def _territory(code: str, level: TerritoryLevel, name: str, **extra: Any) -> TerritoryUpserted:
    return TerritoryUpserted(
        code=code,
        level=level,
        name=name,
        version=1,
        provenance=Provenance(source="territories", remote_id=code, licence="lov2"),
        **extra,
    )


def build_geography(rng: random.Random, n_communes: int) -> Geography:
    """Communes spread over the 96 départements, grouped into EPCI of 6 to 30 communes."""
    communes: dict[str, Commune] = {}
    epcis: dict[str, Epci] = {}
    per_dep = max(3, n_communes // len(DEPARTEMENTS))
    for index, (dep, dep_name, region, prefecture, lat0, lon0, spread) in enumerate(DEPARTEMENTS):
        dep_communes: list[Commune] = []
        postal_dep = "20" if dep in ("2A", "2B") else dep
        if dep in ARRONDISSEMENTS:
            code, name, arrs, _ = ARRONDISSEMENTS[dep]
            city = Commune(code, name, dep, region, f"{postal_dep}001", 0, lat0, lon0)
            city.arrondissements = arrs
        else:
            city = Commune(
                f"{dep}{rng.randint(100, 599):03d}", prefecture, dep, region, "", 0, 0, 0
            )
        city.population = rng.randint(40_000, 300_000) if dep != "75" else 2_100_000
        city.lat, city.lon = lat0, lon0
        city.postal = f"{postal_dep}000"
        dep_communes.append(city)
        count = 1 if dep == "75" else max(3, int(per_dep * rng.uniform(0.7, 1.3)))
        names = {prefecture}
        used = {city.code}
        lon_scale = 1 / math.cos(math.radians(lat0))
        while len(dep_communes) < count:
            root = rng.choice(SAINTS) if rng.random() < 0.25 else rng.choice(VILLAGE_ROOTS)
            name = root + rng.choice(QUALIFIERS)
            if name in names:
                continue
            number = rng.randint(1, 999)
            code = f"{dep}{number:03d}"
            if code in used:
                continue
            names.add(name)
            used.add(code)
            lat = lat0 + max(-2.2 * spread, min(2.2 * spread, rng.gauss(0, spread)))
            lon = lon0 + lon_scale * max(-2.2 * spread, min(2.2 * spread, rng.gauss(0, spread)))
            dep_communes.append(
                Commune(
                    code=code,
                    name=name,
                    dep=dep,
                    region=region,
                    postal=f"{postal_dep}{rng.randrange(0, 1000, 10):03d}",
                    population=max(40, int(rng.lognormvariate(6.7, 1.2))),
                    lat=round(lat, 5),
                    lon=round(lon, 5),
                )
            )
        # EPCI: spatially coherent groups (bands of latitude, then longitude).
        rest = sorted(dep_communes[1:], key=lambda c: (round(c.lat / (spread / 2)), c.lon))
        groups: list[list[Commune]] = []
        size = rng.randint(6, 30)
        groups.append([city, *rest[: size - 1]])
        rest = rest[size - 1 :]
        while rest:
            size = rng.randint(6, 30)
            groups.append(rest[:size])
            rest = rest[size:]
        for k, group in enumerate(groups):
            group.sort(key=lambda c: -c.population)
            centre = group[0]
            code = f"24{index:02d}{k:05d}"
            if centre is city and city.population > 250_000:
                ename = f"{city.name} Métropole"
            elif centre is city:
                ename = f"Communauté d'agglomération {city.name} {dep_name}"
            else:
                ename = rng.choice(
                    (
                        f"Communauté de communes du Pays {de(centre.name)}",
                        f"Communauté de communes {centre.name} Val {de(rng.choice(RIVERS))}",
                        f"Communauté de communes des Coteaux {de(centre.name)}",
                        f"Communauté de communes {de(centre.name)} et environs",
                    )
                )
            epcis[code] = Epci(code, ename, dep, region, [c.code for c in group])
            for c in group:
                c.epci = code
        for c in dep_communes:
            communes[c.code] = c
    return Geography(communes, epcis)


def de(name: str) -> str:
    """French 'of': de Pau, d'Arudy, du Mans, des Essarts, de La Rochelle."""
    if name.startswith("Le "):
        return "du " + name[3:]
    if name.startswith("Les "):
        return "des " + name[4:]
    if name.startswith("Communauté "):
        return "de la " + name
    if name[0] in "AEIOUYÉÈÊÂÎÔH" or name.startswith("L'"):
        return "d'" + name
    return "de " + name


def a(name: str) -> str:
    """French 'at': à Pau, au Mans, aux Essarts."""
    if name.startswith("Le "):
        return "au " + name[3:]
    if name.startswith("Les "):
        return "aux " + name[4:]
    return "à " + name


# --- catalogue entries -----------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    source: str
    source_type: str
    policy_area: str
    kind: EntryKind
    weight: float
    titles: tuple[str, ...]
    descriptions: tuple[str, ...]
    hours: str = "admin"


S, P, E, D = EntryKind.SERVICE, EntryKind.PLACE, EntryKind.EVENT, EntryKind.DATASET
# fmt: off
OFFICES: tuple[Office, ...] = (
    Office(
        "service-public", "ccas", "Action sociale", S, 5,
        ("Centre communal d'action sociale (CCAS) {de_c}", "CCAS {de_c}"),
        (
            "Le CCAS accompagne les habitants {de_c} : aide sociale légale et facultative, "
            "domiciliation, portage de repas, aide aux démarches pour l'allocation personnalisée "
            "d'autonomie.",
            "Accueil, écoute et orientation des personnes en difficulté ; instruction des "
            "demandes d'aide sociale et de logement d'urgence.",
        ),
    ),
    Office(
        "datatourisme", "mediatheque", "Culture", P, 6,
        ("Médiathèque {person}", "Médiathèque municipale {de_c}", "Bibliothèque {person}"),
        (
            "Prêt de livres, de bandes dessinées, de disques et de films ; ateliers numériques, "
            "heure du conte pour les enfants et accès gratuit à Internet.",
            "La médiathèque {de_c} propose l'emprunt de documents, la consultation sur place, "
            "des expositions et des rencontres d'auteurs tout au long de l'année.",
        ),
        "culture",
    ),
    Office(
        "datatourisme", "piscine", "Sport", P, 3,
        ("Piscine municipale {de_c}", "Centre aquatique {person}", "Piscine {person}"),
        (
            "Bassin sportif de 25 mètres, bassin d'apprentissage et pataugeoire ; cours de "
            "natation pour les enfants, aquagym et créneaux réservés aux scolaires.",
            "Piscine couverte ouverte toute l'année ; l'été, le bassin extérieur et les "
            "toboggans font le bonheur des familles.",
        ),
        "sport",
    ),
    Office(
        "service-public", "france_services", "Démarches et état civil", S, 3,
        ("France services {de_c}", "Espace France services {de_epci}"),
        (
            "Un guichet unique pour vos démarches administratives : carte grise, permis de "
            "conduire, impôts, retraite, allocations familiales, assurance maladie et emploi.",
            "Des agents formés vous accompagnent dans vos démarches en ligne et vous "
            "orientent vers les partenaires (CAF, CPAM, France Travail, MSA, La Poste).",
        ),
    ),
    Office(
        "service-public", "caf", "Action sociale", S, 1.5,
        ("Caisse d'allocations familiales {de_dep} — accueil {de_c}", "CAF {de_dep} — {c}"),
        (
            "Accueil sur rendez-vous pour les prestations familiales, le RSA, la prime "
            "d'activité et les aides au logement. Bornes en libre-service.",
        ),
    ),
    Office(
        "service-public", "maison_sante", "Santé", S, 3,
        ("Maison de santé pluriprofessionnelle {de_c}", "Pôle de santé {de_c}"),
        (
            "Médecins généralistes, infirmiers, kinésithérapeutes et sages-femmes réunis en un "
            "même lieu ; consultations sur rendez-vous et soins non programmés.",
        ),
    ),
    Office(
        "datagouv", "ecole", "Éducation et jeunesse", P, 8,
        ("École élémentaire {person}", "École maternelle {person}", "Groupe scolaire {person}"),
        (
            "École publique {de_c} ; restauration scolaire, accueil périscolaire le matin et "
            "le soir, inscriptions en mairie.",
            "Établissement du premier degré : classes de la petite section au CM2, "
            "bibliothèque centre documentaire et cour végétalisée.",
        ),
        "school",
    ),
    Office(
        "service-public", "decheterie", "Environnement", P, 2.5,
        ("Déchèterie {de_c}", "Déchèterie intercommunale {de_epci}"),
        (
            "Dépôt des encombrants, déchets verts, gravats, cartons, métaux et déchets "
            "dangereux des particuliers ; accès sur présentation du badge.",
            "La déchèterie accueille les habitants de l'intercommunalité ; les professionnels "
            "sont acceptés sous conditions.",
        ),
        "waste",
    ),
    Office(
        "datatourisme", "gymnase", "Sport", P, 4,
        ("Gymnase {person}", "Complexe sportif {person}", "Stade municipal {de_c}"),
        (
            "Équipement sportif municipal : salle multisports, terrain de football, piste "
            "d'athlétisme ; réservation par les associations auprès de la mairie.",
        ),
        "sport",
    ),
    Office(
        "datatourisme", "office_tourisme", "Tourisme et loisirs", S, 1.5,
        ("Office de tourisme {de_c}", "Office de tourisme intercommunal {de_epci}"),
        (
            "Informations touristiques, billetterie, location de vélos et visites guidées du "
            "patrimoine {de_c} ; boutique de produits locaux.",
        ),
        "culture",
    ),
    Office(
        "service-public", "creche", "Éducation et jeunesse", S, 3,
        ("Crèche « {nickname} »", "Multi-accueil « {nickname} »", "Relais petite enfance {de_c}"),
        (
            "Accueil collectif des enfants de dix semaines à trois ans ; inscriptions auprès "
            "du relais petite enfance.",
            "Le relais petite enfance informe les parents sur les modes d'accueil et "
            "accompagne les assistantes maternelles.",
        ),
    ),
    Office(
        "service-public", "france_travail", "Économie et emploi", S, 1,
        ("France Travail {de_c}", "Agence France Travail {de_epci}"),
        (
            "Inscription comme demandeur d'emploi, indemnisation, offres d'emploi et "
            "accompagnement personnalisé ; ateliers de recherche d'emploi.",
        ),
    ),
    Office(
        "service-public", "mission_locale", "Économie et emploi", S, 0.8,
        ("Mission locale {de_epci}",),
        ("Accompagnement des jeunes de 16 à 25 ans vers l'emploi, la formation et le logement.",),
    ),
    Office(
        "service-public", "cpam", "Santé", S, 1,
        ("Caisse primaire d'assurance maladie {de_dep} — accueil {de_c}",),
        (
            "Carte Vitale, remboursements, complémentaire santé solidaire ; accueil sur "
            "rendez-vous.",
        ),
    ),
    Office(
        "service-public", "gendarmerie", "Sécurité", S, 2,
        ("Brigade de gendarmerie {de_c}", "Police municipale {de_c}"),
        (
            "Dépôt de plainte, pré-plainte en ligne, opération tranquillité vacances ; en cas "
            "d'urgence, composez le 17.",
        ),
    ),
    Office(
        "service-public", "sip", "Finances publiques et fiscalité", S, 1,
        ("Centre des finances publiques {de_c}", "Service des impôts des particuliers {de_c}"),
        (
            "Questions sur l'impôt sur le revenu, la taxe foncière et le prélèvement à la "
            "source ; paiement de proximité chez les buralistes partenaires.",
        ),
    ),
    Office(
        "datatourisme", "conservatoire", "Culture", P, 1,
        ("Conservatoire de musique et de danse {de_c}", "École de musique {de_epci}"),
        ("Enseignement de la musique, de la danse et du théâtre dès quatre ans ; auditions.",),
        "culture",
    ),
    Office(
        "datatourisme", "musee", "Culture", P, 1.5,
        ("Musée {de_c}", "Musée d'art et d'histoire {de_c}", "Cinéma « {nickname} »"),
        (
            "Collections permanentes et expositions temporaires ; visites commentées le "
            "dimanche, entrée gratuite le premier dimanche du mois.",
        ),
        "culture",
    ),
    Office(
        "service-public", "point_justice", "Justice et accès au droit", S, 0.7,
        ("Point-justice {de_c}", "Maison de la justice et du droit {de_epci}"),
        ("Consultations gratuites d'avocats, de notaires et de conciliateurs de justice.",),
    ),
    Office(
        "service-public", "centre_social", "Action sociale", S, 2,
        ("Centre social {person}", "EHPAD « {nickname} »", "Résidence autonomie {de_c}"),
        (
            "Activités pour tous les âges, accompagnement à la scolarité, aide aux familles "
            "et lieu d'écoute ; l'adhésion est à prix libre.",
        ),
    ),
    Office(
        "service-public", "mobilite", "Mobilité et transports", S, 1,
        ("Agence de mobilité {de_epci}", "Gare routière {de_c}"),
        ("Abonnements de bus et de car, transport à la demande, location de vélos électriques.",),
    ),
    Office(
        "service-public", "urbanisme", "Aménagement et logement", S, 1.5,
        ("Service urbanisme {de_c}", "Espace conseil France Rénov' {de_epci}"),
        (
            "Permis de construire, déclarations préalables, certificats d'urbanisme ; conseils "
            "gratuits pour la rénovation énergétique de votre logement.",
        ),
    ),
    Office(
        "openagenda", "evenement", "Culture", E, 18,
        (
            "Fête de la musique {a_c}",
            "Marché de Noël {de_c}",
            "Festival de jazz {de_c}",
            "Exposition « {person}, une vie d'engagement »",
            "Vide-greniers {de_c}",
            "Concert de l'harmonie {de_c}",
            "Atelier numérique à la médiathèque {person}",
            "Journées européennes du patrimoine {a_c}",
            "Forum des associations {de_c}",
            "Course pédestre « Les Foulées {de_c} »",
            "Conseil municipal {de_c}",
            "Semaine bleue des aînés {a_c}",
            "Marché des producteurs de pays {de_c}",
            "Ciné-plein air {a_c}",
        ),
        (
            "Rendez-vous {a_c} pour une journée festive ; entrée libre, buvette et restauration "
            "sur place, accessible aux personnes à mobilité réduite.",
            "Programme complet sur le site de la commune ; l'inscription est gratuite mais "
            "obligatoire jusqu'à la veille.",
            "Organisé par la mairie et les associations {de_c}, avec le soutien {de_epci}.",
        ),
        "none",
    ),
    Office(
        "datagouv", "jeu_de_donnees", "Administration locale", D, 6,
        (
            "Budget primitif 2026 {de_c}",
            "Délibérations du conseil municipal {de_c}",
            "Arbres remarquables {de_c}",
            "Bornes de recharge pour véhicules électriques — {epci}",
            "Horaires des déchèteries — {epci}",
            "Équipements sportifs {de_c}",
            "Qualité de l'eau potable {de_c}",
            "Menus des cantines scolaires {de_c}",
        ),
        (
            "Jeu de données publié par {epci} sous Licence Ouverte 2.0, mis à jour chaque "
            "trimestre ; formats CSV et GeoJSON.",
            "Données ouvertes {de_c} : fichier tabulaire avec le dictionnaire des champs.",
        ),
        "none",
    ),
)
MAIRIE = Office(
    "service-public", "mairie", "Administration locale", S, 0,
    ("Mairie {de_c}",),
    (
        "Accueil de la mairie {de_c} : état civil, cartes d'identité et passeports sur "
        "rendez-vous, inscription sur les listes électorales, urbanisme et cimetière.",
    ),
)
# fmt: on
EXTRAS = (
    "Accès aux personnes à mobilité réduite.",
    "Parking gratuit à proximité.",
    "Fermé les jours fériés.",
    "Horaires d'été du 1er juillet au 31 août.",
    "Accueil téléphonique de 9 h à 12 h.",
    "Prise de rendez-vous en ligne possible.",
    "L'accueil est assuré par des agents formés à la langue des signes.",
    "Desservi par la ligne de bus n° 3, arrêt « Mairie ».",
    "",
    "",
)
HOURS: dict[str, list[tuple[list[int], str, str]]] = {
    "admin": [([0, 1, 2, 3, 4], "08:30", "12:00"), ([0, 1, 3, 4], "13:30", "17:00")],
    "culture": [([1, 3, 4], "14:00", "18:30"), ([2, 5], "10:00", "18:00")],
    "sport": [([0, 1, 2, 3, 4], "07:00", "21:30"), ([5, 6], "09:00", "18:00")],
    "school": [([0, 1, 3, 4], "08:20", "16:30"), ([2], "08:20", "11:45")],
    "waste": [([0, 2, 4, 5], "09:00", "12:00"), ([0, 1, 2, 3, 4, 5], "14:00", "18:00")],
    "none": [],
}
DAY0 = date(2026, 1, 1)


class Reservoir(Generic[T]):
    """A uniform sample of a stream of unknown length (algorithm R)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seen = 0
        self.items: list[T] = []
        self.rng = random.Random(seed)

    def offer(self, item: T) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif (slot := self.rng.randrange(self.seen)) < self.size:
            self.items[slot] = item


class Sampled:
    """What the query pools are drawn from: entries drawn uniformly from those generated."""

    def __init__(self) -> None:
        self.entries: Reservoir[tuple[str, str]] = Reservoir(2000, 7)  # (entry_id, title)
        self.points: Reservoir[tuple[float, float]] = Reservoir(2000, 8)  # where services are

    def offer(self, entry: CatalogueEntryUpserted) -> None:
        self.entries.offer((entry.entry_id, entry.title))
        if entry.point is not None:
            self.points.offer((round(entry.point.lat, 4), round(entry.point.lon, 4)))


class Catalogue:
    """Deterministic generator of one tenant's entries."""

    def __init__(self, geo: Geography, seed: int, prefix: str, deps: set[str] | None) -> None:
        self.geo = geo
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.communes = [c for c in geo.communes.values() if deps is None or c.dep in deps]
        self.weights = [c.population**0.6 for c in self.communes]
        self.offices = OFFICES
        self.office_weights = [o.weight for o in OFFICES]
        self.dep_names = {d[0]: d[1] for d in DEPARTEMENTS}
        self.sampled = Sampled()

    def entries(self, n: int) -> Iterator[CatalogueEntryUpserted]:
        i = 0
        for commune in self.communes:  # a mairie per commune first
            if i >= n:
                return
            yield self._entry(i, MAIRIE, commune)
            i += 1
        while i < n:
            commune = self.rng.choices(self.communes, self.weights)[0]
            office = self.rng.choices(self.offices, self.office_weights)[0]
            yield self._entry(i, office, commune)
            i += 1

    def _entry(self, i: int, office: Office, c: Commune) -> CatalogueEntryUpserted:
        rng = self.rng
        epci = self.geo.epcis[c.epci]
        names = {
            "c": c.name,
            "de_c": de(c.name),
            "a_c": a(c.name),
            "person": rng.choice(PEOPLE),
            "nickname": rng.choice(NICKNAMES),
            "epci": epci.name,
            "de_epci": de(epci.name),
            "de_dep": de(self.dep_names[c.dep]),
        }
        title = rng.choice(office.titles).format(**names)
        description = " ".join(
            p
            for p in (
                rng.choice(office.descriptions).format(**names),
                rng.choice(EXTRAS),
                rng.choice(EXTRAS),
            )
            if p
        )
        commune_code = rng.choice(c.arrondissements) if c.arrondissements else c.code
        communes = [commune_code]
        if office.kind is not EntryKind.EVENT and rng.random() < 0.05:  # serves neighbours too
            communes += rng.sample(epci.communes, min(len(epci.communes), rng.randint(1, 4)))
        communes = list(dict.fromkeys(communes))
        point = None
        if office.kind is not EntryKind.DATASET and rng.random() < 0.95:
            jitter = 0.004 if c.dep in ("75", "92", "93", "94") else 0.015
            point = GeoPoint(
                lat=round(c.lat + rng.uniform(-jitter, jitter), 6),
                lon=round(c.lon + rng.uniform(-jitter, jitter) * 1.4, 6),
            )
        dates: list[DateRange] = []
        if office.kind is EntryKind.EVENT:
            dates = self._dates()
        remote_id = f"{self.prefix}-{i:07d}"
        phone = f"+33 {rng.randint(1, 5)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
        phone += f"{rng.randint(10, 99)} {rng.randint(10, 99)}"
        contacts = [Contact(kind="phone", value=phone)]
        if rng.random() < 0.5:
            contacts.append(Contact(kind="email", value=f"accueil.{i}@example.fr"))
        slots = [
            OpeningSlot(weekday=day, opens=opens, closes=closes)
            for days, opens, closes in HOURS[office.hours]
            for day in days
        ]
        entry = CatalogueEntryUpserted(
            entry_id=f"{office.source}:{remote_id}",
            version=1,
            kind=office.kind,
            title=title,
            description=description,
            source_type=office.source_type,
            policy_area=office.policy_area
            if office.kind is not EntryKind.EVENT
            else rng.choice(
                ("Culture", "Culture", "Sport", "Tourisme et loisirs", "Action sociale")
            ),
            commune_codes=communes,
            epci_codes=[c.epci],
            departement_codes=[c.dep],
            address=Address(
                lines=[f"{rng.randint(1, 120)} {rng.choice(STREETS)}"],
                postal_code=c.postal,
                city=c.name,
                commune_code=commune_code,
            )
            if office.kind is not EntryKind.DATASET
            else None,
            point=point,
            contacts=contacts,
            opening_hours=slots,
            dates=dates,
            url=f"https://www.example.fr/{c.code}/{remote_id}",
            provenance=Provenance(source=office.source, remote_id=remote_id, licence="lov2"),
            updated_at=NOW,
        )
        self.sampled.offer(entry)
        return entry

    def _dates(self) -> list[DateRange]:
        rng = self.rng
        start = DAY0 + timedelta(days=rng.randrange(730))
        shape = rng.random()
        if shape < 0.6:  # one day
            return [DateRange(start=start, end=start, start_time="20:30")]
        if shape < 0.85:  # a festival
            return [DateRange(start=start, end=start + timedelta(days=rng.randint(1, 4)))]
        if shape < 0.95:  # an exhibition
            return [DateRange(start=start, end=start + timedelta(days=rng.randint(7, 60)))]
        return [  # a market, monthly
            DateRange(start=start + timedelta(days=28 * k), end=start + timedelta(days=28 * k))
            for k in range(rng.randint(3, 6))
        ]


# --- loading ---------------------------------------------------------------------------------


@dataclass
class Load:
    entries: int = 0
    territories: int = 0
    seconds: float = 0.0
    territory_seconds: float = 0.0
    vacuum_seconds: float = 0.0
    reused: bool = False


def load_tenant(
    db: Database,
    tenant: str,
    territories: Sequence[TerritoryUpserted],
    entries: Iterator[CatalogueEntryUpserted],
    batch: int,
    into: Load,
) -> None:
    t0 = time.perf_counter()
    with db.transaction() as session:
        scope_to_tenant(session, tenant)
        for t in territories:
            upsert_territory(session, tenant, t)
    into.territories += len(territories)
    into.territory_seconds += time.perf_counter() - t0
    while chunk := list(itertools.islice(entries, batch)):  # generated outside the timing
        t0 = time.perf_counter()
        with db.transaction() as session:
            scope_to_tenant(session, tenant)
            for data in chunk:
                upsert_entry(session, tenant, data)
        into.seconds += time.perf_counter() - t0
        into.entries += len(chunk)
        if into.entries % 10_000 < len(chunk):
            print(
                f"  … {tenant}: {into.entries:,} entries ({into.entries / into.seconds:,.0f}/s)",
                flush=True,
            )


def reset_postgresql(db: Database) -> None:
    with db.transaction() as session:
        for table in ("entry_communes", "entries", "territories"):
            session.execute(
                text(f"DELETE FROM catalogue.{table} WHERE tenant_id IN (:a, :b)"),
                {"a": TENANT_A, "b": TENANT_B},
            )


def vacuum_postgresql(db: Database) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("entries", "entry_communes", "territories"):
            conn.execute(text(f"VACUUM ANALYZE catalogue.{table}"))


def database_size(db: Database) -> str:
    if db.is_sqlite:
        path = Path(str(db.engine.url.database))
        files = list(path.parent.glob(f"{path.stem}.catalogue.db*"))  # with -wal and -shm
        total = sum(f.stat().st_size for f in files)
        return f"{total / 2**20:,.0f} MiB (SQLite {path.stem}.catalogue.db, WAL included)"
    with db.engine.connect() as conn:
        sizes = {
            table: int(
                conn.execute(
                    text("SELECT pg_total_relation_size(CAST(:t AS regclass))"),
                    {"t": f"catalogue.{table}"},
                ).scalar_one()
            )
            for table in ("entries", "entry_communes", "territories")
        }
        gin = int(
            conn.execute(
                text("SELECT pg_relation_size('catalogue.ix_entries_search_vector')")
            ).scalar_one()
        )
    parts = ", ".join(f"{t} {s / 2**20:,.0f}" for t, s in sizes.items())
    return (
        f"{sum(sizes.values()) / 2**20:,.0f} MiB with indexes ({parts}; GIN {gin / 2**20:,.0f})"
        " — all tenants of the database"
    )


# --- measuring -------------------------------------------------------------------------------


class CacheProbe:
    """The catalogue's cache, counted; cold requests are forced to miss by a generation bump."""

    def __init__(self, inner: Cache, redis_url: str | None) -> None:
        self.inner = inner
        self.redis_url = redis_url
        self.hits = 0
        self.misses = 0
        self.written: list[str] = []

    def get(self, key: str) -> bytes | None:
        value = self.inner.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self.written.append(key)
        self.inner.set(key, value, ttl_s)

    def generation(self, scope: str) -> int:
        return self.inner.generation(scope)

    def bump(self, scope: str) -> None:
        self.inner.bump(scope)

    def forget_written(self) -> None:
        """Drop what the bench wrote to a shared Redis (stale after a bump anyway)."""
        if isinstance(self.inner, RedisCache) and self.redis_url and self.written:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            client.delete(*(f"{self.inner.prefix}:{k}" for k in self.written))
            client.close()
        self.written.clear()


class GcPauses:
    """Full (generation 2) collections of the process while the queries run: the tail's cause."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._t0 = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on or info["generation"] != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._t0) * 1000)

    def summary(self) -> str:
        if not self.pauses:
            return "no full GC while querying"
        return (
            f"{len(self.pauses)} full GC pauses while querying, median "
            f"{statistics.median(self.pauses):.0f} ms, max {max(self.pauses):.0f} ms"
        )


@dataclass
class Stats:
    n: int
    p50: float
    p99: float
    mean: float

    @property
    def rps(self) -> float:
        return 1000 / self.mean if self.mean else float("inf")


def stats(ms: list[float]) -> Stats:
    ordered = sorted(ms)
    return Stats(
        n=len(ms),
        p50=statistics.median(ordered),
        p99=ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)],
        mean=statistics.fmean(ordered),
    )


@dataclass
class Row:
    query: str
    cold: Stats
    hit: Stats | None
    not_modified: Stats | None
    items: float
    kib: float
    gcs: int


class Bench:
    def __init__(
        self, client: TestClient, probe: CacheProbe, tenant: str, requests: int, gcs: GcPauses
    ) -> None:
        self.client = client
        self.probe = probe
        self.tenant = tenant
        self.requests = requests
        self.gcs = gcs
        self.leaks = 0

    def url(self, path: str, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"/v1/tenants/{self.tenant}{path}" + (f"?{query}" if query else "")

    def get(self, url: str, headers: dict[str, str] | None = None) -> Any:
        r = self.client.get(url, headers=headers or {})
        if r.status_code not in (200, 304):
            raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:300]}")
        return r

    def run(self, query: str, make: Callable[[int], str], warmup: int, warm: bool = True) -> Row:
        for i in range(warmup):
            self.probe.bump(self.tenant)
            self.get(make(-1 - i))
        cold: list[float] = []
        items = 0
        size = 0
        misses = self.probe.misses
        gcs = len(self.gcs.pauses)
        for i in range(self.requests):
            url = make(i)
            self.probe.bump(self.tenant)
            t0 = time.perf_counter()
            r = self.get(url)
            cold.append((time.perf_counter() - t0) * 1000)
            size += len(r.content)
            body = r.json()
            found = body.get("items", [body]) if isinstance(body, dict) else body
            if isinstance(found, list):
                items += len(found)
                self.leaks += sum(
                    1 for e in found if isinstance(e, dict) and ":b-" in str(e.get("entry_id"))
                )
        gcs = len(self.gcs.pauses) - gcs
        if warm and self.probe.misses - misses < self.requests:
            raise RuntimeError(f"{query}: cold requests hit the cache")
        self.probe.forget_written()
        hit = not_modified = None
        if warm:
            url = make(0)
            etag = self.get(url).headers["etag"]
            hits = self.probe.hits
            hit = self._time(url, None)
            not_modified = self._time(url, {"If-None-Match": etag})
            if self.probe.hits - hits != 2 * self.requests:
                raise RuntimeError(f"{query}: warm requests missed the cache")
            self.probe.forget_written()
        return Row(
            query,
            stats(cold),
            hit,
            not_modified,
            items / self.requests,
            size / self.requests / 1024,
            gcs,
        )

    def _time(self, url: str, headers: dict[str, str] | None) -> Stats:
        ms: list[float] = []
        for _ in range(self.requests):
            t0 = time.perf_counter()
            self.get(url, headers)
            ms.append((time.perf_counter() - t0) * 1000)
        return stats(ms)


FTS_WORDS = (
    "mediatheque",
    "médiathèque",
    "piscine",
    "déchèterie",
    "crèche",
    "gymnase",
    "mairie",
    "CCAS",
    "conservatoire",
    "gendarmerie",
    "musée",
    "marché",
    "concert",
    "exposition",
    "bibliothèque",
    "natation",
    "passeport",
    "vaccination",
    "urbanisme",
    "impôts",
)
FTS_PHRASES = (
    "piscine municipale",
    "france services",
    "maison de santé",
    "office de tourisme",
    "action sociale",
    "école élémentaire",
    "centre social",
    "carte d'identité",
    "allocations familiales",
    "marché de Noël",
    "assurance maladie",
    "relais petite enfance",
    "point justice",
    "finances publiques",
    "ateliers numériques",
    "déchets verts",
)
FTS_PREFIXES = (
    "média",
    "pisc",
    "déch",
    "gymn",
    "conserv",
    "bibli",
    "france serv",
    "maison de sa",
    "crèc",
    "musé",
    "gendar",
    "natat",
)


def run_queries(
    bench: Bench, geo: Geography, sampled: Sampled, seed: int, warmup: int
) -> list[Row]:
    rng = random.Random(seed)
    epcis = sorted(geo.epcis)
    deps = [d[0] for d in DEPARTEMENTS]
    areas = sorted({o.policy_area for o in OFFICES})
    communes = sorted(geo.communes.values(), key=lambda c: c.code)
    u = bench.url

    def pick(seq: Sequence[Any], i: int) -> Any:
        return seq[(i * 7919 + 13) % len(seq)] if i >= 0 else rng.choice(seq)

    def window(i: int) -> dict[str, str]:
        start = DAY0 + timedelta(days=(i * 37) % 700 if i >= 0 else rng.randrange(700))
        return {"from": start.isoformat(), "to": (start + timedelta(days=30)).isoformat()}

    def page2(first: Callable[[int], str], i: int) -> str:
        """Page 2 of the first of the next candidates that has one (page 1 is not timed).

        Pages of 50 (the default); of 10 where a small --entries leaves no second page of 50.
        """
        for limit in (50, 10):
            for k in range(20):
                url = first(i + k if i >= 0 else i) + f"&limit={limit}"
                cursor = bench.get(url).json()["next_cursor"]
                if cursor is not None:
                    return url + "&" + urlencode({"cursor": cursor})
        raise RuntimeError(f"{url}: no second page")

    big_deps = [d for d in deps if d not in ("75", "90", "92", "93", "94")]
    queries: list[tuple[str, Callable[[int], str]]] = [
        ("GET /healthz (floor)", lambda i: "/healthz"),
        ("q=<word>", lambda i: u("/entries", q=pick(FTS_WORDS, i))),
        ("q=mairie (the most frequent term)", lambda i: u("/entries", q="mairie")),
        ("q=<two words>", lambda i: u("/entries", q=pick(FTS_PHRASES, i))),
        ("q=<prefix>", lambda i: u("/entries", q=pick(FTS_PREFIXES, i))),
        (
            "q=<word>&territory=<EPCI>",
            lambda i: u("/entries", q=pick(FTS_WORDS, i), territory=pick(epcis, i)),
        ),
        (
            "q=<word>&territory=<dép.>",
            lambda i: u("/entries", q=pick(FTS_WORDS, i), territory=pick(big_deps, i)),
        ),
        ("list (no filter)", lambda i: u("/entries", limit=50 - (i % 2))),
        ("territory=<commune>", lambda i: u("/entries", territory=pick(communes, i).code)),
        ("territory=<EPCI>", lambda i: u("/entries", territory=pick(epcis, i))),
        (
            "territory=<dép.>&kind&policy_area",
            lambda i: u(
                "/entries", territory=pick(big_deps, i), kind="service", policy_area=pick(areas, i)
            ),
        ),
        (
            "page 2 (cursor) territory=<dép.>",
            lambda i: page2(lambda k: u("/entries", territory=pick(big_deps, k)), i),
        ),
        (
            "page 2 (cursor) q=<word>",
            lambda i: page2(lambda k: u("/entries", q=pick(FTS_WORDS, k)), i),
        ),
        (
            "near=<commune> radius_km=5",
            lambda i: u("/entries", near="{},{}".format(*pick(sampled.points.items, i))),
        ),
        (
            "near=<commune> r=5 & q=<word>",
            lambda i: u(
                "/entries",
                near="{},{}".format(*pick(sampled.points.items, i)),
                q=pick(FTS_WORDS, i),
            ),
        ),
        ("events 30 days (whole tenant)", lambda i: u("/events", **window(i))),
        (
            "events 30 days & territory=<dép.>",
            lambda i: u("/events", territory=pick(big_deps, i), **window(i)),
        ),
        ("entry by id", lambda i: u(f"/entries/{pick(sampled.entries.items, i)[0]}")),
        ("policy-areas territory=<dép.>", lambda i: u("/policy-areas", territory=pick(deps, i))),
        (
            "territories q=<name prefix>",
            lambda i: u("/territories", q=pick(communes, i).name[: 3 + i % 4]),
        ),
        (
            "territories q=<postal prefix>",
            lambda i: u("/territories", q=pick(communes, i).postal[: 2 + i % 3]),
        ),
        ("territories/<EPCI>", lambda i: u(f"/territories/{pick(epcis, i)}")),
    ]
    rows: list[Row] = []
    for name, make in queries:
        t0 = time.perf_counter()
        rows.append(bench.run(name, make, warmup, warm=not name.startswith("GET /healthz")))
        print(f"  … {name}: {time.perf_counter() - t0:.1f}s", flush=True)
    return rows


# --- one backend -----------------------------------------------------------------------------

DATA_VERSION = 1  # bump when the generator changes: stores loaded by another version reload


@dataclass
class Dataset:
    """The generated catalogue: geography, both tenants' generators, and its sample."""

    args: argparse.Namespace
    geo: Geography
    b_deps: set[str]
    sampled: Sampled
    sampled_b: Sampled

    @classmethod
    def build(cls, args: argparse.Namespace) -> Dataset:
        geo = build_geography(random.Random(args.seed), max(50, min(35_000, args.entries // 10)))
        data = cls(args, geo, {"64", "40", "33"}, Sampled(), Sampled())
        for _ in data.entries_a():  # one pass to draw the sample (the load draws it again)
            pass
        for _ in data.entries_b():
            pass
        data.sampled = data._gen_a.sampled
        data.sampled_b = data._gen_b.sampled
        return data

    def entries_a(self) -> Iterator[CatalogueEntryUpserted]:
        self._gen_a = Catalogue(self.geo, self.args.seed + 1, "a", None)
        return self._gen_a.entries(self.args.entries)

    def entries_b(self) -> Iterator[CatalogueEntryUpserted]:
        self._gen_b = Catalogue(self.geo, self.args.seed + 2, "b", self.b_deps)
        return self._gen_b.entries(self.args.entries // 20)

    @property
    def key(self) -> str:
        return f"{self.args.entries}-{self.args.seed}-v{DATA_VERSION}"


def store_matches(db: Database, data: Dataset) -> bool:
    """The bench tenants already hold exactly this dataset (counts and sampled titles)."""
    with db.transaction() as session:
        rows = session.execute(
            text(
                "SELECT tenant_id, count(*) FROM catalogue.entries"
                " WHERE tenant_id IN (:a, :b) AND removed_at IS NULL GROUP BY tenant_id"
            ),
            {"a": TENANT_A, "b": TENANT_B},
        ).all()
        counts = {str(tenant): int(n) for tenant, n in rows}
        if counts != {TENANT_A: data.args.entries, TENANT_B: data.args.entries // 20}:
            return False
        for tenant, sample in ((TENANT_A, data.sampled), (TENANT_B, data.sampled_b)):
            for entry_id, title in sample.entries.items[:20]:
                found = session.execute(
                    text(
                        "SELECT title FROM catalogue.entries WHERE tenant_id = :t AND entry_id = :e"
                    ),
                    {"t": tenant, "e": entry_id},
                ).scalar()
                if found != title:
                    return False
    return True


def has_entries(db: Database) -> bool:
    with db.transaction() as session:
        return bool(
            session.execute(text("SELECT EXISTS (SELECT 1 FROM catalogue.entries)")).scalar()
        )


def run_backend(backend: str, args: argparse.Namespace, data: Dataset) -> Result:
    store = args.data_dir / f"{backend}-{data.key}"
    saved = store.with_suffix(".load.json")
    store.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        settings = Settings(
            data_dir=store,
            database_url=f"sqlite:///{store / 'citela.db'}",
            kafka_bootstrap=None,
            redis_url=None,
        )
    else:
        settings = Settings(
            data_dir=store,
            database_url=args.pg_url,
            kafka_bootstrap=None,
            redis_url=args.redis_url if args.pg_cache == "redis" else None,
        )
    runtime: ServiceRuntime = build_runtime(settings, create_bus(settings))
    probe = CacheProbe(runtime.extras["cache"], settings.redis_url)
    runtime.extras["cache"] = probe
    db = runtime.db
    if backend == "sqlite" and args.reload:
        for f in store.glob("citela*.db*"):
            f.unlink()
    runtime.migrate()
    if not args.reload and saved.exists() and store_matches(db, data):
        load = Load(**json.loads(saved.read_text())["load"])
        load.reused = True
        print(f"[{backend}] reusing the store loaded earlier ({saved})", flush=True)
    else:
        if backend == "sqlite" and has_entries(db):  # a store of another dataset: start afresh
            db.dispose()
            for f in store.glob("citela*.db*"):
                f.unlink()
            runtime.migrate()
        load = load_store(backend, db, data)
        saved.write_text(json.dumps({"load": asdict(load), "at": datetime.now(UTC).isoformat()}))
    probe.bump(TENANT_A)  # what the projection handler does after a change
    probe.bump(TENANT_B)
    size = database_size(db)

    print(f"[{backend}] querying: {args.requests} timed requests per query", flush=True)
    load_before = os.getloadavg()[0]
    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    with TestClient(runtime.create_app()) as client:
        gc.collect()
        if args.gc_freeze:
            gc.freeze()
        gc_pauses.on = True
        bench = Bench(client, probe, TENANT_A, args.requests, gc_pauses)
        rows = run_queries(bench, data.geo, data.sampled, args.seed + 3, args.warmup)
        gc_pauses.on = False
        if bench.leaks:
            raise RuntimeError(f"{bench.leaks} entries of {TENANT_B} answered to {TENANT_A}")
    gc.callbacks.remove(gc_pauses)
    gc.unfreeze()
    probe.forget_written()
    if args.cleanup:  # leave nothing of the bench behind
        if backend == "postgresql":
            reset_postgresql(db)
        db.dispose()
        for f in store.glob("*"):
            f.unlink()
        store.rmdir()
        saved.unlink(missing_ok=True)
    db.dispose()
    cache = "in-process" if backend == "sqlite" or args.pg_cache == "memory" else "Redis"
    machine = (
        f"machine load average {load_before:.1f} before the queries, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    return Result(backend, load, rows, size, cache, f"{gc_pauses.summary()}; {machine}")


def load_store(backend: str, db: Database, data: Dataset) -> Load:
    args = data.args
    if backend == "postgresql":
        reset_postgresql(db)
    print(
        f"[{backend}] loading {args.entries:,} entries for {TENANT_A} "
        f"({len(data.geo.communes):,} communes, {len(data.geo.epcis):,} EPCI) "
        f"+ {args.entries // 20:,} for {TENANT_B}, through the projection",
        flush=True,
    )
    load = Load()
    load_tenant(db, TENANT_A, data.geo.payloads(), data.entries_a(), args.batch, load)
    load_tenant(db, TENANT_B, data.geo.payloads(data.b_deps), data.entries_b(), args.batch, load)
    if backend == "postgresql":
        t0 = time.perf_counter()
        vacuum_postgresql(db)
        load.vacuum_seconds = time.perf_counter() - t0
    return load


@dataclass
class Result:
    backend: str
    load: Load
    rows: list[Row]
    size: str
    cache: str
    gc: str


def report(r: Result) -> None:
    load = r.load
    print()
    print(
        f"== {r.backend}: {load.entries:,} entries loaded in {load.seconds:,.1f}s "
        f"({load.entries / load.seconds:,.0f} entries/s through the projection), "
        f"{load.territories:,} territories in {load.territory_seconds:,.1f}s"
        + (f", VACUUM ANALYZE {load.vacuum_seconds:,.1f}s" if load.vacuum_seconds else "")
        + (" [load figures of the run that loaded this store]" if load.reused else "")
    )
    print(f"   store: {r.size}; cache: {r.cache}")
    print(f"   {r.gc}")
    print(
        f"{'backend':<11}{'query':<36}{'items':>6}{'KiB':>6} |"
        f"{'cold p50':>9}{'p99':>7}{'mean':>7}{'req/s':>6}{'GC':>4} |"
        f"{'hit p50':>8}{'p99':>6} |{'304 p50':>8}{'p99':>6}"
    )
    for row in r.rows:
        warm = "".join(
            f" |{s.p50:>8.1f}{s.p99:>6.1f}" if s else " |" + " " * 14
            for s in (row.hit, row.not_modified)
        )
        cold = row.cold
        print(
            f"{r.backend:<11}{row.query:<36}{row.items:>6.1f}{row.kib:>6.1f} |"
            f"{cold.p50:>9.1f}{cold.p99:>7.1f}{cold.mean:>7.1f}{cold.rps:>6.0f}{row.gcs:>4}" + warm
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000, help="entries per load transaction")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var/bench-catalogue"),
        help="where the SQLite stores and the load figures are kept between runs",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="load again even when the store already holds this dataset",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CITELA_TEST_DATABASE_URL",
            "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela_test",
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("CITELA_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--pg-cache",
        choices=("redis", "memory"),
        default="redis",
        help="cache of the PostgreSQL run (the distributed mode uses Redis)",
    )
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="delete the bench tenants' rows (PostgreSQL) and the SQLite store after the run; "
        "by default they stay, so that the next run with the same --entries and --seed skips "
        "the load",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once the app is built, as a server may after start-up: shows how much "
        "of the tail is full garbage collections",
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    t0 = time.perf_counter()
    data = Dataset.build(args)
    print(
        f"generated {args.entries:,} + {args.entries // 20:,} entries "
        f"in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    results = [run_backend(backend, args, data) for backend in backends]
    for result in results:
        report(result)
    print(
        f"\n{args.requests} timed requests per query and cache mode (cold: cache generation "
        "bumped before each, parameters varying; hit: same URL; 304: same URL with "
        "If-None-Match), one client, in-process TestClient; times in ms; GC: full garbage "
        f"collections during the cold requests. Total run {time.perf_counter() - started:,.0f}s."
    )


if __name__ == "__main__":
    main()
