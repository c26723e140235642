"""Writes the COMPOSED demo files from the real records of ``demo_data/``, in their real formats.

The demo's territory is real (the CC de l'Aire Cantilienne, EPCI 246000764, whose 11 communes,
INSEE codes and postal codes come from the recorded geo.api answer), but the recorded open data
holds only a handful of its offices. To fill a dashboard, this script composes the offices a
territory like it has (a mairie per commune, France services, CCAS, CAF, PMI, France Travail,
gendarmerie…) and a few DATAtourisme places and upcoming events, each one a deep copy of a real
recorded record of the same source with its ids, names, type, commune, address, contacts and
hours replaced. Nothing here is an official record: PROVENANCE.md says so.

Contacts are fictitious on purpose: phone numbers in the range ARCEP reserves for fiction
(03 53 01 xx xx), e-mail addresses at example.org (RFC 2606).

Event dates are written relative to ``REFERENCE`` (the day they were composed); the demo shifts
them by whole weeks to the day it runs (``citela_platform.demo.shifted_flux``), so they stay
upcoming. Run from the repository root:
``uv run python services/platform/src/citela_platform/demo_data/make_composed.py``.
"""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from citela_platform.demo import COMPOSED_REFERENCE as REFERENCE  # events count from it

HERE = Path(__file__).resolve().parent
NAMESPACE = uuid.UUID("5f0c2a52-6a1d-4c61-9d63-2d6c0a1e7b10")  # ids stable across runs
EPCI = "246000764"

WEEKDAYS_FR = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def load(relative: str) -> Any:
    return json.loads((HERE / relative).read_text(encoding="utf-8"))


def write(relative: str, value: Any) -> None:
    path = HERE / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def communes() -> dict[str, dict[str, Any]]:
    """The EPCI's communes from the recorded geography, by name."""
    found = load("geo-api/communes_codeDepartement_60.json")
    return {c["nom"]: c for c in found if c.get("codeEpci") == EPCI}


# Approximate points (the centre of each commune), the street of the mairie where we know it.
PLACES: dict[str, tuple[str, str, str]] = {
    "Apremont": ("Place de la Mairie", "49.2353", "2.5060"),
    "Avilly-Saint-Léonard": ("Place de la Mairie", "49.1942", "2.5385"),
    "Chantilly": ("11 avenue du Maréchal-Joffre", "49.1936", "2.4711"),
    "La Chapelle-en-Serval": ("Place de la Mairie", "49.1281", "2.5352"),
    "Coye-la-Forêt": ("1 place de la Mairie", "49.1423", "2.4717"),
    "Gouvieux": ("Place de la Mairie", "49.1872", "2.4176"),
    "Lamorlaye": ("Place de la Mairie", "49.1530", "2.4400"),
    "Mortefontaine": ("Place de la Mairie", "49.1105", "2.6015"),
    "Orry-la-Ville": ("Place de la Mairie", "49.1346", "2.5115"),
    "Plailly": ("Place de la Mairie", "49.1040", "2.5856"),
    "Vineuil-Saint-Firmin": ("Place de la Mairie", "49.2020", "2.4960"),
}

# Opening hours: (first day, last day, morning, afternoon) ranges of the plage_ouverture format.
Hours = list[tuple[str, str, tuple[str, str] | None, tuple[str, str] | None]]
TOWN_HALL: Hours = [
    ("Lundi", "Vendredi", ("08:30", "12:00"), ("13:30", "17:30")),
    ("Samedi", "Samedi", ("09:00", "12:00"), None),
]
SMALL_TOWN_HALL: Hours = [
    ("Mardi", "Mardi", ("09:00", "12:00"), None),
    ("Jeudi", "Jeudi", None, ("16:00", "19:00")),
    ("Samedi", "Samedi", ("10:00", "12:00"), None),
]
OFFICE: Hours = [("Lundi", "Vendredi", ("09:00", "12:00"), ("13:30", "16:30"))]
MORNINGS: Hours = [("Lundi", "Vendredi", ("08:30", "12:30"), None)]
PERMANENCE: Hours = [("Mercredi", "Mercredi", ("09:00", "12:00"), ("14:00", "17:00"))]

