"""Policy areas (domaines d'action publique) and the table that maps source types onto them.

Every catalogue entry carries a ``source_type`` (what the source calls it) and a
``policy_area`` (where the authority's dashboard files it). This module holds THE default
mapping, and applies a tenant's overrides to it.

The areas (``PolicyArea``, French labels are the values)::

    Action sociale                  solidarity, family, old age, disability, social benefits
    Santé                           health insurance, health agencies, care
    Économie et emploi              jobs, training for adults, businesses, chambers, agriculture
    Éducation et jeunesse           schools, guidance, youth information, students
    Culture                         museums, heritage, libraries, shows, exhibitions
    Sport                           sports facilities and events
    Tourisme et loisirs             tourism, restaurants, accommodation, leisure
    Environnement                   environment, energy, water, waste, nature, hunting and fishing
    Mobilité et transports          transport, roads, mobility, civil aviation, navigation
    Aménagement et logement         housing, town planning, land registry, territories
    Sécurité                        police, gendarmerie, fire and rescue, civil protection
    Justice et accès au droit       courts, legal aid, victims, prisons
    Finances publiques et fiscalité tax offices, public accounts, customs
    Démarches et état civil         prefectures, France services, papers, elections
    Administration locale           town halls, intercommunalities, councils, local civil service

Three tables feed ``DEFAULT_POLICY_AREAS`` (their keys never collide, a test checks it):

* ``SERVICE_PUBLIC_TYPES``: the office type codes of the Annuaire de l'administration
  (``pivot[].type_service_local``), lower-case snake case. The list is broad on purpose: the
  service-public source treats an office type that is not in it as an invalid record, so a new
  type shows up in the harvest report instead of being filed silently.
* ``DATATOURISME_CLASSES``: DATAtourisme ontology classes (``@type`` without prefix),
  CamelCase, most specific first: ``datatourisme_class`` picks the first one a record has.
* ``DATAGOUV_KEYWORDS``: data.gouv.fr datasets have no type, only free tags. Best effort:
  ``datagouv_keyword`` folds each tag (lower case, no accents, words split on ``-``/``_``/space)
  and returns the first keyword of this table found in it: a several-word keyword
  (``equipements-sportifs``) as consecutive words, else a one-word keyword as a whole word or,
  from 4 letters, as the start of a word (``transport`` matches ``transports-en-commun``); tags
  are tried in order, then the title. No match: no source type and no policy area.

A tenant overrides the table with a mapping ``source type → area`` (``policy_area_table``);
an override to ``None`` removes the default (the entries of that type get no area).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from citela_common.text import fold_accents

__all__ = [
    "DATAGOUV_KEYWORDS",
    "DATATOURISME_CLASSES",
    "DEFAULT_POLICY_AREAS",
    "SERVICE_PUBLIC_TYPES",
    "PolicyArea",
    "datagouv_keyword",
    "datatourisme_class",
    "parse_policy_area",
    "policy_area_for",
    "policy_area_table",
]


class PolicyArea(StrEnum):
    ACTION_SOCIALE = "Action sociale"
    SANTE = "Santé"
    ECONOMIE_EMPLOI = "Économie et emploi"
    EDUCATION_JEUNESSE = "Éducation et jeunesse"
    CULTURE = "Culture"
    SPORT = "Sport"
    TOURISME_LOISIRS = "Tourisme et loisirs"
    ENVIRONNEMENT = "Environnement"
    MOBILITE = "Mobilité et transports"
    AMENAGEMENT_LOGEMENT = "Aménagement et logement"
    SECURITE = "Sécurité"
    JUSTICE = "Justice et accès au droit"
    FINANCES = "Finances publiques et fiscalité"
    DEMARCHES = "Démarches et état civil"
    ADMINISTRATION = "Administration locale"


_A = PolicyArea  # short alias for the tables below

# --- Service-Public: office types (pivot type_service_local) ------------------------------
SERVICE_PUBLIC_TYPES: Mapping[str, PolicyArea] = MappingProxyType(
    {
        # Administration locale: elected local bodies and their administration
        "mairie": _A.ADMINISTRATION,  # Mairie
        "mairie_com": _A.ADMINISTRATION,  # Mairie des collectivités d'outre-mer
        "mairie_mobile": _A.ADMINISTRATION,  # Mairie mobile
        "paris_mairie": _A.ADMINISTRATION,  # Mairie de Paris, Hôtel de Ville
        "paris_mairie_arrondissement": _A.ADMINISTRATION,  # Mairie d'arrondissement (Paris)
        "epci": _A.ADMINISTRATION,  # Intercommunalité
        "cg": _A.ADMINISTRATION,  # Conseil départemental
        "cr": _A.ADMINISTRATION,  # Conseil régional
        "cesr": _A.ADMINISTRATION,  # CESER
        "conseil_culture": _A.ADMINISTRATION,  # Conseil de la culture, de l'éducation et de l'env.
        "cdg": _A.ADMINISTRATION,  # Centre de gestion de la fonction publique territoriale
        "cnfpt": _A.ADMINISTRATION,  # CNFPT, réseau local
        "crc": _A.ADMINISTRATION,  # Chambre régionale ou territoriale des comptes
        # Démarches et état civil: State offices where citizens get papers and help with forms
        "france_services": _A.DEMARCHES,  # France services
        "msap": _A.DEMARCHES,  # Maison de services au public (former name of France services)
        "prefecture": _A.DEMARCHES,  # Préfecture
        "prefecture_region": _A.DEMARCHES,  # Préfecture de région
        "sous_pref": _A.DEMARCHES,  # Sous-préfecture
        "prefecture_greffe_associations": _A.DEMARCHES,  # Greffe des associations
        "paris_ppp": _A.DEMARCHES,  # Préfecture de police de Paris
        "paris_ppp_antenne": _A.DEMARCHES,  # PP Paris, antenne d'arrondissement
        "paris_ppp_certificat_immatriculation": _A.DEMARCHES,  # PP Paris, cartes grises
        "paris_ppp_gesvres": _A.DEMARCHES,  # PP Paris, site central de Gesvres
        "paris_ppp_permis_conduire": _A.DEMARCHES,  # PP Paris, permis de conduire
        "pp_marseille": _A.DEMARCHES,  # Préfecture de police des Bouches-du-Rhône
        "bsn": _A.DEMARCHES,  # Bureau ou centre du service national
        "maia": _A.DEMARCHES,  # Mission d'accueil et d'information des associations
        "ofii": _A.DEMARCHES,  # Office français de l'immigration et de l'intégration
        "onac": _A.DEMARCHES,  # Office national des anciens combattants
        "sgami": _A.DEMARCHES,  # Secrétariat général pour l'administration du min. de l'Intérieur
        "defenseur_droits": _A.DEMARCHES,  # Défenseur des droits
        # Action sociale: solidarity, family, old age, disability
        "ccas": _A.ACTION_SOCIALE,  # Centre communal d'action sociale
        "cias": _A.ACTION_SOCIALE,  # Centre intercommunal d'action sociale
        "caf": _A.ACTION_SOCIALE,  # Caisse d'allocations familiales
        "carsat": _A.ACTION_SOCIALE,  # Caisse d'assurance retraite et de la santé au travail
        "cicas": _A.ACTION_SOCIALE,  # Centre d'information des retraites complémentaires
        "msa": _A.ACTION_SOCIALE,  # Mutualité sociale agricole
        "cdas": _A.ACTION_SOCIALE,  # Centre départemental d'action sociale
        "edas": _A.ACTION_SOCIALE,  # Espace départemental des solidarités
        "mds": _A.ACTION_SOCIALE,  # Maison départementale des solidarités
        "centre_social": _A.ACTION_SOCIALE,  # Centre social
        "permanence_sociale": _A.ACTION_SOCIALE,  # Permanence sociale
        "maison_handicapees": _A.ACTION_SOCIALE,  # MDPH
        "clic": _A.ACTION_SOCIALE,  # Point d'information local dédié aux personnes âgées
        "accompagnement_personnes_agees": _A.ACTION_SOCIALE,  # Plateforme de répit des aidants
        "pif": _A.ACTION_SOCIALE,  # Point info famille
        "cidf": _A.ACTION_SOCIALE,  # Centre d'information sur les droits des femmes et familles
        "dd_femmes": _A.ACTION_SOCIALE,  # Droits des femmes et égalité, mission départementale
        "dr_femmes": _A.ACTION_SOCIALE,  # Délégation régionale aux droits des femmes
        "ddcs": _A.ACTION_SOCIALE,  # Direction départementale de la cohésion sociale
        "ddcspp": _A.ACTION_SOCIALE,  # DDCS et de la protection des populations
        "drjscs": _A.ACTION_SOCIALE,  # Direction régionale jeunesse, sports et cohésion sociale
        "ddets": _A.ACTION_SOCIALE,  # Direction départementale de l'emploi, du travail, solidarités
        "ddetspp": _A.ACTION_SOCIALE,  # DDETS et de la protection des populations
        "crib": _A.ACTION_SOCIALE,  # Centre de ressources et d'information des bénévoles
        # Santé
        "cpam": _A.SANTE,  # Caisse primaire d'assurance maladie
        "ars": _A.SANTE,  # Agence régionale de santé
        "ars_antenne": _A.SANTE,  # Délégation territoriale de l'ARS
        "pmi": _A.SANTE,  # Centre de protection maternelle et infantile
        # Économie et emploi
        "pole_emploi": _A.ECONOMIE_EMPLOI,  # Pôle emploi
        "france_travail": _A.ECONOMIE_EMPLOI,  # France Travail (Pôle emploi since 2024)
        "mission_locale": _A.ECONOMIE_EMPLOI,  # Mission locale et PAIO
        "apec": _A.ECONOMIE_EMPLOI,  # Association pour l'emploi des cadres
        "apecita": _A.ECONOMIE_EMPLOI,  # APECITA (cadres de l'agriculture)
        "afpa": _A.ECONOMIE_EMPLOI,  # AFPA, formation professionnelle des adultes
        "greta": _A.ECONOMIE_EMPLOI,  # Greta
        "fongecif": _A.ECONOMIE_EMPLOI,  # Fongecif
        "cci": _A.ECONOMIE_EMPLOI,  # Chambre de commerce et d'industrie
        "chambre_metier": _A.ECONOMIE_EMPLOI,  # Chambre de métiers et de l'artisanat
        "chambre_agriculture": _A.ECONOMIE_EMPLOI,  # Chambre d'agriculture
        "direccte": _A.ECONOMIE_EMPLOI,  # DIRECCTE
        "direccte_ut": _A.ECONOMIE_EMPLOI,  # DIRECCTE, unité territoriale
        "dreets": _A.ECONOMIE_EMPLOI,  # Direction régionale de l'économie, emploi, travail, solid.
        "draf": _A.ECONOMIE_EMPLOI,  # Direction régionale de l'alimentation, agriculture, forêt
        "banque_de_france": _A.ECONOMIE_EMPLOI,  # Banque de France, succursale
        "dr_insee": _A.ECONOMIE_EMPLOI,  # Délégation régionale de l'INSEE
        "drrt": _A.ECONOMIE_EMPLOI,  # Délégation régionale à la recherche et à la technologie
        "urssaf": _A.ECONOMIE_EMPLOI,  # Urssaf
        "ddpp": _A.ECONOMIE_EMPLOI,  # Protection des populations (consumers, food safety)
        # Éducation et jeunesse
        "cio": _A.EDUCATION_JEUNESSE,  # Centre d'information et d'orientation
        "cij": _A.EDUCATION_JEUNESSE,  # Information jeunesse, réseau local
        "crous": _A.EDUCATION_JEUNESSE,  # CROUS et ses antennes
        "suio": _A.EDUCATION_JEUNESSE,  # Service universitaire d'information et d'orientation
        "rectorat": _A.EDUCATION_JEUNESSE,  # Rectorat
        "inspection_academique": _A.EDUCATION_JEUNESSE,  # Services départementaux de l'Éducation
        "dronisep": _A.EDUCATION_JEUNESSE,  # Délégation régionale de l'ONISEP
        "cddp": _A.EDUCATION_JEUNESSE,  # Centre départemental de documentation pédagogique
        "crdp": _A.EDUCATION_JEUNESSE,  # Centre régional de documentation pédagogique
        "creps": _A.SPORT,  # Centre de ressources, d'expertise et de performance sportive
        # Culture
        "drac": _A.CULTURE,  # Direction régionale des affaires culturelles
        "sdac": _A.CULTURE,  # Service territorial de l'architecture et du patrimoine
        # Environnement
        "dreal": _A.ENVIRONNEMENT,  # DREAL
        "dreal_ut": _A.ENVIRONNEMENT,  # DREAL, unité territoriale
        "driee": _A.ENVIRONNEMENT,  # DRIEE (Île-de-France)
        "driee_ut": _A.ENVIRONNEMENT,  # DRIEE, unité territoriale
        "onf": _A.ENVIRONNEMENT,  # Office national des forêts
        "fdc": _A.ENVIRONNEMENT,  # Fédération départementale des chasseurs
        "fdapp": _A.ENVIRONNEMENT,  # Fédération départementale pour la pêche
        "dml": _A.ENVIRONNEMENT,  # Délégation à la mer et au littoral
        "dir_mer": _A.ENVIRONNEMENT,  # Direction interrégionale de la mer
        "dir_meteo": _A.ENVIRONNEMENT,  # Météo-France, direction interrégionale
        # Mobilité et transports
        "did_routes": _A.MOBILITE,  # Direction interdépartementale des routes
        "dac": _A.MOBILITE,  # Direction de l'aviation civile
        "cnra": _A.MOBILITE,  # Centre en route de la navigation aérienne
        "service_navigation": _A.MOBILITE,  # Service de la navigation
        # Aménagement et logement
        "ddt": _A.AMENAGEMENT_LOGEMENT,  # Direction départementale des territoires (et de la mer)
        "driea": _A.AMENAGEMENT_LOGEMENT,  # DRIEA (Île-de-France)
        "driea_ut": _A.AMENAGEMENT_LOGEMENT,  # DRIEA, unité territoriale
        "drihl": _A.AMENAGEMENT_LOGEMENT,  # DRIHL (hébergement et logement, Île-de-France)
        "drihl_ut": _A.AMENAGEMENT_LOGEMENT,  # DRIHL, unité territoriale
        "adil": _A.AMENAGEMENT_LOGEMENT,  # Agence départementale pour l'information sur le logement
        "anah": _A.AMENAGEMENT_LOGEMENT,  # Agence nationale de l'habitat
        "caue": _A.AMENAGEMENT_LOGEMENT,  # Conseil d'architecture, d'urbanisme et d'environnement
        "commission_conciliation": _A.AMENAGEMENT_LOGEMENT,  # Comm. départementale de conciliation
        "centre_impots_fonciers": _A.AMENAGEMENT_LOGEMENT,  # Centre des impôts foncier, cadastre
        "hypotheque": _A.AMENAGEMENT_LOGEMENT,  # Service de publicité foncière
        # Sécurité
        "gendarmerie": _A.SECURITE,  # Brigade de gendarmerie
        "commissariat_police": _A.SECURITE,  # Commissariat de police
        "ddsp": _A.SECURITE,  # Direction départementale de la sécurité publique
        "dir_pj": _A.SECURITE,  # Direction interrégionale de la police judiciaire
        "dz_paf": _A.SECURITE,  # Direction zonale de la police aux frontières
        "crfpn": _A.SECURITE,  # Recrutement et formation de la police nationale
        "sdis": _A.SECURITE,  # Service départemental d'incendie et de secours
        "sdsei": _A.SECURITE,  # Service départemental de sécurité et d'incendie
        # Justice et accès au droit
        "ta": _A.JUSTICE,  # Tribunal administratif
        "caa": _A.JUSTICE,  # Cour administrative d'appel
        "cour_appel": _A.JUSTICE,  # Cour d'appel
        "tgi": _A.JUSTICE,  # Tribunal de grande instance
        "ti": _A.JUSTICE,  # Tribunal d'instance
        "tj": _A.JUSTICE,  # Tribunal judiciaire (TGI + TI since 2020)
        "tribunal_judiciaire": _A.JUSTICE,  # Tribunal judiciaire
        "tribunal_proximite": _A.JUSTICE,  # Tribunal de proximité
        "te": _A.JUSTICE,  # Tribunal pour enfants
        "tribunal_commerce": _A.JUSTICE,  # Tribunal de commerce
        "prudhommes": _A.JUSTICE,  # Conseil de prud'hommes
        "mjd": _A.JUSTICE,  # Maison de justice et du droit
        "point_justice": _A.JUSTICE,  # Point-justice (accès au droit)
        "permanence_juridique": _A.JUSTICE,  # Permanence juridique
        "bav": _A.JUSTICE,  # Bureau d'aide aux victimes
        "civi": _A.JUSTICE,  # Commission d'indemnisation des victimes d'infraction
        "spip": _A.JUSTICE,  # Service pénitentiaire d'insertion et de probation
        "ddpjj": _A.JUSTICE,  # Protection judiciaire de la jeunesse, direction territoriale
        "drpjj": _A.JUSTICE,  # Protection judiciaire de la jeunesse, direction régionale
        "drsp": _A.JUSTICE,  # Direction interrégionale des services pénitentiaires
        "maison_arret": _A.JUSTICE,  # Maison d'arrêt
        "maison_centrale": _A.JUSTICE,  # Maison centrale
        "centre_detention": _A.JUSTICE,  # Centre de détention
        "centre_penitentiaire": _A.JUSTICE,  # Centre pénitentiaire
        "csl": _A.JUSTICE,  # Centre de semi-liberté
        "esm": _A.JUSTICE,  # Établissement spécialisé pour mineurs
        # Finances publiques et fiscalité
        "sip": _A.FINANCES,  # Service des impôts des particuliers
        "sie": _A.FINANCES,  # Service des impôts des entreprises
        "sip_sie": _A.FINANCES,  # Service des impôts des particuliers et des entreprises
        "tresorerie": _A.FINANCES,  # Trésorerie
        "sgc": _A.FINANCES,  # Service de gestion comptable
        "dd_fip": _A.FINANCES,  # Direction départementale des finances publiques
        "dr_fip": _A.FINANCES,  # Direction régionale des finances publiques
        "conciliateur_fiscal": _A.FINANCES,  # Conciliateur fiscal
        "drddi": _A.FINANCES,  # Direction interrégionale et régionale des douanes
    }
)

# --- DATAtourisme: ontology classes, most specific first -------------------------------------
DATATOURISME_CLASSES: Mapping[str, PolicyArea] = MappingProxyType(
    {
        # events
        "SportsEvent": _A.SPORT,
        "SportsCompetition": _A.SPORT,
        "Exhibition": _A.CULTURE,
        "ShowEvent": _A.CULTURE,
        "Concert": _A.CULTURE,
        "TheaterEvent": _A.CULTURE,
        "ScreeningEvent": _A.CULTURE,
        "Festival": _A.CULTURE,
        "CulturalEvent": _A.CULTURE,
        "SaleEvent": _A.ECONOMIE_EMPLOI,
        "BusinessEvent": _A.ECONOMIE_EMPLOI,
        "SocialEvent": _A.TOURISME_LOISIRS,
        "TraditionalCelebration": _A.CULTURE,
        "EntertainmentAndEvent": _A.TOURISME_LOISIRS,
        # places
        "Museum": _A.CULTURE,
        "Library": _A.CULTURE,
        "Theater": _A.CULTURE,
        "Cinema": _A.CULTURE,
        "ReligiousSite": _A.CULTURE,
        "RemarkableBuilding": _A.CULTURE,
        "Castle": _A.CULTURE,
        "InterpretationCentre": _A.CULTURE,
        "CulturalSite": _A.CULTURE,
        "SportsAndLeisurePlace": _A.SPORT,
        "NaturalHeritage": _A.ENVIRONNEMENT,
        "ParkAndGarden": _A.ENVIRONNEMENT,
        "Tour": _A.TOURISME_LOISIRS,
        "Restaurant": _A.TOURISME_LOISIRS,
        "FoodEstablishment": _A.TOURISME_LOISIRS,
        "Accommodation": _A.TOURISME_LOISIRS,
        "TouristInformationCenter": _A.TOURISME_LOISIRS,
        "Store": _A.ECONOMIE_EMPLOI,
        "BusinessPlace": _A.ECONOMIE_EMPLOI,
        "Transport": _A.MOBILITE,
        "ServiceProvider": _A.TOURISME_LOISIRS,
        "MedicalPlace": _A.SANTE,
        "LocalTouristOffice": _A.TOURISME_LOISIRS,
        "PlaceOfInterest": _A.TOURISME_LOISIRS,
        "PointOfInterest": _A.TOURISME_LOISIRS,
    }
)

# --- data.gouv.fr: keywords found in tags (or the title), folded, first match wins -----------
DATAGOUV_KEYWORDS: Mapping[str, PolicyArea] = MappingProxyType(
    {
        "social": _A.ACTION_SOCIALE,
        "solidarite": _A.ACTION_SOCIALE,
        "handicap": _A.ACTION_SOCIALE,
        "famille": _A.ACTION_SOCIALE,
        "enfance": _A.ACTION_SOCIALE,
        "sante": _A.SANTE,
        "hopital": _A.SANTE,
        "medecin": _A.SANTE,
        "economie": _A.ECONOMIE_EMPLOI,
        "emploi": _A.ECONOMIE_EMPLOI,
        "entreprise": _A.ECONOMIE_EMPLOI,
        "commerce": _A.ECONOMIE_EMPLOI,
        "agriculture": _A.ECONOMIE_EMPLOI,
        "marche-public": _A.ECONOMIE_EMPLOI,
        "marches-publics": _A.ECONOMIE_EMPLOI,
        "education": _A.EDUCATION_JEUNESSE,
        "ecole": _A.EDUCATION_JEUNESSE,
        "college": _A.EDUCATION_JEUNESSE,
        "lycee": _A.EDUCATION_JEUNESSE,
        "jeunesse": _A.EDUCATION_JEUNESSE,
        "scolaire": _A.EDUCATION_JEUNESSE,
        "culture": _A.CULTURE,
        "musee": _A.CULTURE,
        "patrimoine": _A.CULTURE,
        "bibliotheque": _A.CULTURE,
        "mediatheque": _A.CULTURE,
        "sport": _A.SPORT,
        "equipements-sportifs": _A.SPORT,
        "tourisme": _A.TOURISME_LOISIRS,
        "loisirs": _A.TOURISME_LOISIRS,
        "environnement": _A.ENVIRONNEMENT,
        "dechets": _A.ENVIRONNEMENT,
        "eau": _A.ENVIRONNEMENT,
        "energie": _A.ENVIRONNEMENT,
        "air": _A.ENVIRONNEMENT,
        "biodiversite": _A.ENVIRONNEMENT,
        "arbre": _A.ENVIRONNEMENT,
        "espaces-verts": _A.ENVIRONNEMENT,
        "transport": _A.MOBILITE,
        "mobilite": _A.MOBILITE,
        "velo": _A.MOBILITE,
        "stationnement": _A.MOBILITE,
        "voirie": _A.MOBILITE,
        "gtfs": _A.MOBILITE,
        "logement": _A.AMENAGEMENT_LOGEMENT,
        "urbanisme": _A.AMENAGEMENT_LOGEMENT,
        "cadastre": _A.AMENAGEMENT_LOGEMENT,
        "plu": _A.AMENAGEMENT_LOGEMENT,
        "amenagement": _A.AMENAGEMENT_LOGEMENT,
        "adresse": _A.AMENAGEMENT_LOGEMENT,
        "securite": _A.SECURITE,
        "delinquance": _A.SECURITE,
        "police": _A.SECURITE,
        "justice": _A.JUSTICE,
        "budget": _A.FINANCES,
        "finances": _A.FINANCES,
        "fiscalite": _A.FINANCES,
        "subventions": _A.FINANCES,
        "impots": _A.FINANCES,
        "elections": _A.DEMARCHES,
        "etat-civil": _A.DEMARCHES,
        "deliberations": _A.ADMINISTRATION,
        "conseil-municipal": _A.ADMINISTRATION,
        "collectivite": _A.ADMINISTRATION,
        "organigramme": _A.ADMINISTRATION,
    }
)

DEFAULT_POLICY_AREAS: Mapping[str, PolicyArea] = MappingProxyType(
    {**SERVICE_PUBLIC_TYPES, **DATATOURISME_CLASSES, **DATAGOUV_KEYWORDS}
)


def _fold(value: str) -> str:
    return fold_accents(value).strip().lower()


_AREAS_BY_KEY: dict[str, PolicyArea] = {}
for _area in PolicyArea:
    _AREAS_BY_KEY[_fold(_area.value)] = _area
    _AREAS_BY_KEY[_area.name.lower()] = _area


def parse_policy_area(value: str) -> PolicyArea:
    """A PolicyArea from its label ("Santé", "sante") or name ("SANTE"); ValueError otherwise."""
    area = _AREAS_BY_KEY.get(_fold(value))
    if area is None:
        known = ", ".join(a.value for a in PolicyArea)
        raise ValueError(f"unknown policy area {value!r} (known: {known})")
    return area


def policy_area_table(
    overrides: Mapping[str, str | None] | None = None, *, allow_custom: bool = False
) -> dict[str, str]:
    """The default table with a tenant's overrides (source type → area label) applied.

    Override values are PolicyArea labels or names; with ``allow_custom`` any non-empty label is
    kept as given (a tenant's own nomenclature). ``None`` removes the type from the table.
    """
    table: dict[str, str] = {key: area.value for key, area in DEFAULT_POLICY_AREAS.items()}
    for source_type, area in (overrides or {}).items():
        if area is None:
            table.pop(source_type, None)
            continue
        if not area.strip():
            raise ValueError(f"empty policy area for source type {source_type!r}")
        try:
            table[source_type] = parse_policy_area(area).value
        except ValueError:
            if not allow_custom:
                raise
            table[source_type] = area.strip()
    return table


def policy_area_for(source_type: str | None, table: Mapping[str, str] | None = None) -> str | None:
    """The area of a source type in ``table`` (a HarvestContext's ``policy_areas``).

    ``HarvestContext.policy_areas`` is the full table, overrides applied (``policy_area_table``):
    a type it does not list has no area. An empty or missing table means "no tenant table was
    given": the defaults apply.
    """
    if source_type is None:
        return None
    if table:
        return table.get(source_type)
    area = DEFAULT_POLICY_AREAS.get(source_type)
    return area.value if area is not None else None


def datatourisme_class(types: Iterable[str]) -> str | None:
    """The most specific known DATAtourisme class among a record's ``@type`` values."""
    names = {t.rsplit(":", 1)[-1].rsplit("#", 1)[-1] for t in types if not t.startswith("schema:")}
    for name in DATATOURISME_CLASSES:
        if name in names:
            return name
    return None


_WORDS = re.compile(r"[^a-z0-9]+")


def _keyword_in(text: str) -> str | None:
    folded = _fold(text)
    words = [w for w in _WORDS.split(folded) if w]
    joined = "-".join(words)
    for keyword in DATAGOUV_KEYWORDS:  # several words first: the most precise match wins
        if "-" in keyword and f"-{keyword}-" in f"-{joined}-":
            return keyword
    for keyword in DATAGOUV_KEYWORDS:
        if "-" not in keyword and any(
            word == keyword or (len(keyword) >= 4 and word.startswith(keyword)) for word in words
        ):
            return keyword
    return None


def datagouv_keyword(tags: Iterable[str], title: str | None = None) -> str | None:
    """The first DATAGOUV_KEYWORDS keyword found in the tags (in order), then in the title."""
    for tag in tags:
        if isinstance(tag, str):
            keyword = _keyword_in(tag)
            if keyword:
                return keyword
    if title:
        return _keyword_in(title)
    return None
