"""The demo: a real territory from recorded open data, a demo tenant, generated feedback.

``seed_demo`` drives the platform itself, in one process: it starts the embedded app (its
relays and consumers run as in production), harvests the recorded files of ``demo_data/``
through the ingest service, creates the tenant and its accounts the way ``citela
tenant-create`` and ``citela staff-add`` do, posts the generated feedback through the
feedback API's batch route as a partner app, and waits until the catalogue and analytics
APIs show it all. Nothing writes another service's tables.

The feedback is generated (seeded random numbers, French sentences from templates) and says
so: the partner app is « Avis de démonstration (générés) », the tenant's name ends with
« (démonstration) ». It is spread over the last thirteen weeks: the partner app dates each
answer with ``collected_at`` (as a kiosk or a paper survey uploading late would), so the
weekly trends have a history, with the CCAS improving and the intercommunal services slipping.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from citela_common.auth import Role
from citela_common.db import utcnow
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import accounts, tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.domain.rules import TenantRules
from citela_feedback.models import Account, Tenant
from citela_ingest.runs import run_harvest
from citela_platform.embedded import create_embedded_app

DEMO_TENANT = "aire-cantilienne"
DEMO_TENANT_NAME = "Communauté de communes de l'Aire Cantilienne (démonstration)"
DEMO_SIREN = "246000764"  # the EPCI's SIREN is also its territory code
DEMO_TERRITORY = "246000764"
DEMO_APP_NAME = "Avis de démonstration (générés)"
DEMO_USER_PREFIX = "demo-genere-"
DATA = Path(__file__).resolve().parent / "demo_data"

# The composed DATAtourisme flux (``demo_data/make_composed.py``) dates its events from this
# day; ``shifted_flux`` moves them to the day the demo runs, so they are always upcoming.
COMPOSED_FLUX = "datatourisme-composed"
COMPOSED_REFERENCE = date(2026, 11, 28)
DEFAULT_FEEDBACKS = 2800

# (source, territory, file): the Oise first, so that the others can place their records.
HARVESTS: tuple[tuple[str, str, str], ...] = (
    ("territories", "60", "geo-api/communes_codeDepartement_60.json"),
    ("territories", "60", "geo-api/epcis_246000764.json"),
    ("service-public", DEMO_TERRITORY, "service-public/export.json"),
    ("service-public", DEMO_TERRITORY, "service-public/api_page.json"),
    ("service-public", DEMO_TERRITORY, "service-public/composed.json"),
    ("datagouv", DEMO_TERRITORY, "datagouv/page.json"),
    ("datatourisme", DEMO_TERRITORY, "datatourisme"),
    ("datatourisme", DEMO_TERRITORY, COMPOSED_FLUX),
)
# The demo's files never change upstream: nothing of them is ever archived for being missing
# from another file of the same source.
GRACE = timedelta(days=36500)
WAIT_S = 120.0
MIN_ANSWERS = 10  # the default minimum for a verdict (TenantRules.min_answers)
# The answers are spread over the twelve complete weeks the dashboard's trends show by default,
# whatever the day of the seeding, and the current week: thirteen weeks back.
HISTORY = timedelta(weeks=13)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str  # in French, as printed


@dataclass(frozen=True)
class DemoSummary:
    tenant: str
    tenant_name: str
    entries: int
    feedbacks: int
    logins: list[DemoLogin]


# Demo passwords are printed on purpose: this is a local demonstration with generated data.
LOGINS: tuple[tuple[DemoLogin, tuple[Role, ...]], ...] = (
    (
        DemoLogin("administratrice@demo.citela.fr", "Chantilly-admin-2026", "administratrice"),
        (Role.ADMIN,),
    ),
    (DemoLogin("elu@demo.citela.fr", "Chantilly-elu-2026", "analyste (élu)"), (Role.ANALYST,)),
    (
        DemoLogin("moderatrice@demo.citela.fr", "Chantilly-moderation-2026", "modératrice"),
        (Role.MODERATOR,),
    ),
    (DemoLogin("habitant@demo.citela.fr", "Chantilly-habitant-2026", "habitant"), ()),
)


def demo_logins() -> list[DemoLogin]:
    return [login for login, _roles in LOGINS]


# --- the generated feedback ---------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """What generated comments on the services of one policy area say, by tone."""

    negative: tuple[str, ...]
    neutral: tuple[str, ...]
    positive: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    """What the generated answers on one catalogue entry look like."""

    match: str  # a part of the entry's title that picks it (and only it)
    share: float  # relative weight in the feedback, unless ``fixed`` sets a count
    importance: float  # target means on the 1-5 scales
    satisfaction: float
    voice: Voice
    fixed: int | None = None
    # change of the satisfaction mean over the history (oldest answers ``-drift/2`` from
    # ``satisfaction``, newest ``+drift/2``): the overall mean stays ``satisfaction``
    drift: float = 0.0

    @property
    def negative(self) -> tuple[str, ...]:
        return self.voice.negative

    @property
    def neutral(self) -> tuple[str, ...]:
        return self.voice.neutral

    @property
    def positive(self) -> tuple[str, ...]:
        return self.voice.positive


TOWN_HALL = Voice(
    negative=(
        "Les horaires d'ouverture de la mairie sont trop courts, fermé le samedi matin.",
        "Impossible d'obtenir un rendez-vous pour une carte d'identité avant deux mois.",
        "Accueil téléphonique difficile à joindre le mardi.",
    ),
    neutral=(
        "Démarche d'état civil faite sans difficulté particulière.",
        "Les horaires d'ouverture conviennent à peu près.",
    ),
    positive=(
        "Accueil chaleureux à la mairie, le personnel prend le temps d'expliquer.",
        "Très bon accueil, ma demande d'acte de naissance a été traitée rapidement.",
        "Le personnel de la mairie est disponible et efficace, merci.",
        "Démarches simples et rapides, accueil souriant.",
    ),
)
INTERCOMMUNALITY = Voice(
    negative=(
        "La collecte des déchets verts passe trop rarement dans notre rue.",
        "Information sur les travaux de voirie arrivée bien trop tard.",
    ),
    neutral=(
        "Je connais mal les compétences de la communauté de communes.",
        "Le site de la communauté de communes donne les informations de base.",
    ),
    positive=(
        "La collecte des déchets est bien organisée et régulière.",
        "Très satisfait de la déchetterie intercommunale, accueil efficace.",
        "Bonne information sur les travaux, les agents sont réactifs.",
    ),
)
SOCIAL = Voice(
    negative=(
        "Le temps d'attente est beaucoup trop long, trois semaines pour un rendez-vous.",
        "Impossible de joindre l'accueil par téléphone, personne ne répond.",
        "Mon dossier d'aide a été perdu, il a fallu tout recommencer.",
        "Le temps d'attente pour l'aide au logement est décourageant.",
        "Aucune réponse à mes courriers depuis des semaines, c'est inadmissible.",
        "Délais de traitement des dossiers beaucoup trop longs pour les personnes âgées.",
    ),
    neutral=(
        "Le dossier a été traité, mais les délais restent longs.",
        "Rendez-vous obtenu, il faut apporter beaucoup de justificatifs.",
    ),
    positive=(
        "Une assistante sociale très à l'écoute, merci pour l'aide.",
        "Accompagnement humain et bienveillant malgré le temps d'attente.",
    ),
)
HEALTH = Voice(
    negative=(
        "Trois mois d'attente pour un rendez-vous, c'est beaucoup trop long.",
        "Accueil uniquement sur rendez-vous, impossible de joindre quelqu'un au téléphone.",
        "Ma carte Vitale n'est toujours pas arrivée après deux relances.",
    ),
    neutral=(
        "Rendez-vous obtenu, le délai reste long.",
        "Les informations en ligne suffisent pour les démarches simples.",
    ),
    positive=(
        "Puéricultrice très à l'écoute, des conseils précieux pour notre bébé.",
        "Dossier réglé en un seul rendez-vous, merci.",
    ),
)
PAPERS = Voice(
    negative=(
        "Trop d'attente le samedi matin, un seul conseiller présent.",
        "Il faut revenir plusieurs fois pour une carte grise.",
    ),
    neutral=(
        "Service utile pour les démarches en ligne.",
        "Horaires corrects, un peu d'attente.",
    ),
    positive=(
        "Conseillère patiente qui m'a aidé à déclarer mes impôts en ligne.",
        "Très utile quand on n'est pas à l'aise avec internet, merci.",
        "Démarche de retraite faite en une heure grâce à l'accompagnement.",
    ),
)
JOBS = Voice(
    negative=(
        "Conseiller injoignable, aucun suivi depuis mon inscription.",
        "Les offres proposées ne correspondent pas du tout à mon profil.",
        "Attente interminable pour un simple rendez-vous.",
    ),
    neutral=(
        "Inscription faite, le suivi reste à voir.",
        "Quelques ateliers utiles pour le CV.",
    ),
    positive=(
        "Ma conseillère m'a trouvé une formation rapidement.",
        "Bon accompagnement des jeunes, des rendez-vous réguliers.",
    ),
)
YOUTH = Voice(
    negative=(
        "Permanence trop courte, fermé pendant les vacances scolaires.",
        "Peu d'informations sur les formations en alternance.",
    ),
    neutral=(
        "Documentation correcte sur les métiers.",
        "Je ne connaissais pas ce service.",
    ),
    positive=(
        "Conseillère d'orientation très à l'écoute de mon fils.",
        "Bonnes informations pour trouver un job d'été.",
    ),
)
SAFETY = Voice(
    negative=(
        "Délai d'intervention trop long après un cambriolage.",
        "Accueil fermé le dimanche, il faut aller ailleurs pour porter plainte.",
    ),
    neutral=(
        "Plainte enregistrée sans difficulté.",
        "Présence correcte dans le quartier.",
    ),
    positive=(
        "Gendarmes réactifs et rassurants, merci.",
        "L'opération tranquillité vacances fonctionne très bien.",
    ),
)
NATURE = Voice(
    negative=(
        "Les chemins de la forêt sont défoncés après les coupes de bois.",
        "Aucune information sur la fermeture des sentiers pendant la chasse.",
        "Trop de déchets sauvages en lisière de forêt.",
    ),
    neutral=(
        "Forêt agréable, entretien moyen.",
        "Signalétique des sentiers à revoir.",
    ),
    positive=(
        "Les sentiers balisés sont bien entretenus.",
        "Sortie nature guidée passionnante.",
    ),
)
HOUSING = Voice(
    negative=("Permanence trop rare, un seul mercredi par mois.",),
    neutral=("Conseils utiles mais très généraux.",),
    positive=(
        "Réponses claires sur mon bail, merci pour le conseil gratuit.",
        "Aide précieuse pour comprendre les aides à la rénovation.",
    ),
)
LAW = Voice(
    negative=("Il faut attendre un mois pour voir un avocat.",),
    neutral=("Consultation courte mais utile.",),
    positive=("Avocate très claire, j'ai compris mes droits.",),
)
ACCOUNTS = Voice(
    negative=("Impossible de payer la cantine en ligne, le site est en panne.",),
    neutral=("Paiement fait au guichet sans difficulté.",),
    positive=("Échéancier accordé rapidement, merci.",),
)
CULTURE = Voice(
    negative=(
        "Exposition trop petite, on en fait le tour en dix minutes.",
        "Horaires de visite peu pratiques, fermé le week-end.",
        "Aucune signalétique pour trouver le lieu de l'exposition.",
    ),
    neutral=(
        "Exposition correcte, sans plus.",
        "Je ne savais pas que ce lieu existait.",
    ),
    positive=(
        "Très belle exposition, des œuvres émouvantes.",
        "Une médiathèque lumineuse avec un grand choix de livres.",
        "Les heures du conte plaisent beaucoup aux enfants.",
    ),
)
SPORT = Voice(
    negative=(
        "Piscine trop souvent fermée pour vidange ou panne de chauffage.",
        "Créneaux publics trop courts, les bassins sont réservés aux clubs.",
        "Vestiaires vétustes et mal entretenus.",
    ),
    neutral=(
        "Piscine correcte, un peu de monde le samedi.",
        "Les tarifs sont dans la moyenne.",
    ),
    positive=(
        "Maîtres-nageurs sympathiques, bons cours d'aquagym.",
        "Bassin propre et eau à bonne température.",
    ),
)
LEISURE = Voice(
    negative=("Restaurant souvent complet, difficile de réserver.",),
    neutral=("Un lieu parmi d'autres, rien de particulier.",),
    positive=(
        "Excellentes crêpes, accueil très sympathique.",
        "Très bon accueil à l'office de tourisme, de bons conseils de balade.",
        "Cadre agréable et très bonne cuisine, merci.",
    ),
)
DATASET = Voice(
    negative=(
        "Les horaires des bus publiés ne sont pas à jour, il manque les lignes du dimanche.",
    ),
    neutral=("Fichier consulté une fois pour vérifier un horaire.",),
    positive=("Pratique d'avoir les horaires des bus en données ouvertes.",),
)

# Each policy area has its own profile and each service its nuance, so that the four quadrants
# of the matrix are filled at both levels (the crosshairs are the grand means): town halls,
# the intercommunality, France services and the gendarmerie are important and liked (keep up);
# social services, health and jobs important and disliked (act first); youth, environment and
# the swimming pool neither (secondary); culture and tourism liked but less important
# (possible over-investment). A few cells sit near the crosshairs (uncertain) and three get
# too few answers for a verdict (the point-justice, the accounting office, the bus timetable).
PROFILES: tuple[Profile, ...] = (
    Profile("Mairie - Chantilly", 8, 4.4, 4.2, TOWN_HALL),
    Profile("Mairie - Gouvieux", 6, 4.3, 4.0, TOWN_HALL),
    Profile("Mairie - Lamorlaye", 6, 4.3, 3.6, TOWN_HALL),
    Profile("Mairie - Coye-la-Forêt", 4, 4.2, 4.3, TOWN_HALL),
    Profile("Mairie - La Chapelle-en-Serval", 3, 4.0, 3.9, TOWN_HALL),
    Profile("Mairie - Orry-la-Ville", 3, 4.0, 3.7, TOWN_HALL),
    Profile("Mairie - Vineuil-Saint-Firmin", 2, 3.9, 4.0, TOWN_HALL),
    Profile("Mairie - Plailly", 2, 3.9, 3.3, TOWN_HALL),
    Profile("Mairie - Mortefontaine", 1.2, 3.5, 4.2, TOWN_HALL),
    Profile("Mairie - Avilly-Saint-Léonard", 1.2, 3.5, 4.0, TOWN_HALL),
    Profile("Mairie - Apremont", 1, 3.4, 4.1, TOWN_HALL),
    Profile("Communauté de communes", 8, 4.1, 3.9, INTERCOMMUNALITY, drift=-0.8),
    Profile("(CCAS) - Chantilly", 9, 4.5, 2.3, SOCIAL, drift=1.4),
    Profile("(CCAS) - Gouvieux", 4, 4.4, 2.8, SOCIAL),
    Profile("(CCAS) - Lamorlaye", 3, 4.3, 3.1, SOCIAL),
    Profile("(Caf)", 5, 4.6, 2.2, SOCIAL),
    Profile("(PMI)", 3, 4.2, 3.0, HEALTH),
    Profile("(CPAM)", 4, 4.4, 2.5, HEALTH),
    Profile("France services - Chantilly", 5, 4.0, 4.2, PAPERS),
    Profile("France services - Lamorlaye", 2, 3.8, 3.9, PAPERS),
    Profile("France Travail", 5, 4.1, 2.4, JOBS),
    Profile("Mission locale", 2, 3.7, 3.3, JOBS),
    Profile("(CIO)", 2, 3.0, 2.8, YOUTH),
    Profile("Point information jeunesse", 1.5, 2.7, 3.0, YOUTH),
    Profile("gendarmerie - Chantilly", 3, 4.2, 3.8, SAFETY),
    Profile("gendarmerie - Lamorlaye", 2, 4.1, 3.9, SAFETY),
    Profile("(ONF)", 3, 3.1, 2.6, NATURE),
    Profile("ADIL", 1.5, 3.0, 3.5, HOUSING),
    Profile("Médiathèque", 4, 2.8, 4.4, CULTURE),
    Profile("ÉMOTIONS ENFOUIES", 3, 2.5, 2.5, CULTURE),
    Profile("Piscine", 4, 3.2, 2.4, SPORT),
    Profile("Chez Jeanne", 2, 2.2, 4.4, LEISURE),
    Profile("Office de tourisme", 2, 2.6, 4.3, LEISURE),
    Profile("Point-justice", 0, 3.6, 3.9, LAW, fixed=7),
    Profile("gestion comptable", 0, 3.3, 3.0, ACCOUNTS, fixed=5),
    Profile("Horaires des bus", 0, 2.8, 2.6, DATASET, fixed=6),
)

# A few comments carry personal data, so that redaction shows; a few are held by the
# pre-screening (insult, advertising), so that the moderation queue has work.
PERSONAL = (
    " Vous pouvez me rappeler au 06 12 34 56 78.",
    " Répondez-moi à claire.dupont@exemple.fr s'il vous plaît.",
)
HELD = (
    "Des fainéants à l'accueil, aucun respect pour les habitants.",
    "Gagnez de l'argent facile, code promo sur notre site, offre exclusive !",
    "Bande de cons, jamais personne au téléphone.",
)


@dataclass(frozen=True)
class Item:
    entry_id: str
    user_ref: str
    importance: int
    satisfaction: int
    comment: str | None
    age: timedelta  # how long before the upload the answer was collected

    def json(self, now: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {
            "entry_id": self.entry_id,
            "user_ref": self.user_ref,
            "importance": self.importance,
            "satisfaction": self.satisfaction,
            "collected_at": (now - self.age).isoformat(),
        }
        if self.comment is not None:
            body["comment"] = self.comment
        return body


def allocate(total: int) -> list[int]:
    """Answers per profile: the fixed ones, the rest by share (the remainder to the first), so
    that they add up to ``total``; each shared profile gets enough answers for a verdict."""
    rest = total - sum(p.fixed or 0 for p in PROFILES)
    weight = sum(p.share for p in PROFILES if p.fixed is None)
    counts = [p.fixed if p.fixed is not None else int(rest * p.share / weight) for p in PROFILES]
    counts[0] += total - sum(counts)
    if any(c < MIN_ANSWERS for c, p in zip(counts, PROFILES, strict=True) if p.fixed is None):
        raise ValueError(
            f"{total} avis générés ne suffisent pas à remplir la matrice de la démonstration"
        )
    return counts


def _score(rng: random.Random, mean: float) -> int:
    return max(1, min(5, round(rng.gauss(mean, 0.75))))


def _comment(rng: random.Random, profile: Profile, satisfaction: int) -> str | None:
    if rng.random() < 0.35:
        return None
    pool = (
        profile.negative
        if satisfaction <= 2
        else profile.neutral
        if satisfaction == 3
        else profile.positive
    )
    text = rng.choice(pool)
    if len(pool) > 1 and rng.random() < 0.3:
        text += " " + rng.choice([s for s in pool if s != text])
    if rng.random() < 0.015:
        text += rng.choice(PERSONAL)
    return text


def generate(entries: dict[str, str], total: int, seed: int) -> list[Item]:
    """The demo's feedback, the same for the same ``entries``, ``total`` and ``seed``.

    ``entries`` maps each profile's ``match`` to the entry id it stands for. One generated
    person (``user_ref``) answers each entry at most once, so every item is a new feedback.
    Each answer's age is spread evenly over ``HISTORY`` (at least ten minutes old).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    items: list[Item] = []
    span = HISTORY.total_seconds() - 600
    for profile, count in zip(PROFILES, allocate(total), strict=True):
        entry_id = entries[profile.match]
        for n in range(count):
            age = 600 + rng.random() * span
            recency = 1 - age / HISTORY.total_seconds()  # 0: oldest, 1: newest
            satisfaction = _score(rng, profile.satisfaction + profile.drift * (recency - 0.5))
            items.append(
                Item(
                    entry_id=entry_id,
                    user_ref=f"{DEMO_USER_PREFIX}{n + 1:04d}",
                    importance=_score(rng, profile.importance),
                    satisfaction=satisfaction,
                    comment=_comment(rng, profile, satisfaction),
                    age=timedelta(seconds=round(age)),
                )
            )
    # The held comments go to the most answered services, on otherwise ordinary answers.
    for i, text in enumerate(HELD):
        items[i * 7] = replace(items[i * 7], comment=text)
    rng.shuffle(items)
    return items