# (type_service_local, name, commune, street or None for the mairie's, hours, mission)
SERVICES: tuple[tuple[str, str, str, str | None, Hours, str], ...] = (
    (
        "france_services",
        "France services - Chantilly",
        "Chantilly",
        "24 rue d'Aumale",
        OFFICE,
        "Aide aux démarches administratives en ligne : carte grise, impôts, retraite, "
        "prestations sociales, accès aux droits.",
    ),
    (
        "france_services",
        "France services - Lamorlaye",
        "Lamorlaye",
        None,
        PERMANENCE,
        "Accompagnement dans les démarches administratives du quotidien.",
    ),
    (
        "ccas",
        "Centre communal d'action sociale (CCAS) - Gouvieux",
        "Gouvieux",
        None,
        MORNINGS,
        "Aide sociale légale et facultative, domiciliation, aide aux personnes âgées.",
    ),
    (
        "ccas",
        "Centre communal d'action sociale (CCAS) - Lamorlaye",
        "Lamorlaye",
        None,
        MORNINGS,
        "Aide sociale, instruction des demandes d'aide, portage de repas.",
    ),
    (
        "caf",
        "Caisse d'allocations familiales (Caf) de l'Oise - accueil de Chantilly",
        "Chantilly",
        "24 rue d'Aumale",
        PERMANENCE,
        "Prestations familiales, aides au logement, prime d'activité, RSA.",
    ),
    (
        "pmi",
        "Centre de protection maternelle et infantile (PMI) - Chantilly",
        "Chantilly",
        "2 rue des Cascades",
        OFFICE,
        "Consultations médicales gratuites pour les futurs parents et les enfants de moins "
        "de 6 ans, vaccinations.",
    ),
    (
        "cpam",
        "Caisse primaire d'assurance maladie (CPAM) de l'Oise - accueil de Chantilly",
        "Chantilly",
        "24 rue d'Aumale",
        MORNINGS,
        "Carte Vitale, remboursements, complémentaire santé solidaire, sur rendez-vous.",
    ),
    (
        "france_travail",
        "France Travail - Chantilly",
        "Chantilly",
        "8 avenue de la Libération",
        OFFICE,
        "Inscription, indemnisation, accompagnement des demandeurs d'emploi et des employeurs.",
    ),
    (
        "mission_locale",
        "Mission locale - antenne de Chantilly",
        "Chantilly",
        "8 avenue de la Libération",
        OFFICE,
        "Accompagnement des 16-25 ans vers l'emploi et la formation.",
    ),
    (
        "cio",
        "Centre d'information et d'orientation (CIO) - Chantilly",
        "Chantilly",
        "5 rue du Connétable",
        OFFICE,
        "Information et conseil sur les études, les métiers et l'orientation.",
    ),
    (
        "cij",
        "Point information jeunesse - Gouvieux",
        "Gouvieux",
        None,
        PERMANENCE,
        "Information des jeunes : jobs d'été, logement, mobilité, BAFA.",
    ),
    (
        "gendarmerie",
        "Brigade de gendarmerie - Chantilly",
        "Chantilly",
        "1 rue de la Machine",
        [("Lundi", "Samedi", ("08:00", "12:00"), ("14:00", "18:00"))],
        "Accueil du public, plaintes, opération tranquillité vacances.",
    ),
    (
        "gendarmerie",
        "Brigade de gendarmerie - Lamorlaye",
        "Lamorlaye",
        None,
        [("Lundi", "Vendredi", ("08:00", "12:00"), ("14:00", "18:00"))],
        "Accueil du public, plaintes, opération tranquillité vacances.",
    ),
    (
        "point_justice",
        "Point-justice - Chantilly",
        "Chantilly",
        "11 avenue du Maréchal-Joffre",
        [("Jeudi", "Jeudi", None, ("14:00", "17:00"))],
        "Consultations juridiques gratuites d'avocats et de conciliateurs, sur rendez-vous.",
    ),
    (
        "sgc",
        "Service de gestion comptable - Chantilly",
        "Chantilly",
        "3 rue du Connétable",
        MORNINGS,
        "Paiement des factures des services publics locaux (cantine, eau, crèche).",
    ),
    (
        "onf",
        "Office national des forêts (ONF) - agence de Chantilly",
        "Chantilly",
        "Route de l'Aigle",
        OFFICE,
        "Gestion de la forêt domaniale de Chantilly, sentiers, coupes, accueil du public.",
    ),
    (
        "adil",
        "ADIL de l'Oise - permanence de Chantilly",
        "Chantilly",
        "11 avenue du Maréchal-Joffre",
        PERMANENCE,
        "Conseils juridiques, financiers et fiscaux gratuits sur le logement.",
    ),
)


