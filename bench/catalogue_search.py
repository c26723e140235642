"""Catalogue search at 100,000 entries: the API under wrk against the bare SQL it runs.

``uv run --no-sync python bench/catalogue_search.py --mode distributed [--entries 100000]
[--seconds 10] [--reuse]``

Runs exactly the mode it names, whatever ``CITELA_*`` says (``bench/modes.py``):
distributed is a PostgreSQL database of its own (``citela_bench_catalogue_<entries>`` on
``--pg-url``'s server) and Redis as the API's cache; embedded is a SQLite file under
``--data-dir`` and the in-process cache. The speed goal (p99 < 20 ms per query shape) is for
distributed; embedded shows the same API works, at its own pace.

1. Load (skipped only with ``--reuse`` when the store holds exactly this dataset, said on
   the first line of output): a synthetic but realistic French catalogue, the geography of
   13 régions, 96 départements, ~600 EPCI and ~10,000 communes with French-sounding names
   (their real codes, names and centres are not in the repository: only the Oise fixtures
   are) and ``--entries`` entries for tenant ``bench-search-a`` (a mairie per commune, then
   CCAS, médiathèques, piscines, France services, écoles, déchèteries, events, datasets…,
   drawn by population, titles and descriptions varied), plus a twentieth of that for
   ``bench-search-b`` on three départements, which tenant scoping must filter out. Loading
   goes through the projection in bulk (``apply_entries``, ``--batch`` entries per
   transaction, the tsvector computed by PostgreSQL in the upsert), then ``VACUUM ANALYZE``.
2. Per query shape, a pool of parameters drawn from the data: ``rare`` (a commune's name:
   tens of matches), ``mairie`` (one entry in ten), ``prefix`` (one letter: ``q=p`` …),
   ``commune`` (``territory=`` a commune code), ``near`` (5 km around a service),
   ``page2`` (the cursor of page 1 of ``mairie``, of a prefix and of the plain listing).
3. Anchor: the statements the API runs for each of those requests (captured from
   SQLAlchemy), replayed on a bare DBAPI connection (psycopg / sqlite3), one at a time.
4. Project: the catalogue service under uvicorn (1 worker, no consumers), loaded by wrk
   (``--connections``, 1 by default: latency, as a user sees it); every request carries a
   unique parameter so that it misses the response cache and runs its SQL.
Printed per shape: anchor p50/p99, project req/s, p50/p99, and ratio = anchor p50 / project
p50 (the share of a request that is the database's own work). Compare within one run: the
machine's load average is printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ as a package
from bench import modes
from bench.support import wrk
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from citela_catalogue import queries
from citela_catalogue.projection import apply_entries, upsert_territories
from citela_catalogue.service import build_runtime
from citela_common.bus import create_bus
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
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant

T = TypeVar("T")
TENANT_A = "bench-search-a"
TENANT_B = "bench-search-b"
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


# --- the store -------------------------------------------------------------------------------

DATA_VERSION = 2  # bump when the generator changes: a reused store must hold this dataset
B_DEPS = {"64", "40", "33"}


@dataclass
class Dataset:
    entries: int
    seed: int
    geo: Geography

    @classmethod
    def build(cls, entries: int, seed: int) -> Dataset:
        geo = build_geography(random.Random(seed), max(50, min(35_000, entries // 10)))
        return cls(entries, seed, geo)

    def tenants(self) -> list[tuple[str, Catalogue, int, list[TerritoryUpserted]]]:
        return [
            (
                TENANT_A,
                Catalogue(self.geo, self.seed + 1, "a", None),
                self.entries,
                self.geo.payloads(),
            ),
            (
                TENANT_B,
                Catalogue(self.geo, self.seed + 2, "b", B_DEPS),
                self.entries // 20,
                self.geo.payloads(B_DEPS),
            ),
        ]

    @property
    def key(self) -> str:
        return f"{self.entries}-{self.seed}-v{DATA_VERSION}"


def load(db: Database, data: Dataset, batch: int) -> None:
    """The whole dataset through the projection in bulk."""
    for tenant, catalogue, n, territories in data.tenants():
        with db.transaction() as session:
            scope_to_tenant(session, tenant)
            upsert_territories(session, [(tenant, t) for t in territories])
        t0, done, spent = time.perf_counter(), 0, 0.0
        entries = catalogue.entries(n)
        while chunk := list(itertools.islice(entries, batch)):  # generated outside the timing
            t1 = time.perf_counter()
            with db.transaction() as session:
                scope_to_tenant(session, tenant)
                apply_entries(session, [(tenant, e) for e in chunk])
            spent += time.perf_counter() - t1
            done += len(chunk)
            if done % 20_000 < len(chunk):
                print(
                    f"  … {tenant}: {done:,} entries, projection {done / spent:,.0f}/s", flush=True
                )
        print(
            f"  {tenant}: {done:,} entries in {time.perf_counter() - t0:.1f} s "
            f"(projection alone {done / spent:,.0f} entries/s, generation excluded)",
            flush=True,
        )
    with db.transaction() as session:
        session.execute(
            text("CREATE TABLE IF NOT EXISTS catalogue.bench_dataset (key TEXT PRIMARY KEY)")
        )
        session.execute(text("DELETE FROM catalogue.bench_dataset"))
        session.execute(text("INSERT INTO catalogue.bench_dataset VALUES (:k)"), {"k": data.key})


def sample_points(db: Database) -> list[tuple[float, float]]:
    """Where tenant A's services are: about 500 points spread over its entries."""
    with db.read() as session:
        rows = session.execute(
            text(
                "SELECT lat, lon FROM catalogue.entries WHERE tenant_id = :t"
                " AND lat IS NOT NULL AND id % 197 = 0 ORDER BY id"
            ),
            {"t": TENANT_A},
        ).all()
    return [(round(lat, 4), round(lon, 4)) for lat, lon in rows]