# --- the composed events, moved to the coming weeks -----------------------------------------

_DATE_KEYS = ("startDate", "endDate", "schema:startDate", "schema:endDate")


def _shift_dates(node: Any, days: int) -> Any:
    """``node`` with every event date (``takesPlaceAt`` periods, flat ``schema:`` arrays)
    moved by ``days``; the rest of the flux object untouched."""
    if isinstance(node, list):
        return [_shift_dates(v, days) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DATE_KEYS:
            values = value if isinstance(value, list) else [value]
            moved = [(date.fromisoformat(v) + timedelta(days=days)).isoformat() for v in values]
            out[key] = moved if isinstance(value, list) else moved[0]
        else:
            out[key] = _shift_dates(value, days)
    return out


def shifted_flux(target: Path, today: date) -> Path:
    """A copy of the composed DATAtourisme flux under ``target`` whose event dates are moved
    by whole weeks (a Saturday market stays on a Saturday) from ``COMPOSED_REFERENCE`` to
    ``today``, so that the events are always in the coming weeks. The shipped files are
    never changed."""
    weeks = (today - COMPOSED_REFERENCE).days // 7
    source = DATA / COMPOSED_FLUX
    for path in sorted(source.rglob("*.json")):
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "index.json":
            copy.write_bytes(path.read_bytes())
            continue
        shifted = _shift_dates(json.loads(path.read_text(encoding="utf-8")), weeks * 7)
        copy.write_text(json.dumps(shifted, ensure_ascii=False), encoding="utf-8")
    return target


# --- seeding through the platform ---------------------------------------------------------


class DemoError(RuntimeError):
    """The demo could not be put in place (the message says why, in French)."""


async def _wait(what: str, check: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise DemoError(f"délai dépassé : {what}")
        await asyncio.sleep(0.1)


class _Seeder:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, feedbacks: int, seed: int) -> None:
        self.client = client
        self.feedbacks = feedbacks
        self.seed = seed
        self.runtimes: dict[str, ServiceRuntime] = app.state.runtimes
        self.settings: Settings = app.state.settings

    # HTTP helpers ---------------------------------------------------------------------
    def _ok(self, response: Any, what: str) -> Any:
        if response.status_code >= 300:
            raise DemoError(f"{what} : HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    async def token(self, login: DemoLogin) -> str:
        r = await self.client.post(
            "/feedback/v1/auth/token", json={"email": login.email, "password": login.password}
        )
        return str(self._ok(r, f"connexion de {login.email}")["access_token"])

    async def entries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"territory": DEMO_TERRITORY, "limit": 50}
        while True:
            r = await self.client.get(f"/catalogue/v1/tenants/{DEMO_TENANT}/entries", params=params)
            if r.status_code == 404:  # the territories are not projected yet
                return found
            page = self._ok(r, "catalogue")
            found.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found
            params["cursor"] = cursor

    async def matrix(self, token: str) -> dict[str, Any]:
        r = await self.client.get(
            f"/analytics/v1/tenants/{DEMO_TENANT}/matrix",
            headers={"Authorization": f"Bearer {token}"},
        )
        return dict(self._ok(r, "matrice"))

    # steps ----------------------------------------------------------------------------
    async def in_place(self) -> DemoSummary | None:
        """The summary when a previous seed with the same size is complete, else None."""
        if (await self.client.get(f"/feedback/v1/tenants/{DEMO_TENANT}")).status_code != 200:
            return None
        analyst = demo_logins()[1]
        r = await self.client.post(
            "/feedback/v1/auth/token", json={"email": analyst.email, "password": analyst.password}
        )
        if r.status_code != 200:
            return None
        answers = (await self.matrix(r.json()["access_token"]))["crosshairs"]["answers"]
        if answers != self.feedbacks:
            return None
        return self.summary(len(await self.entries()), answers)

    def summary(self, entries: int, feedbacks: int) -> DemoSummary:
        return DemoSummary(DEMO_TENANT, DEMO_TENANT_NAME, entries, feedbacks, demo_logins())

    async def harvest(self) -> int:
        ingest = self.runtimes["ingest"]
        held = 0
        with tempfile.TemporaryDirectory(prefix="citela-demo-") as scratch:
            flux = shifted_flux(Path(scratch) / COMPOSED_FLUX, utcnow().date())
            for source, territory, file in HARVESTS:
                path = flux if file == COMPOSED_FLUX else DATA / file
                held += self._harvest_one(ingest, source, territory, path)

        async def listed() -> bool:
            return len(await self.entries()) >= held

        await _wait("le catalogue reçoit les services", listed)
        return held

    def _harvest_one(self, ingest: ServiceRuntime, source: str, territory: str, path: Path) -> int:
        """Harvest one file; how many entries of the territory it holds."""
        result = run_harvest(
            ingest.db,
            source,
            tenant=DEMO_TENANT,
            territory_code=territory,
            path=path,
            grace_period=GRACE,
            endpoints=ingest.context.endpoints,
            on_commit=ingest.relay.wake,
            # the demo's files are parts of one feed, each smaller than the one before: not a
            # shrink (an unreadable file or a wrong layout still fails)
            accept_shrink=True,
        )
        if result.status.value == "failed":
            raise DemoError(f"collecte {source} en échec : {result.reason or result.error}")
        if result.counts["invalid"]:  # the shipped files are clean: a refusal is a bug
            raise DemoError(f"collecte {source} : {result.counts['invalid']} fiches refusées")
        if source == "territories":
            return 0
        return sum(result.counts[c] for c in ("new", "updated", "unchanged"))

    def tenant_and_accounts(self) -> None:
        feedback = self.runtimes["feedback"]
        ctx: FeedbackContext = feedback.context
        with feedback.db.transaction() as session:
            scope_to_tenant(session, DEMO_TENANT)
            if session.get(Tenant, DEMO_TENANT) is None:
                tenants.create(
                    session,
                    code=DEMO_TENANT,
                    name=DEMO_TENANT_NAME,
                    siren=DEMO_SIREN,
                    territory_codes=[DEMO_TERRITORY],
                    rules=TenantRules(public_averages=True),
                )
        for login, roles in LOGINS:
            with feedback.db.transaction() as session:
                email = accounts.normalise_email(login.email)
                account = session.scalar(select(Account).where(Account.email == email))
                if account is None:
                    account = accounts.create_account(
                        session, ctx, login.email, login.password, confirmed=True
                    )
                if roles:
                    scope_to_tenant(session, DEMO_TENANT)
                    tenants.set_roles(session, DEMO_TENANT, account, roles)

    async def partner_key(self, admin: str) -> tuple[str, str, str]:
        """(app id, key id, key) of a fresh key of the demo's partner app."""
        headers = {"Authorization": f"Bearer {admin}"}
        base = f"/feedback/v1/tenants/{DEMO_TENANT}/partner-apps"
        apps = self._ok(await self.client.get(base, headers=headers), "applications partenaires")
        app = next((a for a in apps if a["name"] == DEMO_APP_NAME), None)
        if app is None:
            app = self._ok(
                await self.client.post(
                    base,
                    headers=headers,
                    json={"name": DEMO_APP_NAME, "rate_limit_per_minute": 100_000},
                ),
                "création de l'application de démonstration",
            )
        key = self._ok(
            await self.client.post(
                f"{base}/{app['id']}/keys",
                headers=headers,
                json={"label": "chargement de la démonstration", "scopes": ["feedback:write"]},
            ),
            "clé d'API de démonstration",
        )
        return str(app["id"]), str(key["id"]), str(key["key"])

    async def post_feedback(self, items: list[Item], key: str) -> None:
        url = f"/feedback/v1/tenants/{DEMO_TENANT}/feedback/batch"
        waiting = list(items)
        deadline = time.monotonic() + WAIT_S
        while waiting:
            retry: list[Item] = []
            for chunk in _chunks(waiting, 1000):
                now = utcnow()
                r = await self.client.post(
                    url, headers={"X-API-Key": key}, json={"items": [i.json(now) for i in chunk]}
                )
                for result in self._ok(r, "envoi des avis")["results"]:
                    if result["status"] == "rejected":
                        codes = {e["code"] for e in result["errors"]}
                        # the feedback service learns the catalogue from events: it may lag
                        if not codes <= {"unknown_entry", "outside_territory", "unknown"}:
                            raise DemoError(f"avis refusé : {result['errors']}")
                        retry.append(chunk[result["index"]])
            if retry and time.monotonic() > deadline:
                raise DemoError(f"{len(retry)} avis refusés : services inconnus du service avis")
            if retry:
                await asyncio.sleep(0.2)
            waiting = retry

    async def run(self) -> DemoSummary:
        done = await self.in_place()
        if done is not None:
            return done
        held = await self.harvest()
        self.tenant_and_accounts()
        by_match = {}
        entries = await self.entries()
        for profile in PROFILES:
            found = [e for e in entries if profile.match in e["title"]]
            if len(found) != 1:
                raise DemoError(f"service introuvable dans le catalogue : {profile.match}")
            by_match[profile.match] = str(found[0]["entry_id"])
        admin = await self.token(demo_logins()[0])
        app_id, key_id, key = await self.partner_key(admin)
        try:
            await self.post_feedback(generate(by_match, self.feedbacks, self.seed), key)
        finally:
            # the key was only for loading: nothing keeps a live key around
            await self.client.delete(
                f"/feedback/v1/tenants/{DEMO_TENANT}/partner-apps/{app_id}/keys/{key_id}",
                headers={"Authorization": f"Bearer {admin}"},
            )
        analyst = await self.token(demo_logins()[1])

        async def counted() -> bool:
            matrix = await self.matrix(analyst)
            return bool(matrix["crosshairs"]["answers"] == self.feedbacks)

        await _wait("la matrice inclut les avis", counted)
        if self.settings.redis_url is None:
            # embedded: scoring runs in-process; distributed: Celery workers do it in their time
            await self.wait_scored(analyst)
        self._ok(
            await self.client.post(
                f"/analytics/v1/tenants/{DEMO_TENANT}/snapshots",
                params={"week": utcnow().date().isoformat()},
                headers={"Authorization": f"Bearer {admin}"},
            ),
            "instantané hebdomadaire",
        )
        # The past weeks' snapshots are computed now, from the complete facts, rather than on
        # the dashboard's first visit.
        self._ok(
            await self.client.get(
                f"/analytics/v1/tenants/{DEMO_TENANT}/trends",
                headers={"Authorization": f"Bearer {analyst}"},
            ),
            "tendances hebdomadaires",
        )
        return self.summary(held, self.feedbacks)

    async def wait_scored(self, token: str) -> None:
        """Until the sentiment of every comment is scored (themes and quotes need it)."""
        headers = {"Authorization": f"Bearer {token}"}

        async def scored() -> bool:
            for point in (await self.matrix(token))["areas"]:
                r = await self.client.get(
                    f"/analytics/v1/tenants/{DEMO_TENANT}/areas/{point['key']}", headers=headers
                )
                if self._ok(r, "domaine")["explanation"]["sentiment"]["unscored"]:
                    return False
            return True

        await _wait("l'analyse des commentaires", scored)


def _chunks(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def seed_demo(
    settings: Settings, *, feedbacks: int = DEFAULT_FEEDBACKS, seed: int = 2026
) -> DemoSummary:
    """Put the demo in place on ``settings``' database (idempotent) and describe it.

    Returns once the catalogue lists the territory's entries and the analytics matrix counts
    the ``feedbacks`` generated answers with their comments scored.
    """
    allocate(feedbacks)  # refuse a size the profiles cannot fill, before any work
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_seed(settings, feedbacks, seed))


async def _seed(settings: Settings, feedbacks: int, seed: int) -> DemoSummary:
    # The embedded app in this process: its lifespan migrates and starts the relays and
    # consumers, and every step goes through the services' own APIs (an in-process client)
    # and runtimes, as a served platform would.
    app = create_embedded_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            return await _Seeder(app, client, feedbacks, seed).run()


def describe(
    summary: DemoSummary,
    host: str,
    port: int,
    seconds: float | None = None,
    *,
    serving: bool = True,
) -> str:
    """What ``citela demo`` prints: the addresses and the demo logins, in French."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - display only
    base = f"http://{shown}:{port}"
    ready = f" en {seconds:.0f} s" if seconds is not None else ""
    width = max(len(login.role) for login in summary.logins)
    email_width = max(len(login.email) for login in summary.logins)
    lines = [
        f"Démonstration prête{ready} : {summary.tenant_name}",
        f"  {summary.entries} services, jeux de données et événements du territoire, "
        "collectés depuis des données ouvertes enregistrées",
        f"  {summary.feedbacks} avis GÉNÉRÉS pour la démonstration "
        f"(application partenaire « {DEMO_APP_NAME} »)",
        "",
        "Adresses :",
        f"  Portail des habitants           {base}/",
        f"  Tableau de bord                 {base}/tableau-de-bord/{summary.tenant}/",
        f"  Documentation des API           {base}/catalogue/docs · {base}/feedback/docs · "
        f"{base}/analytics/docs · {base}/ingest/docs",
        f"  Plateforme (santé, métriques)   {base}/plateforme",
        "",
        "Comptes de démonstration :",
        *(
            f"  {login.role:<{width}}   {login.email:<{email_width}}   "
            f"mot de passe : {login.password}"
            for login in summary.logins
        ),
    ]
    if serving:
        lines += ["", "Arrêt : Ctrl+C. Pour repartir de zéro : citela demo --reset"]
    return "\n".join(lines)