def plages(hours: Hours) -> list[dict[str, str]]:
    out = []
    for first, last, morning, afternoon in hours:
        out.append(
            {
                "nom_jour_debut": first,
                "nom_jour_fin": last,
                "valeur_heure_debut_1": f"{morning[0]}:00"
                if morning
                else f"{afternoon[0]}:00"
                if afternoon
                else "",
                "valeur_heure_fin_1": f"{morning[1]}:00"
                if morning
                else f"{afternoon[1]}:00"
                if afternoon
                else "",
                "valeur_heure_debut_2": f"{afternoon[0]}:00" if morning and afternoon else "",
                "valeur_heure_fin_2": f"{afternoon[1]}:00" if morning and afternoon else "",
                "commentaire": "",
            }
        )
    return out


def slug(text: str) -> str:
    table = str.maketrans("éèêëàâôöîïûüç' ", "eeeeaaooiiuuc--")
    return text.lower().translate(table)


def service_record(
    template: dict[str, Any],
    kind: str,
    name: str,
    commune: dict[str, Any],
    street: str | None,
    hours: Hours,
    mission: str,
    number: int,
) -> dict[str, Any]:
    """A copy of the real bulk-export record with this office's own fields."""
    record = copy.deepcopy(template)
    insee = commune["code"]
    place_street, lat, lon = PLACES[commune["nom"]]
    record["id"] = str(uuid.uuid5(NAMESPACE, f"service-public/{kind}/{insee}/{name}"))
    record["nom"] = name
    record["ancien_code_pivot"] = f"{kind}-{insee}-01"
    record["code_insee_commune"] = insee
    record["pivot"] = [{"type_service_local": kind, "code_insee_commune": [insee]}]
    record["siret"] = ""
    record["itm_identifiant"] = ""
    record["mission"] = mission
    record["date_modification"] = "02/11/2026 10:00:00"
    record["date_creation"] = "02/11/2026 10:00:00"
    record["url_service_public"] = ""  # no such page exists for a composed record
    record["adresse_courriel"] = [f"{slug(kind)}@{slug(commune['nom'])}.example.org"]
    record["telephone"] = [{"valeur": f"03 53 01 {number // 100:02d} {number % 100:02d}"}]
    record["telephone"][0]["description"] = ""
    record["telecopie"] = []
    record["site_internet"] = []
    record["plage_ouverture"] = plages(hours)
    address = record["adresse"][0]
    address.update(
        numero_voie=street or place_street,
        code_postal=commune["codesPostaux"][0],
        nom_commune=commune["nom"],
        latitude=lat,
        longitude=lon,
        accessibilite="ACC",
    )
    record["adresse"] = [address]
    return record