def stored_key(db: Database) -> str | None:
    with db.transaction() as session:
        try:
            return session.execute(text("SELECT key FROM catalogue.bench_dataset")).scalar()
        except Exception:  # no such table: nothing loaded by this benchmark
            return None


def analyze(db: Database) -> None:
    if db.is_sqlite:
        return  # the service runs no ANALYZE on SQLite
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("entries", "entry_communes", "territories"):
            conn.execute(text(f"VACUUM ANALYZE catalogue.{table}"))


# --- query shapes ----------------------------------------------------------------------------

LETTERS = "pbgefrvho"  # single letters that are not French stop words (l, d, c…)


def shapes(
    data: Dataset, points: list[tuple[float, float]], seed: int, pages: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Query parameters per shape (``pages``: the page-1 queries whose cursors page 2 uses)."""
    rng = random.Random(seed)
    communes = sorted(data.geo.communes.values(), key=lambda c: c.code)
    named = [c for c in communes if " " not in c.name and "-" not in c.name and len(c.name) > 4]
    return {
        "rare": [{"q": c.name} for c in rng.sample(named, min(50, len(named)))],
        "mairie": [{"q": "mairie"}, {"q": "Mairie"}, {"q": "mairies"}],
        "prefix": [{"q": letter} for letter in LETTERS],
        "commune": [{"territory": c.code} for c in rng.sample(communes, min(50, len(communes)))],
        "near": [
            {"near": f"{lat},{lon}", "radius_km": 5}
            for lat, lon in rng.sample(points, min(50, len(points)))
        ],
        "page2": [{**json.loads(q), "cursor": c} for q, c in pages.items()],
    }


PAGE1 = [{"q": "mairie"}, {"q": "m"}, {"q": "p"}, {}, {"territory": "75"}]


# --- anchor: the API's SQL on a bare connection -----------------------------------------------


def captured_sql(db: Database, params: dict[str, Any]) -> list[tuple[str, Any]]:
    """The statements ``GET /entries?<params>`` runs, as the driver received them, once the
    service knows the query's estimate and the territory's communes (kept per process)."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, _m: bool) -> None:
        seen.append((statement, parameters))

    f = queries.EntryFilter(
        territory=params.get("territory"),
        q=params.get("q"),
        near=tuple(float(v) for v in params["near"].split(","))  # type: ignore[arg-type]
        if "near" in params
        else None,
        radius_km=float(params.get("radius_km", 5.0)),
    )
    for capturing in (False, True):  # the first request fills what the service keeps
        if capturing:
            event.listen(db.engine, "before_cursor_execute", capture)
        try:
            with db.read() as session:
                scope_to_tenant(session, TENANT_A)
                queries.read_at_generation(session, 0)
                queries.entries_page(session, f, params.get("cursor"), 50)
        finally:
            if capturing:
                event.remove(db.engine, "before_cursor_execute", capture)
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith(("SELECT", "SET"))]