def service_public() -> int:
    template = load("service-public/export.json")["service"][2]  # the real record, unchanged
    assert template["nom"] == "Mairie - Fontaine-le-Port", "the template is the real record"
    towns = communes()
    assert len(towns) == 11, "the EPCI has 11 communes in the recorded geography"
    records = []
    number = 10
    for name, commune in sorted(towns.items()):
        if name == "Coye-la-Forêt":  # its mairie is in the recorded export already
            continue
        hours = TOWN_HALL if commune["population"] > 3000 else SMALL_TOWN_HALL
        mission = "Accueil, état civil, élections, urbanisme, inscriptions scolaires."
        records.append(
            service_record(
                template, "mairie", f"Mairie - {name}", commune, None, hours, mission, number
            )
        )
        number += 1
    for kind, name, town, street, hours, mission in SERVICES:
        records.append(
            service_record(template, kind, name, towns[town], street, hours, mission, number)
        )
        number += 1
    write("service-public/composed.json", {"service": records})
    return len(records)


# --- DATAtourisme ------------------------------------------------------------------------------

FLUX = HERE / "datatourisme-composed"


def day_of_week(index: int) -> dict[str, Any]:
    return {
        "@id": f"schema:{WEEKDAYS_EN[index]}",
        "@type": ["schema:DayOfWeek"],
        "rdfs:label": {"fr": [WEEKDAYS_FR[index]], "en": [WEEKDAYS_EN[index]]},
    }


def tourism_object(
    template: dict[str, Any],
    key: str,
    *,
    types: list[str],
    label: str,
    description: str,
    town: dict[str, Any],
    street: str,
    email: str,
    days: list[tuple[int, str, str]] | None = None,
    periods: list[tuple[int, int, str | None, str | None]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """A copy of a real flux object with this place's or event's own fields."""
    obj = copy.deepcopy(template)
    uid = str(uuid.uuid5(NAMESPACE, f"datatourisme/{key}"))

    def node(name: str) -> str:
        return f"https://data.datatourisme.fr/{uuid.uuid5(NAMESPACE, f'{key}/{name}')}"

    obj["@id"] = f"https://data.datatourisme.fr/60/{uid}"
    obj["dc:identifier"] = f"DEMO60{uid[:8].upper()}"
    obj["@type"] = types
    obj["rdfs:label"] = {"fr": [label]}
    obj["rdfs:comment"] = {"fr": [description.split(". ")[0] + "."]}
    obj["hasDescription"] = [
        {
            "@id": node("description"),
            "dc:description": {"fr": [description]},
            "@type": ["Description"],
        }
    ]
    obj["hasTranslatedProperty"] = []
    obj["lastUpdate"] = REFERENCE.isoformat()
    obj["lastUpdateDatatourisme"] = f"{REFERENCE.isoformat()}T08:00:00.000Z"
    obj["hasContact"] = [
        {
            "@id": node("contact"),
            "schema:email": [email],
            "schema:telephone": ["+33 3 53 01 99 00"],
            "@type": ["foaf:Agent", "Agent"],
        }
    ]
    place = obj["isLocatedAt"][0]
    place["@id"] = node("place")
    address = place["schema:address"][0]
    address["@id"] = node("address")
    address["schema:addressLocality"] = town["nom"]
    address["schema:postalCode"] = town["codesPostaux"][0]
    address["schema:streetAddress"] = [street]
    city = address["hasAddressCity"]
    city["@id"] = f"kb:{town['code']}"
    city["rdfs:label"] = {"fr": [town["nom"]]}
    city["insee"] = town["code"]
    department = city["isPartOfDepartment"]
    department.update({"@id": "kb:France3260", "rdfs:label": {"fr": ["Oise"]}, "insee": "60"})
    department["isPartOfRegion"].update(
        {"@id": "kb:France32", "rdfs:label": {"fr": ["Hauts-de-France"]}, "insee": "32"}
    )
    _street, lat, lon = PLACES[town["nom"]]
    place["schema:geo"] = {
        "@id": node("geo"),
        "schema:latitude": lat,
        "schema:longitude": lon,
        "@type": ["schema:GeoCoordinates"],
    }
    place.pop("TextOpeningHoursSpecification", None)
    place.pop("petsAllowed", None)
    if days:
        place["schema:openingHoursSpecification"] = [
            {
                "@id": node(f"hours-{day}"),
                "schema:opens": f"{opens}:00",
                "schema:closes": f"{closes}:00",
                "schema:dayOfWeek": [day_of_week(day)],
                "@type": ["schema:OpeningHoursSpecification"],
            }
            for day, opens, closes in days
        ]
    else:
        place.pop("schema:openingHoursSpecification", None)
    for dropped in ("hasFeature", "offers", "schema:startDate", "schema:endDate", "takesPlaceAt"):
        obj.pop(dropped, None)
    if periods:
        spans = [
            (REFERENCE + timedelta(days=a), REFERENCE + timedelta(days=b), t0, t1)
            for a, b, t0, t1 in periods
        ]
        obj["schema:startDate"] = [s.isoformat() for s, _e, _a, _b in spans]
        obj["schema:endDate"] = [e.isoformat() for _s, e, _a, _b in spans]
        obj["takesPlaceAt"] = []
        for n, (start, end, t0, t1) in enumerate(spans):
            period: dict[str, Any] = {
                "@id": node(f"period-{n}"),
                "@type": ["Period"],
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
            }
            if t0 and t1:
                period["startTime"] = f"{t0}:00"
                period["endTime"] = f"{t1}:00"
            obj["takesPlaceAt"].append(period)
    return f"0/60/60-{uid}.json", obj


def datatourisme() -> int:
    real = HERE / "datatourisme"
    index = json.loads((real / "index.json").read_text(encoding="utf-8"))
    by_label = {
        item["label"]: json.loads((real / "objects" / item["file"]).read_text(encoding="utf-8"))
        for item in index
    }
    place = by_label["Chez Jeanne"]  # a real place, with seasonal hours
    event = next(v for k, v in by_label.items() if k.startswith("EXPOSITION"))  # a real event
    towns = communes()
    chantilly, gouvieux, lamorlaye = towns["Chantilly"], towns["Gouvieux"], towns["Lamorlaye"]
    weekdays_open = [(d, "10:00", "18:00") for d in (1, 2, 4, 5)]
    objects = [
        tourism_object(
            place,
            "mediatheque-chantilly",
            types=[
                "schema:Library",
                "CulturalSite",
                "Library",
                "PlaceOfInterest",
                "PointOfInterest",
            ],
            label="Médiathèque de Chantilly",
            description="Médiathèque municipale : prêt de livres, de films et de musique, "
            "espace numérique, heures du conte pour les enfants.",
            town=chantilly,
            street="34 rue d'Aumale",
            email="mediatheque@chantilly.example.org",
            days=[
                (1, "14:00", "18:00"),
                (2, "10:00", "18:00"),
                (4, "14:00", "19:00"),
                (5, "10:00", "17:00"),
            ],
        ),
        tourism_object(
            place,
            "piscine-aire-cantilienne",
            types=[
                "schema:SportsActivityLocation",
                "SportsAndLeisurePlace",
                "PlaceOfInterest",
                "PointOfInterest",
            ],
            label="Piscine intercommunale de l'Aire Cantilienne",
            description="Piscine couverte : bassin sportif de 25 m, bassin d'apprentissage, "
            "cours de natation et aquagym.",
            town=chantilly,
            street="Avenue du Bouteiller",
            email="piscine@aire-cantilienne.example.org",
            days=[(d, "12:00", "14:00") for d in range(5)]
            + [(5, "09:00", "18:00"), (6, "09:00", "13:00")],
        ),
        tourism_object(
            place,
            "office-tourisme-chantilly",
            types=[
                "TouristInformationCenter",
                "ServiceProvider",
                "PlaceOfInterest",
                "PointOfInterest",
            ],
            label="Office de tourisme de Chantilly-Senlis",
            description="Accueil et information des visiteurs, billetterie, visites guidées "
            "de la ville et de la forêt.",
            town=chantilly,
            street="73 rue du Connétable",
            email="accueil@office-tourisme.example.org",
            days=[*weekdays_open, (5, "10:00", "17:00"), (6, "10:00", "13:00")],
        ),
        tourism_object(
            event,
            "concert-noel-chantilly",
            types=[
                "schema:Event",
                "schema:MusicEvent",
                "Concert",
                "CulturalEvent",
                "EntertainmentAndEvent",
                "PointOfInterest",
            ],
            label="Concert de l'Avent : chœurs et orgue",
            description="Concert de chœurs et d'orgue à l'église Notre-Dame de Chantilly. "
            "Entrée libre dans la limite des places disponibles.",
            town=chantilly,
            street="Rue du Connétable",
            email="culture@chantilly.example.org",
            periods=[(15, 15, "20:00", "22:00")],
        ),
        tourism_object(
            event,
            "marche-noel-gouvieux",
            types=[
                "schema:Event",
                "SaleEvent",
                "BusinessEvent",
                "EntertainmentAndEvent",
                "PointOfInterest",
            ],
            label="Marché de Noël de Gouvieux",
            description="Une quarantaine d'exposants, producteurs et artisans du territoire. "
            "Animations pour les enfants et chorale le dimanche.",
            town=gouvieux,
            street="Place Amic",
            email="animation@gouvieux.example.org",
            periods=[(14, 15, "10:00", "19:00")],
        ),
        tourism_object(
            event,
            "exposition-lamorlaye",
            types=[
                "schema:Event",
                "schema:ExhibitionEvent",
                "CulturalEvent",
                "EntertainmentAndEvent",
                "Exhibition",
                "PointOfInterest",
            ],
            label="Exposition : le cheval dans l'histoire de Lamorlaye",
            description="Photographies et archives des écuries de Lamorlaye, de 1850 à nos "
            "jours. Visites commentées le samedi.",
            town=lamorlaye,
            street="Place de la Mairie",
            email="culture@lamorlaye.example.org",
            periods=[(9, 37, "14:00", "18:00")],
        ),
        tourism_object(
            event,
            "patrimoine-chantilly",
            types=["schema:Event", "CulturalEvent", "EntertainmentAndEvent", "PointOfInterest"],
            label="Journée du patrimoine hippique",
            description="Visites des écuries et du centre d'entraînement, rencontre avec les "
            "lads et les jockeys. Sur inscription.",
            town=chantilly,
            street="Avenue du Général-Leclerc",
            email="patrimoine@chantilly.example.org",
            periods=[(35, 35, "09:30", "17:00")],
        ),
        tourism_object(
            event,
            "course-foret-lamorlaye",
            types=[
                "schema:Event",
                "schema:SportsEvent",
                "SportsCompetition",
                "EntertainmentAndEvent",
                "PointOfInterest",
            ],
            label="Foulées de la forêt de Lamorlaye",
            description="Courses de 5 et 10 km et marche nordique dans la forêt de Lamorlaye. "
            "Inscriptions en ligne.",
            town=lamorlaye,
            street="Route de Lys",
            email="sport@lamorlaye.example.org",
            periods=[(49, 49, "09:00", "13:00")],
        ),
    ]
    if FLUX.exists():
        shutil.rmtree(FLUX)
    index_out = []
    for relative, obj in objects:
        path = FLUX / "objects" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        label = obj["rdfs:label"]["fr"][0]
        index_out.append(
            {
                "label": label,
                "lastUpdateDatatourisme": obj["lastUpdateDatatourisme"],
                "file": relative,
            }
        )
    write("datatourisme-composed/index.json", index_out)
    return len(objects)


if __name__ == "__main__":
    print(f"{service_public()} Service-Public records, {datatourisme()} DATAtourisme objects")