def time_anchor(db: Database, requests: list[list[tuple[str, Any]]], seconds: float) -> list[float]:
    raw = db.engine.raw_connection()
    if not db.is_sqlite:
        # As the service: autocommit, each statement planned for its values.
        driver: Any = raw.driver_connection
        driver.autocommit = True
        driver.prepare_threshold = None
    try:
        cur = raw.cursor()
        out: list[float] = []
        deadline = time.perf_counter() + seconds
        for statements in itertools.cycle(requests):
            t0 = time.perf_counter()
            for sql, params in statements:
                cur.execute(sql, params)
                if cur.description is not None:
                    cur.fetchall()
            raw.commit()
            out.append((time.perf_counter() - t0) * 1000)
            if time.perf_counter() > deadline and len(out) >= 20:
                return out
        return out
    finally:
        if not db.is_sqlite:
            raw.invalidate()  # not back to the pool in autocommit
        raw.close()


def pct(ms: Sequence[float], p: float) -> float:
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


# --- project: the service under wrk ------------------------------------------------------------

LUA = """
local paths = {__PATHS__}
local n = 0
function request()
  n = n + 1
  local p = paths[(n + thread_id * 7) % #paths + 1]
  -- unique: misses the response cache, so the request runs its SQL
  return wrk.format("GET", p .. "&_bench=" .. thread_id .. "-" .. n)
end
"""


def lua_for(paths: list[str]) -> str:
    return LUA.replace("__PATHS__", ", ".join(json.dumps(p) for p in paths))


def entries_path(params: dict[str, Any]) -> str:
    return f"/v1/tenants/{TENANT_A}/entries?" + urlencode({**params, "limit": 50})


def start_server(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CITELA_")}
    env.update(
        CITELA_DATA_DIR=str(settings.data_dir),
        CITELA_DATABASE_URL=settings.resolved_database_url,
        CITELA_LOG_LEVEL="WARNING",
    )
    if settings.redis_url:
        env["CITELA_REDIS_URL"] = settings.redis_url
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.support.catalogue_server:create",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("the catalogue server did not start") from None
            time.sleep(0.3)
    server.terminate()
    raise SystemExit("the catalogue server did not answer within 120 s")


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read())


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    modes.clear_environment()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes.add_mode_arguments(parser, default="distributed")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--batch", type=int, default=1000, help="entries per load transaction")
    parser.add_argument("--seconds", type=float, default=10, help="per shape, anchor and project")
    parser.add_argument("--connections", type=int, default=1, help="wrk connections")
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/citela-bench-catalogue-search"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the store of an earlier run if it holds this dataset (said when it does)",
    )
    parser.add_argument("--only", nargs="*", help="shapes to run (default: all)")
    args = parser.parse_args()
    wrk.executable()

    data = Dataset.build(args.entries, args.seed)
    store = args.data_dir / f"{args.mode}-{data.key}"
    store.mkdir(parents=True, exist_ok=True)
    if args.mode == "distributed":
        name = f"citela_bench_catalogue_{args.entries}"
        database_url = ensure_database(args.pg_url, name, fresh=not args.reuse)
        settings = Settings(
            _env_file=None,
            data_dir=store,
            database_url=database_url,
            redis_url=args.redis_url,
            log_level="WARNING",
        )
    else:
        if not args.reuse:
            for old in store.glob("citela*.db*"):
                old.unlink()
        settings = Settings(_env_file=None, data_dir=store, log_level="WARNING")
    runtime = build_runtime(settings, create_bus(settings))
    db = runtime.db
    runtime.migrate()
    print(f"mode {args.mode}: {modes.describe(settings)}", flush=True)

    found = stored_key(db)
    if args.reuse and found == data.key:
        print(f"REUSING the store loaded by an earlier run ({data.key}): no load", flush=True)
    else:
        if found is not None:  # another dataset: start afresh
            raise SystemExit(
                f"the store holds dataset {found}, not {data.key}: run without --reuse"
            )
        print(
            f"loading {args.entries:,} entries (+{args.entries // 20:,} for {TENANT_B})", flush=True
        )
        load(db, data, args.batch)
        t0 = time.perf_counter()
        analyze(db)
        print(f"  VACUUM ANALYZE {time.perf_counter() - t0:.1f} s", flush=True)

    server = start_server(settings, args.port)
    try:
        pages: dict[str, str] = {}
        for params in PAGE1:
            cursor = get_json(args.port, entries_path(params))["next_cursor"]
            if cursor:
                pages[json.dumps(params)] = cursor
        pools = shapes(data, sample_points(db), args.seed + 3, pages)
        rows = []
        for shape, pool in pools.items():
            if args.only and shape not in args.only:
                continue
            check_tenancy(args.port, pool)
            statements = [captured_sql(db, p) for p in pool]
            anchor = time_anchor(db, statements, args.seconds)
            result = wrk.run(
                f"http://127.0.0.1:{args.port}",
                lua_for([entries_path(p) for p in pool]),
                seconds=args.seconds,
                connections=args.connections,
                threads=1 if args.connections == 1 else 2,
            )
            rows.append((shape, anchor, result))
            print_row(shape, anchor, result)
    finally:
        server.terminate()
        server.wait(30)
        db.dispose()
    load1, load5, _ = os.getloadavg()
    print(
        f"\nwrk {args.connections} connection(s), {args.seconds:.0f} s per shape; "
        f"load average {load1:.2f} (5 min {load5:.2f}) on {os.cpu_count()} CPUs; "
        f"worst project p99 {max(r.p99_ms for _, _, r in rows):.1f} ms"
    )


def check_tenancy(port: int, pool: list[dict[str, Any]]) -> None:
    """Tenant B's entries never answer tenant A, and every request succeeds."""
    for params in pool[:5]:
        page = get_json(port, entries_path(params))
        for item in page["items"]:
            if item["entry_id"].split(":", 1)[1].startswith("b-"):
                raise SystemExit(f"an entry of {TENANT_B} answered {TENANT_A}: {item['entry_id']}")


def print_row(shape: str, anchor: list[float], r: wrk.WrkResult) -> None:
    a50, a99 = statistics.median(anchor), pct(anchor, 99)
    ratio = a50 / r.p50_ms if r.p50_ms else 0.0
    print(
        f"{shape:8} anchor p50 {a50:6.2f} ms p99 {a99:6.2f} ms | project {r.rate:7,.0f} req/s "
        f"p50 {r.p50_ms:6.2f} ms p99 {r.p99_ms:6.2f} ms errors {r.errors} | ratio {ratio:.2f}",
        flush=True,
    )


def ensure_database(server_url: str, name: str, *, fresh: bool) -> str:
    """The benchmark's own database on ``server_url``'s server (dropped first when ``fresh``)."""
    import psycopg

    url = make_url(server_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
